/* The boot on a disk (diskboot.h). */
#include "diskboot/diskboot.h"
#include "block/disk.h"
#include "diskboot/extfs.h"
#include "diskboot/fsprobe.h"
#include "diskboot/grubcfg.h"
#include "diskboot/partitions.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int diskboot_disk_read(void *ctx, uint64_t off, void *buf, size_t len)
{
	struct iovec iov = { buf, len };
	int64_t n = disk_sync(ctx, RAW_READ, off, &iov, 1);
	return n < 0 ? (int)n : (size_t)n == len ? 0 : -EIO;
}

/* A search over the disk's partitions, each probed and opened once. */
struct db_part {
	bool probed;
	struct fs_id id;
	struct extfs *fs;
	int open_err;            /* extfs_open's, once tried */
	char why[256];
};

struct db_search {
	const struct dsrc *disk;
	size_t kernel_max, initrd_max;   /* DISKBOOT_*_MAX, or the guest's memory when less */
	struct dpart_list parts;
	struct db_part p[DISKBOOT_MAX_PARTS];
};

static struct db_part *part_state(struct db_search *s, int num, const struct dpart **dp)
{
	for (unsigned i = 0; i < s->parts.n; i++) {
		if ((int)s->parts.p[i].num != num)
			continue;
		struct db_part *p = &s->p[i];
		struct dsrc src = dsrc_sub(s->disk, s->parts.p[i].start, s->parts.p[i].size);
		if (!p->probed) {
			p->probed = true;
			int r = fs_probe(&src, &p->id);
			if (r < 0)
				snprintf(p->why, sizeof(p->why), "cannot read it: %s", strerror(-r));
		}
		if (p->id.ext && !p->fs && !p->open_err)
			p->open_err = extfs_open(&src, &p->fs, p->why, sizeof(p->why));
		if (dp)
			*dp = &s->parts.p[i];
		return p;
	}
	return NULL;
}

static int search_cb(void *ctx, enum grub_search kind, const char *what)
{
	struct db_search *s = ctx;
	for (unsigned i = 0; i < s->parts.n; i++) {
		struct db_part *p = part_state(s, (int)s->parts.p[i].num, NULL);
		bool hit = kind == GRUB_SEARCH_UUID ? p->id.uuid[0] && !strcasecmp(p->id.uuid, what)
			   : kind == GRUB_SEARCH_LABEL ? p->id.label[0] && !strcmp(p->id.label, what)
			   : p->fs && extfs_exists(p->fs, what) == 1;
		if (hit)
			return (int)s->parts.p[i].num;
	}
	return -1;
}

static int exists_cb(void *ctx, int part, const char *path)
{
	struct db_part *p = part_state(ctx, part, NULL);
	return p && p->fs ? extfs_exists(p->fs, path) == 1 : 0;
}

static int read_file(struct db_search *s, int part, const char *path, size_t max, uint8_t **buf, size_t *len,
		     char *err, size_t errlen)
{
	struct db_part *p = part_state(s, part, NULL);
	if (!p)
		return error_set(err, errlen, -EINVAL, "%s: no partition %d on the disk", path, part);
	if (!p->fs)
		return error_set(err, errlen, -EINVAL, "%s: partition %d (%s) is not one petrel reads%s%s", path, part,
				 p->id.kind ? p->id.kind : "unknown file system", p->why[0] ? ": " : "", p->why);
	return extfs_read(p->fs, path, max, buf, len, err, errlen);
}

/* Each initrd, 4-byte aligned one after the other (as GRUB loads them), at most initrd_max. */
static int read_initrds(struct db_search *s, const struct grub_boot *g, struct diskboot *out, char *err,
			size_t errlen)
{
	for (unsigned i = 0; i < g->ninitrd; i++) {
		uint8_t *b;
		size_t len, at = (out->initrd_len + 3) & ~(size_t)3;
		int r = read_file(s, g->initrd[i].part, g->initrd[i].path, s->initrd_max - MIN(at, s->initrd_max),
				  &b, &len, err, errlen);
		if (r < 0)
			return r;
		if (!out->initrd) { /* the first (and mostly the only one): no copy */
			out->initrd = b;
			out->initrd_len = len;
			continue;
		}
		uint8_t *all = realloc(out->initrd, at + len + 1);
		if (!all) {
			free(b);
			return error_oom(err, errlen);
		}
		memset(all + out->initrd_len, 0, at - out->initrd_len);
		memcpy(all + at, b, len);
		free(b);
		out->initrd = all;
		out->initrd_len = at + len;
	}
	return 0;
}

static void describe(struct diskboot *out, const struct db_search *s, int part, const char *kernel,
		     const struct grub_boot *g, const char *initrd, const char *entry)
{
	const struct db_part *p = NULL;
	for (unsigned i = 0; i < s->parts.n; i++)
		if ((int)s->parts.p[i].num == part)
			p = &s->p[i];
	char initrds[512] = "";
	size_t n = 0;
	for (unsigned i = 0; g && i < g->ninitrd && n < sizeof(initrds); i++)
		n += (size_t)snprintf(initrds + n, sizeof(initrds) - n, " %s", g->initrd[i].path);
	if (initrd)
		snprintf(initrds, sizeof(initrds), " %s", initrd);
	snprintf(out->what, sizeof(out->what), "partition %d (%s): %s%s%s entry '%s'", part,
		 p && p->id.kind ? p->id.kind : "?", kernel, initrds[0] ? " initrd" : "", initrds, entry);
}

/* grub.cfg at path on partition num: 1 booted (out filled), 0 none there, or -errno. */
static int try_grub(struct db_search *s, int num, const char *prefix, struct diskboot *out, char *err, size_t errlen)
{
	struct db_part *p = part_state(s, num, NULL);
	char path[64];
	_cleanup_free_ uint8_t *cfg = NULL, *env = NULL;
	size_t len, envlen = 0;
	snprintf(path, sizeof(path), "%s/grub.cfg", prefix);
	int r = extfs_read(p->fs, path, GRUBCFG_MAX_BYTES, &cfg, &len, err, errlen);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/grubenv", prefix);
	char why[128];
	if (extfs_read(p->fs, path, GRUBCFG_MAX_BYTES, &env, &envlen, why, sizeof(why)) < 0)
		env = NULL;
	struct grub_disk gd = { .table = s->parts.table == PART_NONE ? NULL : part_table_name(s->parts.table),
				.cfg_part = num, .prefix = prefix, .grubenv = (const char *)env, .grubenv_len = envlen,
				.search = search_cb, .exists = exists_cb, .ctx = s };
	struct grub_boot g;
	if ((r = grubcfg_pick((const char *)cfg, len, &gd, &g, err, errlen)) < 0)
		return r;
	r = read_file(s, g.kernel.part, g.kernel.path, s->kernel_max, &out->kernel, &out->kernel_len, err, errlen);
	if (!r)
		r = read_initrds(s, &g, out, err, errlen);
	if (!r && !(out->cmdline = strdup(g.args)))
		r = error_oom(err, errlen);
	if (!r)
		describe(out, s, g.kernel.part, g.kernel.path, &g, NULL, g.title);
	grub_boot_free(&g);
	return r < 0 ? r : 1;
}

/* Debian's /vmlinuz and /initrd.img links (or those in /boot): 1, 0 or -errno. */
static int try_links(struct db_search *s, int num, struct diskboot *out, char *err, size_t errlen)
{
	static const char *const pairs[][2] = { { "/vmlinuz", "/initrd.img" }, { "/boot/vmlinuz", "/boot/initrd.img" } };
	const struct dpart *dp;
	struct db_part *p = part_state(s, num, &dp);
	for (unsigned i = 0; i < ARRAY_SIZE(pairs); i++) {
		int r = extfs_read(p->fs, pairs[i][0], s->kernel_max, &out->kernel, &out->kernel_len, err, errlen);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		bool initrd = extfs_exists(p->fs, pairs[i][1]) == 1;
		if (initrd && (r = extfs_read(p->fs, pairs[i][1], s->initrd_max, &out->initrd, &out->initrd_len, err,
					      errlen)) < 0)
			return r;
		/* the kernel finds a partition by its PARTUUID itself; a bare file system by its UUID
		 * needs the initrd's udev */
		char uuid[40];
		part_uuid(&s->parts, dp, uuid);
		if (asprintf(&out->cmdline, "root=%s=%s ro console=ttyS0", uuid[0] ? "PARTUUID" : "UUID",
			     uuid[0] ? uuid : p->id.uuid) < 0) {
			out->cmdline = NULL;
			return error_oom(err, errlen);
		}
		describe(out, s, num, pairs[i][0], NULL, initrd ? pairs[i][1] : NULL, "(no grub.cfg)");
		return 1;
	}
	return 0;
}

int diskboot_find(const struct dsrc *disk, uint64_t mem_max, struct diskboot *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	struct db_search *s = calloc(1, sizeof(*s));
	if (!s)
		return error_oom(err, errlen);
	s->disk = disk;
	s->kernel_max = mem_max ? (size_t)MIN(mem_max, DISKBOOT_KERNEL_MAX) : DISKBOOT_KERNEL_MAX;
	s->initrd_max = mem_max ? (size_t)MIN(mem_max, DISKBOOT_INITRD_MAX) : DISKBOOT_INITRD_MAX;
	int r = partitions_read(disk, &s->parts, err, errlen);
	char why[1024] = "";
	size_t n = 0;
	for (unsigned i = 0; r == 0 && i < s->parts.n; i++) {
		int num = (int)s->parts.p[i].num;
		struct db_part *p = part_state(s, num, NULL);
		if (p->fs) {
			r = try_grub(s, num, "/boot/grub", out, err, errlen);
			r = r ? r : try_grub(s, num, "/grub", out, err, errlen);
			r = r ? r : try_links(s, num, out, err, errlen);
			if (r < 0) {
				char inner[512];
				snprintf(inner, sizeof(inner), "%s", err);
				r = error_set(err, errlen, r, "partition %d (%s): %s", num, p->id.kind, inner);
			}
			if (r)
				break;
			snprintf(p->why, sizeof(p->why), "no /boot/grub/grub.cfg, /grub/grub.cfg, /vmlinuz or /boot/vmlinuz");
		} else if (!p->why[0]) {
			snprintf(p->why, sizeof(p->why), "%s", p->id.kind ? "not a file system petrel reads (ext2/3/4)"
									: "no file system petrel knows");
		}
		if (n < sizeof(why))
			n += (size_t)snprintf(why + n, sizeof(why) - n, "%spartition %d (%s): %s", n ? "; " : "", num,
					      p->id.kind ? p->id.kind : "unknown", p->why);
	}
	if (r == 0)
		r = error_set(err, errlen, -ENOENT, "no boot found on the disk (%s table): %s",
			      part_table_name(s->parts.table), s->parts.n ? why : "no partitions");
	for (unsigned i = 0; i < s->parts.n; i++)
		extfs_close(s->p[i].fs);
	free(s);
	if (r < 0)
		diskboot_free(out);
	return r < 0 ? r : 0;
}

void diskboot_free(struct diskboot *b)
{
	free(b->kernel);
	free(b->initrd);
	free(b->cmdline);
	memset(b, 0, sizeof(*b));
}
