/* fw_cfg's items, its selector, data and DMA-address ports, and its saved state. The DMA
 * transfers are fw_cfg_dma.c's. */
#include "devices/legacy/fw_cfg.h"
#include "devices/dev_state.h"
#include "devices/legacy/fw_cfg_int.h"
#include "util/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- items ---- */

static bool key_is_file(uint16_t key)
{
	return !(key & FW_CFG_ARCH_LOCAL) && key >= FW_CFG_FILE_FIRST;
}

struct fw_cfg_item *fw_cfg_item(struct fw_cfg *c, uint16_t key)
{
	if (key & FW_CFG_WRITE_CHANNEL)
		return NULL; /* FW_CFG_INVALID among them */
	if (key_is_file(key))
		return (unsigned)(key - FW_CFG_FILE_FIRST) < c->nfiles ? &c->files[key - FW_CFG_FILE_FIRST] : NULL;
	for (unsigned i = 0; i < c->nkeys; i++)
		if (c->keys[i].key == key)
			return &c->keys[i];
	return NULL;
}

/* A copy of len bytes (NULL for none). 0 or -ENOMEM. */
static int copy_bytes(const void *data, uint32_t len, uint8_t **out)
{
	*out = NULL;
	if (!len)
		return 0;
	if (!(*out = malloc(len)))
		return -ENOMEM;
	memcpy(*out, data, len);
	return 0;
}

/* FW_CFG_FILE_DIR's bytes from the files (sorted already). Lock held. */
static void rebuild_dir(struct fw_cfg *c)
{
	struct fw_cfg_item *dir = fw_cfg_item(c, FW_CFG_FILE_DIR);
	memset(c->dir, 0, sizeof(c->dir));
	fw_cfg_be_store(c->dir, c->nfiles, 4);
	for (unsigned i = 0; i < c->nfiles; i++) {
		uint8_t *e = c->dir + 4 + (size_t)i * FW_CFG_DIR_ENTRY;
		fw_cfg_be_store(e, c->files[i].len, 4);
		fw_cfg_be_store(e + 4, c->files[i].key, 2);
		memcpy(e + 8, c->files[i].name, FW_CFG_NAME_MAX); /* NUL-padded */
	}
	dir->len = 4 + c->nfiles * FW_CFG_DIR_ENTRY;
}

static int add_item_locked(struct fw_cfg *c, uint16_t key, const void *data, uint32_t len)
{
	if ((key & FW_CFG_WRITE_CHANNEL) || key_is_file(key))
		return -EINVAL;
	if (fw_cfg_item(c, key))
		return -EEXIST;
	if (c->nkeys == FW_CFG_MAX_KEYS)
		return -ENOSPC;
	struct fw_cfg_item *it = &c->keys[c->nkeys];
	memset(it, 0, sizeof(*it));
	it->key = key;
	it->len = len;
	if (key == FW_CFG_FILE_DIR)
		it->data = c->dir; /* rebuild_dir fills it */
	else if (copy_bytes(data, len, &it->data) < 0)
		return -ENOMEM;
	c->nkeys++;
	return 0;
}

int fw_cfg_add_key(struct fw_cfg *c, uint16_t key, const void *data, uint32_t len)
{
	pthread_mutex_lock(&c->lock);
	int r = add_item_locked(c, key, data, len);
	pthread_mutex_unlock(&c->lock);
	return r;
}

int fw_cfg_init(struct fw_cfg *c, struct guest_mem *mem)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->mem = mem;
	const uint8_t id[4] = { FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA, 0, 0, 0 }; /* le32 */
	int r = add_item_locked(c, FW_CFG_SIGNATURE, "QEMU", 4);
	r = r ?: add_item_locked(c, FW_CFG_ID, id, sizeof(id));
	r = r ?: add_item_locked(c, FW_CFG_FILE_DIR, NULL, 0);
	if (r < 0) {
		fw_cfg_destroy(c);
		return r;
	}
	rebuild_dir(c);
	return 0;
}

void fw_cfg_destroy(struct fw_cfg *c)
{
	for (unsigned i = 0; i < c->nkeys; i++)
		if (c->keys[i].data != c->dir)
			free(c->keys[i].data);
	for (unsigned i = 0; i < c->nfiles; i++)
		free(c->files[i].data);
	c->nkeys = c->nfiles = 0;
	pthread_mutex_destroy(&c->lock);
}

int fw_cfg_add_file(struct fw_cfg *c, const char *name, const void *data, uint32_t len)
{
	size_t n = strlen(name);
	if (!n)
		return -EINVAL;
	if (n >= FW_CFG_NAME_MAX)
		return -ENAMETOOLONG;
	uint8_t *copy;
	if (copy_bytes(data, len, &copy) < 0)
		return -ENOMEM;
	pthread_mutex_lock(&c->lock);
	unsigned pos = 0;
	int cmp = 1;
	while (pos < c->nfiles && (cmp = strcmp(c->files[pos].name, name)) < 0)
		pos++;
	int r = 0;
	if (pos < c->nfiles && cmp == 0)
		r = -EEXIST;
	else if (c->nfiles == FW_CFG_MAX_FILES)
		r = -ENOSPC;
	if (r < 0) {
		pthread_mutex_unlock(&c->lock);
		free(copy);
		return r;
	}
	memmove(&c->files[pos + 1], &c->files[pos], (c->nfiles - pos) * sizeof(c->files[0]));
	c->files[pos] = (struct fw_cfg_item){ .data = copy, .len = len };
	memcpy(c->files[pos].name, name, n + 1);
	c->nfiles++;
	for (unsigned i = pos; i < c->nfiles; i++)
		c->files[i].key = (uint16_t)(FW_CFG_FILE_FIRST + i);
	/* the file the guest has selected keeps being the one it reads */
	if (key_is_file(c->st.sel) && c->st.sel >= FW_CFG_FILE_FIRST + pos)
		c->st.sel++;
	rebuild_dir(c);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int fw_cfg_set_file(struct fw_cfg *c, const char *name, const void *data, uint32_t len)
{
	uint8_t *copy;
	if (copy_bytes(data, len, &copy) < 0)
		return -ENOMEM;
	pthread_mutex_lock(&c->lock);
	struct fw_cfg_item *it = NULL;
	for (unsigned i = 0; i < c->nfiles && !it; i++)
		if (strcmp(c->files[i].name, name) == 0)
			it = &c->files[i];
	if (!it) {
		pthread_mutex_unlock(&c->lock);
		free(copy);
		return -ENOENT;
	}
	free(it->data);
	it->data = copy;
	it->len = len;
	if (c->st.sel == it->key && c->st.off > len)
		c->st.off = len;
	rebuild_dir(c);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

void fw_cfg_set_select_hook(struct fw_cfg *c, void (*hook)(void *opaque, uint16_t key, const char *name),
			    void *opaque)
{
	pthread_mutex_lock(&c->lock);
	c->hook = hook;
	c->hook_opaque = opaque;
	pthread_mutex_unlock(&c->lock);
}

/* ---- the ports ---- */

void fw_cfg_select(struct fw_cfg *c, uint16_t key)
{
	key &= (uint16_t)~FW_CFG_WRITE_CHANNEL;
	char name[FW_CFG_NAME_MAX];
	pthread_mutex_lock(&c->lock);
	struct fw_cfg_item *it = fw_cfg_item(c, key);
	c->st.sel = it ? key : FW_CFG_INVALID;
	c->st.off = 0;
	if (it)
		memcpy(name, it->name, sizeof(name));
	void (*hook)(void *, uint16_t, const char *) = c->hook;
	void *opaque = c->hook_opaque;
	pthread_mutex_unlock(&c->lock);
	if (it && hook)
		hook(opaque, key, name[0] ? name : NULL);
}

static uint8_t data_byte(struct fw_cfg *c)
{
	uint8_t b = 0;
	pthread_mutex_lock(&c->lock);
	struct fw_cfg_item *it = fw_cfg_item(c, c->st.sel);
	if (it && c->st.off < it->len)
		b = it->data[c->st.off++];
	pthread_mutex_unlock(&c->lock);
	return b;
}

void fw_cfg_io_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct fw_cfg *c = opaque;
	static const char sig[] = FW_CFG_DMA_SIGNATURE;
	if (len == 1 && off <= 1) /* the data port (the selector's byte reads it too, as QEMU) */
		data[0] = data_byte(c);
	else if (off >= 4 && off + len <= FW_CFG_PORT_LEN)
		memcpy(data, sig + (off - 4), len);
	else /* a wide read of the data port, the unused ports, an access past the end */
		memset(data, 0xff, len);
}

void fw_cfg_io_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct fw_cfg *c = opaque;
	if (off == 0 && len == 2) {
		fw_cfg_select(c, (uint16_t)(data[0] | data[1] << 8));
	} else if (off == 4 && len == 4) {
		pthread_mutex_lock(&c->lock);
		c->st.dma_high = (uint32_t)fw_cfg_be_load(data, 4);
		pthread_mutex_unlock(&c->lock);
	} else if (off == 8 && len == 4) {
		fw_cfg_dma_start(c, (uint32_t)fw_cfg_be_load(data, 4));
	}
	/* anything else (data-port writes, other widths, overlapping accesses): ignored */
}

void fw_cfg_reset(struct fw_cfg *c)
{
	pthread_mutex_lock(&c->lock);
	c->st = (struct fw_cfg_state){ .sel = FW_CFG_SIGNATURE };
	pthread_mutex_unlock(&c->lock);
}

/* ---- saved state (section FWCF, docs/snapshots.md) ---- */

static void fw_cfg_save_state(void *dev, struct enc *e)
{
	struct fw_cfg *c = dev;
	pthread_mutex_lock(&c->lock);
	struct fw_cfg_state st = c->st;
	pthread_mutex_unlock(&c->lock);
	put_u16(e, st.sel);
	put_u32(e, st.off);
	put_u32(e, st.dma_high);
}

static int fw_cfg_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	struct fw_cfg *c = dev;
	struct fw_cfg_state st;
	st.sel = get_u16(d);
	st.off = get_u32(d);
	st.dma_high = get_u32(d);
	int r = dec_end(d, "fw_cfg", err, errlen);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	struct fw_cfg_item *it = fw_cfg_item(c, st.sel);
	if (!it && st.sel != FW_CFG_INVALID)
		r = error_set(err, errlen, -EINVAL, "fw_cfg: selector 0x%x names no item of this machine", st.sel);
	else if (st.off > (it ? it->len : 0))
		r = error_set(err, errlen, -EINVAL, "fw_cfg: read offset %u is past item 0x%x's %u bytes", st.off,
			      st.sel, it ? it->len : 0);
	else
		c->st = st;
	pthread_mutex_unlock(&c->lock);
	return r;
}

const struct dev_state_ops fw_cfg_state_ops = {
	.id = STATE_ID('F', 'W', 'C', 'F'), .version = 1,
	.save = fw_cfg_save_state, .load = fw_cfg_load_state,
};
