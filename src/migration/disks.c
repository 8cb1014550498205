/* migrate_disks: the disks go with the VM, so the hosts need no shared storage. The source
 * marks what the guest writes (block/dirty.h) from the start, sends each drive's size and its
 * data extents while the guest runs, then the chunks written meanwhile with each pre-copy
 * round and, with the guest paused, the last ones. The destination writes them into its own
 * images (drive_overrides names them; they must not be the source's files). */
#include "migration/disks.h"
#include "block/dirty.h"
#include "devices/virtio/blk/blk.h"
#include "migration/wire.h"
#include "util/bitmap.h"
#include "util/error.h"
#include "vm/vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Drive index i is the VM's i-th virtio-blk device (vm_blk: configuration order). */
_Static_assert(DEVICES_MAX_DRIVES <= 32, "the receivers' disks_sized has a bit per drive");

void mig_disks_defer_locks(struct vm_config *cfg)
{
	for (unsigned i = 0; i < cfg->ndrives; i++)
		cfg->drives[i].defer_lock = true;
}

void mig_disks_unlock(struct vm *vm)
{
	struct virtio_blk *b;
	for (uint32_t i = 0; (b = vm_blk(vm, i)); i++)
		virtio_blk_handover(b);
}

void mig_disks_sync_ahead(struct vm *vm)
{
	struct virtio_blk *b;
	for (uint32_t i = 0; (b = vm_blk(vm, i)); i++)
		virtio_blk_sync_ahead(b);
}

/* The other side allocated clusters in a qcow2 image (tables, refcounts) since this side
 * opened it: open it again now that its lock is ours. */
static int reopen(struct vm *vm, char *err, size_t errlen)
{
	struct virtio_blk *b;
	for (uint32_t i = 0; (b = vm_blk(vm, i)); i++) {
		int e = virtio_blk_reopen(b);
		if (e < 0)
			return error_set(err, errlen, e, "%s: cannot open %s again: %s", virtio_blk_name(b), virtio_blk_path(b),
				 strerror(-e));
	}
	return 0;
}

/* Every drive's lock, or none (-EBUSY naming the first one held elsewhere). */
static int lock_all(struct vm *vm, char *err, size_t errlen)
{
	struct virtio_blk *b;
	for (uint32_t i = 0; (b = vm_blk(vm, i)); i++) {
		if (virtio_blk_lock(b) == 0)
			continue;
		int e = error_set(err, errlen, -EBUSY,
				  "%s: %s is in use by another process (locked): not running the guest beside it",
				  virtio_blk_name(b), virtio_blk_path(b));
		while (i--)
			virtio_blk_unlock(vm_blk(vm, i));
		return e;
	}
	return 0;
}

int mig_disks_lock(struct vm *vm, unsigned wait_ms, char *err, size_t errlen)
{
	int e;
	for (unsigned waited = 0; (e = lock_all(vm, err, errlen)) == -EBUSY && waited < wait_ms; waited += 5)
		usleep(5000);
	return e;
}

int mig_disks_take(struct vm *vm, unsigned wait_ms, char *err, size_t errlen)
{
	int e = mig_disks_lock(vm, wait_ms, err, errlen);
	return e < 0 ? e : reopen(vm, err, errlen);
}

static uint8_t *chunk_buffer(void)
{
	void *p = NULL;
	return posix_memalign(&p, 4096, MIG_MAX_DISK_RUN) == 0 ? p : NULL; /* O_DIRECT files too */
}

static int send_range(int fd, struct virtio_blk *b, uint32_t idx, uint64_t off, uint64_t len, uint8_t *buf,
		      uint64_t *sent)
{
	while (len) {
		uint64_t n = len < MIG_MAX_DISK_RUN ? len : MIG_MAX_DISK_RUN;
		int e = virtio_blk_read(b, off, buf, n);
		if (e < 0)
			return e;
		struct mig_disk d = { .drive = idx, .offset = off, .len = n };
		if ((e = mig_send(fd, MIG_DISK, &d, sizeof(d), buf, n)) < 0)
			return e;
		*sent += n;
		off += n;
		len -= n;
	}
	return 0;
}

int mig_disks_start(struct vm *vm, int fd, uint64_t *sent, char *err, size_t errlen)
{
	uint8_t *buf = chunk_buffer();
	int e = buf ? 0 : -ENOMEM;
	struct virtio_blk *b;
	for (uint32_t i = 0; !e && (b = vm_blk(vm, i)); i++) {
		uint64_t size = virtio_blk_size(b);
		/* from now on: what the guest writes comes round again */
		if ((e = virtio_blk_track_writes(b, true)) < 0)
			break;
		struct mig_disk d = { .drive = i, .flags = MIG_DISK_SIZE, .offset = size };
		virtio_blk_file_id(b, &d.dev, &d.ino);
		if ((e = mig_send(fd, MIG_DISK, &d, sizeof(d), NULL, 0)) < 0)
			break;
		/* The data extents only: holes stay holes (zero) over there. */
		for (uint64_t pos = 0; !e && pos < size;) {
			uint64_t len = size - pos;
			bool data;
			if ((e = virtio_blk_extent(b, pos, &len, &data)) < 0)
				break;
			if (data)
				e = send_range(fd, b, i, pos, len, buf, sent);
			pos += len;
		}
	}
	free(buf);
	if (e)
		e = error_set(err, errlen, e, "copying the disks: %s", strerror(-e));
	return e;
}

int mig_disks_send_dirty(struct vm *vm, int fd, uint64_t *sent, char *err, size_t errlen)
{
	struct disk_stage st = { 0 };
	int e = mig_disks_stage(vm, &st);
	if (!e)
		e = mig_disks_send_stage(fd, &st, sent);
	mig_disks_stage_free(&st);
	if (e)
		e = error_set(err, errlen, e, "copying the disks' changes: %s", strerror(-e));
	return e;
}

void mig_disks_stop(struct vm *vm)
{
	struct virtio_blk *b;
	for (uint32_t i = 0; (b = vm_blk(vm, i)); i++)
		virtio_blk_track_writes(b, false);
}

/* A MIG_DISK message's header: checked against the drives; the drive, or NULL with why.
 * sized: the drives whose size message came (bit i: drive i). */
static struct virtio_blk *check_msg(struct vm *vm, const struct mig_hdr *h, const struct mig_disk *d, uint32_t sized,
				    char *err, size_t errlen)
{
	struct virtio_blk *b = vm_blk(vm, d->drive);
	bool size_only = d->flags & MIG_DISK_SIZE;
	if (!b || (d->flags & ~MIG_DISK_SIZE) || h->len != sizeof(*d) + (size_only ? 0 : d->len) ||
	    (size_only && d->len) || d->len > MIG_MAX_DISK_RUN || (!size_only && d->offset + d->len < d->offset)) {
		error_set(err, errlen, -EINVAL, "malformed migration stream: disk message for drive %u", d->drive);
		return NULL;
	}
	/* The size message comes first (resize(): the image is not the source's own, and is
	 * writable); without it the image may be the very file the source's guest runs on. */
	if (!size_only && !(sized >> d->drive & 1)) {
		error_set(err, errlen, -EINVAL, "malformed migration stream: data for %s before its size", virtio_blk_name(b));
		return NULL;
	}
	if (!size_only && d->offset + d->len > virtio_blk_image_size(b)) {
		error_set(err, errlen, -EINVAL, "malformed migration stream: disk data past the drive's end");
		return NULL;
	}
	return b;
}

static int resize(struct virtio_blk *b, const struct mig_disk *d, char *err, size_t errlen)
{
	uint64_t dev, ino;
	if (virtio_blk_file_id(b, &dev, &ino) && dev == d->dev && ino == d->ino)
		return error_set(err, errlen, -EINVAL, "%s: the destination's image is the source's own file: give the destination "
			 "an image of its own (drive_overrides)", virtio_blk_name(b));
	return virtio_blk_resize_empty(b, d->offset, err, errlen);
}

static int write_at(struct virtio_blk *b, uint64_t off, uint8_t *data, uint64_t len, char *err, size_t errlen)
{
	if (virtio_blk_write(b, off, data, len) < 0)
		return error_set(err, errlen, -EIO, "%s: cannot write the image", virtio_blk_name(b));
	return 0;
}

int mig_disks_receive(struct vm *vm, int fd, const struct mig_hdr *h, uint32_t *sized, uint64_t *received, char *err,
		      size_t errlen)
{
	struct mig_disk d;
	if (h->len < sizeof(d) || mig_recv_all(fd, &d, sizeof(d), 60000) < 0)
		return error_set(err, errlen, -EPROTO, "malformed migration stream: short disk message");
	struct virtio_blk *b = check_msg(vm, h, &d, *sized, err, errlen);
	if (!b)
		return -EPROTO;
	if (d.flags & MIG_DISK_SIZE) {
		int e = resize(b, &d, err, errlen);
		if (!e)
			*sized |= 1u << d.drive;
		return e;
	}
	uint8_t *buf = chunk_buffer();
	if (!buf)
		return -ENOMEM;
	int e = mig_recv_all(fd, buf, d.len, 60000);
	if (!e)
		e = write_at(b, d.offset, buf, d.len, err, errlen);
	free(buf);
	if (!e)
		*received += d.len;
	return e;
}

/* ---- replication: a checkpoint's disk changes, staged on both sides ---- */

static int stage_add(struct disk_stage *s, uint32_t drive_idx, uint64_t off, uint64_t len)
{
	if (s->n == s->ncap) {
		size_t cap = s->ncap ? s->ncap * 2 : 64;
		struct disk_chunk *c = realloc(s->c, cap * sizeof(*c));
		if (!c)
			return -ENOMEM;
		s->c = c;
		s->ncap = cap;
	}
	if (s->len + len > s->cap) {
		size_t cap = s->cap ? s->cap : MIG_MAX_DISK_RUN;
		while (cap < s->len + len)
			cap *= 2;
		void *p = NULL;
		if (posix_memalign(&p, 4096, cap))
			return -ENOMEM;
		if (s->len)
			memcpy(p, s->data, s->len);
		free(s->data);
		s->data = p;
		s->cap = cap;
	}
	s->c[s->n++] = (struct disk_chunk){ drive_idx, off, len, s->len };
	s->len += len;
	return 0;
}

void mig_disks_stage_reset(struct disk_stage *s)
{
	s->n = 0;
	s->len = 0;
}

void mig_disks_stage_free(struct disk_stage *s)
{
	free(s->data);
	free(s->c);
	memset(s, 0, sizeof(*s));
}

int mig_disks_stage(struct vm *vm, struct disk_stage *s)
{
	mig_disks_stage_reset(s);
	struct virtio_blk *b;
	int e = 0;
	for (uint32_t i = 0; !e && (b = vm_blk(vm, i)); i++) {
		uint64_t *bits, nchunks, size = virtio_blk_size(b);
		if ((e = virtio_blk_take_written(b, &bits, &nchunks)) < 0)
			return e;
		for (uint64_t c = 0; !e && c < nchunks; c++) {
			if (!bitmap_test(bits, c))
				continue;
			uint64_t off = c * BLK_DIRTY_CHUNK, len = off + BLK_DIRTY_CHUNK > size ? size - off : BLK_DIRTY_CHUNK;
			if ((e = stage_add(s, i, off, len)) < 0)
				break;
			if (virtio_blk_read(b, off, s->data + s->c[s->n - 1].at, len) < 0)
				e = -EIO;
		}
		free(bits);
	}
	return e;
}

int mig_disks_send_stage(int fd, const struct disk_stage *s, uint64_t *sent)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct disk_chunk *c = &s->c[i];
		struct mig_disk d = { .drive = c->drive, .offset = c->off, .len = c->len };
		int e = mig_send(fd, MIG_DISK, &d, sizeof(d), s->data + c->at, c->len);
		if (e < 0)
			return e;
		*sent += c->len;
	}
	return 0;
}

/* What a checkpoint can change: every drive once (the primary stages each changed chunk once). */
static uint64_t drives_size(struct vm *vm)
{
	uint64_t n = 0;
	struct virtio_blk *b;
	for (uint32_t i = 0; (b = vm_blk(vm, i)); i++)
		n += virtio_blk_image_size(b);
	return n;
}

int mig_disks_receive_staged(struct vm *vm, int fd, const struct mig_hdr *h, uint32_t sized, struct disk_stage *s,
			     int timeout_ms, char *err, size_t errlen)
{
	struct mig_disk d;
	if (h->len < sizeof(d))
		return error_set(err, errlen, -EPROTO, "malformed replication stream: short disk message");
	int r = mig_recv_all(fd, &d, sizeof(d), timeout_ms);
	if (r < 0) { /* cut off: the sender died (the standby takes over) */
		return error_set(err, errlen, mig_cut_off(r), "the primary went away in the middle of a checkpoint");
	}
	if (!check_msg(vm, h, &d, sized, err, errlen) || (d.flags & MIG_DISK_SIZE)) {
		if (!err[0])
			error_set(err, errlen, -EPROTO, "malformed replication stream: a disk resize inside a checkpoint");
		return -EPROTO;
	}
	if (s->len + d.len > drives_size(vm))
		return error_set(err, errlen, -EPROTO, "malformed replication stream: a checkpoint's disk data exceeds its drives");
	int e = stage_add(s, d.drive, d.offset, d.len);
	if (!e && (r = mig_recv_all(fd, s->data + s->c[s->n - 1].at, d.len, timeout_ms)) < 0)
		e = error_set(err, errlen, mig_cut_off(r), "the primary went away in the middle of a checkpoint");
	return e;
}

int mig_disks_apply(struct vm *vm, const struct disk_stage *s, char *err, size_t errlen)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct disk_chunk *c = &s->c[i];
		int e = write_at(vm_blk(vm, c->drive), c->off, s->data + c->at, c->len, err, errlen);
		if (e < 0)
			return e;
	}
	return 0;
}
