/* The table loader's commands (fw_loader.h): the builders petrel's tables use, and the
 * interpreter that runs them as a firmware does (SeaBIOS's romfile_loader.c is the behaviour
 * followed: the same fields, the same arithmetic), with every field checked. */
#include "arch/x86/fw_loader.h"
#include "util/codec.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>

/* Offsets in a command. */
#define CMD_NAME1 4                                  /* file, dst_file */
#define CMD_NAME2 (CMD_NAME1 + FW_LOADER_NAME_LEN)     /* src_file */
#define CMD_ALLOC_ALIGN CMD_NAME2                     /* after file */
#define CMD_ALLOC_ZONE (CMD_ALLOC_ALIGN + 4)
#define CMD_PTR_OFFSET (CMD_NAME2 + FW_LOADER_NAME_LEN) /* after src_file */
#define CMD_PTR_SIZE (CMD_PTR_OFFSET + 4)
#define CMD_CKSUM_OFFSET CMD_NAME2                    /* after file */
#define CMD_CKSUM_START (CMD_CKSUM_OFFSET + 4)
#define CMD_CKSUM_LEN (CMD_CKSUM_START + 4)

uint8_t fw_byte_sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;
	for (size_t i = 0; i < len; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

static bool power_of_two(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* A new zeroed command with its code and first name; NULL on failure (*r says why). */
static uint8_t *append(struct fw_loader *l, uint32_t command, const char *name, int *r)
{
	if (strlen(name) >= FW_LOADER_NAME_LEN) {
		*r = -ENAMETOOLONG;
		return NULL;
	}
	uint8_t *p = realloc(l->cmds, l->len + FW_LOADER_CMD_LEN);
	if (!p) {
		*r = -ENOMEM;
		return NULL;
	}
	l->cmds = p;
	uint8_t *c = p + l->len;
	l->len += FW_LOADER_CMD_LEN;
	memset(c, 0, FW_LOADER_CMD_LEN);
	le_store(c, command, 4);
	memcpy(c + CMD_NAME1, name, strlen(name));
	*r = 0;
	return c;
}

int fw_loader_allocate(struct fw_loader *l, const char *file, uint32_t align, bool fseg)
{
	if (!power_of_two(align))
		return -EINVAL;
	int r;
	uint8_t *c = append(l, FW_LOADER_ALLOCATE, file, &r);
	if (!c)
		return r;
	le_store(c + CMD_ALLOC_ALIGN, align, 4);
	c[CMD_ALLOC_ZONE] = fseg ? FW_LOADER_ZONE_FSEG : FW_LOADER_ZONE_HIGH;
	return 0;
}

int fw_loader_add_pointer(struct fw_loader *l, const char *dst_file, const char *src_file,
			  uint32_t offset, uint8_t size)
{
	if (size != 1 && size != 2 && size != 4 && size != 8)
		return -EINVAL;
	if (strlen(src_file) >= FW_LOADER_NAME_LEN)
		return -ENAMETOOLONG;
	int r;
	uint8_t *c = append(l, FW_LOADER_ADD_POINTER, dst_file, &r);
	if (!c)
		return r;
	memcpy(c + CMD_NAME2, src_file, strlen(src_file));
	le_store(c + CMD_PTR_OFFSET, offset, 4);
	c[CMD_PTR_SIZE] = size;
	return 0;
}

int fw_loader_add_checksum(struct fw_loader *l, const char *file, uint32_t cksum_off,
			   uint32_t start, uint32_t len)
{
	int r;
	uint8_t *c = append(l, FW_LOADER_ADD_CHECKSUM, file, &r);
	if (!c)
		return r;
	le_store(c + CMD_CKSUM_OFFSET, cksum_off, 4);
	le_store(c + CMD_CKSUM_START, start, 4);
	le_store(c + CMD_CKSUM_LEN, len, 4);
	return 0;
}

void fw_loader_free(struct fw_loader *l)
{
	free(l->cmds);
	l->cmds = NULL;
	l->len = 0;
}

/* ---- the interpreter ---- */

struct loader_run {
	struct fw_loader_file *files;
	unsigned nfiles;
	bool *placed;
	size_t n;        /* the command's index, for messages */
	char *err;
	size_t errlen;
};

#define RUN_ERR(r, code, fmt, ...) \
	error_set((r)->err, (r)->errlen, (code), "table-loader command %zu: " fmt, (r)->n, ##__VA_ARGS__)

/* The file a command's name field at c names; with allocated, it must have been ALLOCATEd. */
static int find(struct loader_run *r, const uint8_t *c, const char *what, bool allocated,
		struct fw_loader_file **out)
{
	const char *name = (const char *)c;
	if (!memchr(name, '\0', FW_LOADER_NAME_LEN))
		return RUN_ERR(r, -EINVAL, "%s name is not NUL-terminated within %d bytes", what,
			       FW_LOADER_NAME_LEN);
	for (unsigned i = 0; i < r->nfiles; i++) {
		if (strcmp(r->files[i].name, name) != 0)
			continue;
		if (allocated && !r->placed[i])
			return RUN_ERR(r, -EINVAL, "%s \"%s\" is named before its ALLOCATE", what, name);
		*out = &r->files[i];
		return (int)i;
	}
	return RUN_ERR(r, -EINVAL, "%s \"%s\": no such file", what, name);
}

static int run_allocate(struct loader_run *r, const uint8_t *c, fw_loader_place_fn place, void *opaque)
{
	struct fw_loader_file *f;
	int i = find(r, c + CMD_NAME1, "file", false, &f);
	if (i < 0)
		return i;
	if (r->placed[i])
		return RUN_ERR(r, -EINVAL, "file \"%s\" is allocated twice", f->name);
	uint32_t align = (uint32_t)le_load(c + CMD_ALLOC_ALIGN, 4);
	uint8_t zone = c[CMD_ALLOC_ZONE];
	if (!power_of_two(align))
		return RUN_ERR(r, -EINVAL, "file \"%s\": alignment %u is not a power of two", f->name, align);
	if (zone != FW_LOADER_ZONE_HIGH && zone != FW_LOADER_ZONE_FSEG)
		return RUN_ERR(r, -EINVAL, "file \"%s\": unknown zone %u", f->name, zone);
	if (!f->len || !f->data)
		return RUN_ERR(r, -EINVAL, "file \"%s\" is empty", f->name);
	int e = place(opaque, f, align, zone == FW_LOADER_ZONE_FSEG);
	if (e < 0)
		return RUN_ERR(r, e, "cannot place file \"%s\" (%u bytes, %s): %s", f->name, f->len,
			       zone == FW_LOADER_ZONE_FSEG ? "FSEG" : "HIGH", strerror(-e));
	if (f->addr % align)
		return RUN_ERR(r, -EINVAL, "file \"%s\" placed at 0x%llx, off its alignment %u", f->name,
			       (unsigned long long)f->addr, align);
	if (f->addr + f->len < f->addr)
		return RUN_ERR(r, -EINVAL, "file \"%s\" placed at 0x%llx runs past 2^64", f->name,
			       (unsigned long long)f->addr);
	r->placed[i] = true;
	return 0;
}

static int run_add_pointer(struct loader_run *r, const uint8_t *c)
{
	struct fw_loader_file *dst, *src;
	int e = find(r, c + CMD_NAME1, "destination", true, &dst);
	if (e >= 0)
		e = find(r, c + CMD_NAME2, "source", true, &src);
	if (e < 0)
		return e;
	uint32_t off = (uint32_t)le_load(c + CMD_PTR_OFFSET, 4);
	uint8_t size = c[CMD_PTR_SIZE];
	if (size != 1 && size != 2 && size != 4 && size != 8)
		return RUN_ERR(r, -EINVAL, "pointer size %u is not 1, 2, 4 or 8", size);
	if ((uint64_t)off + size > dst->len)
		return RUN_ERR(r, -EINVAL, "pointer field [%u, %u) is past the end of \"%s\" (%u bytes)",
			       off, off + size, dst->name, dst->len);
	uint64_t v = le_load(dst->data + off, size), sum = v + src->addr;
	if (sum < v || (size < 8 && sum >> (8 * size)))
		return RUN_ERR(r, -EINVAL, "pointer at \"%s\"+%u: 0x%llx + 0x%llx (\"%s\") does not fit in %u bytes",
			       dst->name, off, (unsigned long long)v, (unsigned long long)src->addr, src->name,
			       size);
	le_store(dst->data + off, sum, size);
	return 0;
}

static int run_add_checksum(struct loader_run *r, const uint8_t *c)
{
	struct fw_loader_file *f;
	int e = find(r, c + CMD_NAME1, "file", true, &f);
	if (e < 0)
		return e;
	uint32_t off = (uint32_t)le_load(c + CMD_CKSUM_OFFSET, 4);
	uint32_t start = (uint32_t)le_load(c + CMD_CKSUM_START, 4);
	uint32_t len = (uint32_t)le_load(c + CMD_CKSUM_LEN, 4);
	if (off >= f->len)
		return RUN_ERR(r, -EINVAL, "checksum byte %u is past the end of \"%s\" (%u bytes)", off,
			       f->name, f->len);
	if ((uint64_t)start + len > f->len)
		return RUN_ERR(r, -EINVAL, "checksum range [%u, %llu) is past the end of \"%s\" (%u bytes)",
			       start, (unsigned long long)start + len, f->name, f->len);
	f->data[off] = (uint8_t)(f->data[off] - fw_byte_sum(f->data + start, len));
	return 0;
}

int fw_loader_run(const uint8_t *cmds, size_t len, struct fw_loader_file *files, unsigned nfiles,
		  fw_loader_place_fn place, void *opaque, char *err, size_t errlen)
{
	if (len % FW_LOADER_CMD_LEN)
		return error_set(err, errlen, -EINVAL, "table-loader: %zu bytes is no multiple of %d",
				 len, FW_LOADER_CMD_LEN);
	_cleanup_free_ bool *placed = calloc(nfiles ? nfiles : 1, sizeof(bool));
	if (!placed)
		return error_oom(err, errlen);
	struct loader_run r = { files, nfiles, placed, 0, err, errlen };
	for (size_t off = 0; off < len; off += FW_LOADER_CMD_LEN, r.n++) {
		const uint8_t *c = cmds + off;
		uint32_t command = (uint32_t)le_load(c, 4);
		int e;
		switch (command) {
		case FW_LOADER_ALLOCATE:
			e = run_allocate(&r, c, place, opaque);
			break;
		case FW_LOADER_ADD_POINTER:
			e = run_add_pointer(&r, c);
			break;
		case FW_LOADER_ADD_CHECKSUM:
			e = run_add_checksum(&r, c);
			break;
		case FW_LOADER_WRITE_POINTER:
			e = RUN_ERR(&r, -EINVAL, "WRITE_POINTER: no file is writable");
			break;
		default:
			e = RUN_ERR(&r, -EINVAL, "unknown command %u", command);
		}
		if (e < 0)
			return e;
	}
	return 0;
}
