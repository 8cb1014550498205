/* virtio-blk (virtio 1.x section 5.2) over a disk image (raw or qcow2): read, write, flush, get-id,
 * discard, write-zeroes, read-only. One request queue; requests go to io_uring when the
 * backend is asynchronous and complete on the I/O thread. */
#ifndef PETREL_DEVICES_VIRTIO_BLK_H
#define PETREL_DEVICES_VIRTIO_BLK_H

#include "block/bitmap_store.h"
#include "block/disk.h"
#include "util/rate_limiter.h"
#include "devices/virtio/virtio.h"
#include "devices/virtio/blk/blk_poll.h"

#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_QUEUE_SIZE 256
#define VIRTIO_BLK_CONFIG_LEN 60
#define VIRTIO_BLK_MAX_DISCARD_SECTORS (1u << 22)   /* 2 GiB per segment */
#define VIRTIO_BLK_MAX_DISCARD_SEG 32
#define VIRTIO_BLK_DISCARD_F_UNMAP 1

/* Guest-visible state beyond struct virtio_state: the configuration space is derived from
 * the image (capacity) and the options, so only these need saving. */
struct blk_state {
	uint64_t capacity;            /* 512-byte sectors */
	char id[VIRTIO_BLK_ID_BYTES]; /* GET_ID answer (the drive id) */
	bool read_only;
};

struct blk_req {
	uint16_t head;
	uint8_t type;
	uint8_t *status;              /* host pointer to the status byte */
	uint32_t used_len;            /* bytes written into the chain on success */
	uint64_t expect;              /* bytes the I/O must transfer */
	uint64_t off;                 /* a write's byte offset (dirty tracking marks it again when done) */
	unsigned ndata;
	struct iovec data[VIRTQ_MAX_CHAIN];
	struct blk_req *next_free;
};

struct blk_dirty;

struct virtio_blk {
	struct virtio_dev vdev;
	struct blk_state st;
	struct disk disk;             /* the image (raw or qcow2) */
	struct disk_options opts;     /* how it was opened (a path swap opens the new one alike) */
	bool flush_enabled;           /* Writeback cache: FLUSH offered and done */
	struct blk_req *reqs[VIRTIO_BLK_QUEUE_SIZE]; /* the slots made so far (req_get) */
	unsigned nreqs;
	struct blk_req *free_reqs;    /* slots not in flight */
	unsigned inflight;
	struct blk_poll poll;         /* busy-poll the queue before sleeping (blk_poll.h) */
	struct virtq_chain chain;     /* scratch for popping */
	uint64_t reads, writes, flushes, errors;
	struct blk_dirty *dirty;      /* chunks written (live migration, replication); NULL: never tracked */
	/* The backup bitmap (blk_backup.c): a tracker of its own (migration's takes never clear
	 * it), the persistent bitmap's chain id and staleness, where it is kept. Worker thread
	 * only, but for the tracker's marks (I/O thread). */
	struct blk_dirty *backup;     /* NULL: a read-only drive (never tracked) */
	struct backup_bitmap bmp;     /* .bits unused once merged into the tracker */
	bool bmp_qcow2;               /* kept in the qcow2 image's bitmaps extension, else the sidecar */
	bool bmp_persist;             /* written back at a clean close (not after a handover) */
	bool bmp_host_written;        /* atomic: a disk copy wrote the image (blk_backup_host_write) */
	struct rate_limiter rl;       /* the drive's rate_limiter (unlimited unless configured) */
	/* Completions of one reap (blk_reap), put in the used ring together: one store of the
	 * used index the driver polls, not one a request. */
	struct virtq_used_elem reaped[VIRTIO_BLK_QUEUE_SIZE];
	unsigned nreaped;
};

/* Open the image and set up the device (no transport yet). */
/* What a virtio-blk device is made from (vm/device_params.c fills it from a drive's definition). */
struct virtio_blk_params {
	const char *id;               /* the drive's id: GET_ID answers its first VIRTIO_BLK_ID_BYTES */
	const char *path;             /* the backing file (or block device) */
	enum disk_format format;      /* AUTO: probe */
	bool read_only;
	bool direct;                  /* O_DIRECT */
	bool async;                   /* io_uring, else preadv/pwritev on the I/O thread */
	bool flush;                   /* offer VIRTIO_BLK_F_FLUSH (cache_type Writeback) */
	bool no_lock;                 /* do not lock the image yet (a migration's destination) */
	uint32_t poll_us;             /* busy-poll the queue this long before sleeping (0: adaptive) */
	struct rate_limiter_config rate_limiter;
};

int virtio_blk_create(struct virtio_blk *b, const struct virtio_blk_params *cfg, unsigned index,
		      const struct guest_mem *mem, struct io_thread *io);

/* Replace the backing file of a running drive (PATCH /drives/{id} path_on_host): requests in
 * flight finish on the old file, later ones go to the new one, and the guest gets a
 * configuration-change interrupt for the new capacity. 0 or -errno (the old file stays). */
int virtio_blk_swap_file(struct virtio_blk *b, const char *path);
/* Open a qcow2 drive's image again (the same path) and read its tables anew, keeping its
 * lock (raw: nothing to do): a migration's destination and a standby on shared storage do it
 * just before they run the guest, since the other side wrote the image after they first
 * opened it. 0 or -errno. */
int virtio_blk_reopen(struct virtio_blk *b);
/* Reopen a read-only drive's image for writing (the same file, locked exclusively), for a
 * migration or replication that copies the source's disk into it. The guest still sees a
 * read-only disk: its requests are checked against the drive's state, not the file's mode. */
int virtio_blk_reopen_writable(struct virtio_blk *b);

/* New rate limits for a running drive (PATCH /drives rate_limiter). 0 or -errno. */
int virtio_blk_set_rate_limiter(struct virtio_blk *b, const struct rate_limiter_config *c);

/* ---- The drive's verbs for the layers above (blk_disk.c): live migration and replication
 * copy its image through them; nothing above src/devices reads its fields. ---- */

/* Its name in messages ("virtio-blk0"), its image's path, the size the guest sees and the
 * image's own (bytes). */
const char *virtio_blk_name(const struct virtio_blk *b);
const char *virtio_blk_path(const struct virtio_blk *b);
uint64_t virtio_blk_size(const struct virtio_blk *b);
uint64_t virtio_blk_image_size(const struct virtio_blk *b);
/* len bytes at off of the image, on the caller's thread: 0, or -errno (-EIO: short). */
int virtio_blk_read(struct virtio_blk *b, uint64_t off, void *buf, uint64_t len);
int virtio_blk_write(struct virtio_blk *b, uint64_t off, const void *buf, uint64_t len);
/* The run of the image at pos (disk_status): *len cut to where it ends, *data false for a hole. */
int virtio_blk_extent(struct virtio_blk *b, uint64_t pos, uint64_t *len, bool *data);
/* The image file's st_dev and st_ino; false if fstat fails. */
bool virtio_blk_file_id(const struct virtio_blk *b, uint64_t *dev, uint64_t *ino);
/* The image's lock against other processes (block/disk.h): take it (0, or -EBUSY when another
 * process holds it), let it go, or hand it over to the other side of a migration (its tables
 * made complete, then unlocked; a failure is logged). */
int virtio_blk_lock(struct virtio_blk *b);
void virtio_blk_unlock(struct virtio_blk *b);
void virtio_blk_handover(struct virtio_blk *b);
/* A writable drive's image synced ahead of a switch (a failure is logged). */
void virtio_blk_sync_ahead(struct virtio_blk *b);
/* A disk copy's destination: the image opened for writing, made `size` bytes and all zero
 * (qcow2: it must have that size already), and the guest's capacity with it. 0, or -errno and
 * why, named by the drive. */
int virtio_blk_resize_empty(struct virtio_blk *b, uint64_t size, char *err, size_t errlen);
/* Mark the chunks (BLK_DIRTY_CHUNK, block/dirty.h) the guest writes from now on, or stop
 * (the marks stay). 0 or -ENOMEM. */
int virtio_blk_track_writes(struct virtio_blk *b, bool on);
/* The chunks written since the last call, taken (cleared): *bits (the caller frees it) with
 * *nchunks bits; NULL and 0 when never tracked. 0 or -ENOMEM. */
int virtio_blk_take_written(struct virtio_blk *b, uint64_t **bits, uint64_t *nchunks);

/* ---- The backup bitmap (blk_backup.c, docs/snapshots.md#incremental-backups) ---- */

/* What a backup takes from a drive: the mode it can have and the chunks to copy. */
struct blk_backup_take {
	bool incremental;             /* false: full (why says why, when incremental was asked) */
	char why[300];
	uint64_t *bits, nbits;        /* the chunks written since the last backup (taken, cleared) */
	uint64_t dirty_bytes;
};
/* Start tracking at create (before the image is opened for writing: path, its size), and the
 * clean close's write-back (before the image is closed). */
int blk_backup_open(struct virtio_blk *b, const char *path, bool read_only, bool migrating);
void blk_backup_close(struct virtio_blk *b);
/* The host wrote the image (a migration's or replication's copy, not the guest: the tracker
 * does not see it): the chain restarts. Any thread. */
void blk_backup_host_write(struct virtio_blk *b);
/* The drive's file was replaced (PATCH /drives): the chain restarts. */
void blk_backup_file_changed(struct virtio_blk *b, const char *path);
/* Decide the mode (incremental only with a bitmap that is not stale and the same chain id)
 * and take the marks, cleared. 0 or -ENOMEM. */
int virtio_blk_backup_begin(struct virtio_blk *b, bool incremental, const char *chain_id, struct blk_backup_take *t);
/* The member is complete (ok): the chain goes on from it (chain id, generation + 1, not
 * stale). Not ok: the marks go back, so the next incremental still has them. t is freed. */
void virtio_blk_backup_end(struct virtio_blk *b, struct blk_backup_take *t, bool ok, const char *chain_id);

/* The drive's counters for the metrics ("block", "block_ID"). */
struct dev_stats_ops;
extern const struct dev_stats_ops virtio_blk_stats_ops;

#endif
