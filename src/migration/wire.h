/* The migration stream: typed messages, each a 16-byte header (type, flags, payload length)
 * and its payload, over one stream socket. The sender's side (source) and the receiver's
 * (destination) both use these; the receiver trusts no length, address or count.
 *
 *   source -> destination: HELO, DEFN (the VM's definition, snapshot sections), then PAGE
 *   messages round after round (ROND between rounds), STAT (every state, at the switch)
 *   destination -> source: REDY (machine built), GOGO (guest running), or FAIL (why)
 *   source -> destination after GOGO: DONE (the downtime the source measured)
 *   post-copy: PCPY (a bitmap per region of the pages the destination must fetch) before STAT;
 *   after STAT the destination runs the guest and sends RQST for pages it faults on, the
 *   source answers them first and pushes the rest as PAGE messages, then PEND; DONE follows
 *   GOGO as above. */
#ifndef PETREL_MIGRATION_WIRE_H
#define PETREL_MIGRATION_WIRE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define MIG_FOURCC(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
enum mig_type {
	MIG_HELLO = MIG_FOURCC('H', 'E', 'L', 'O'),
	MIG_DEFN = MIG_FOURCC('D', 'E', 'F', 'N'),
	MIG_READY = MIG_FOURCC('R', 'E', 'D', 'Y'),
	MIG_PAGES = MIG_FOURCC('P', 'A', 'G', 'E'),
	MIG_ROUND = MIG_FOURCC('R', 'O', 'N', 'D'),
	MIG_STATE = MIG_FOURCC('S', 'T', 'A', 'T'),
	MIG_GO = MIG_FOURCC('G', 'O', 'G', 'O'),
	MIG_FAIL = MIG_FOURCC('F', 'A', 'I', 'L'),
	MIG_DONE = MIG_FOURCC('D', 'O', 'N', 'E'),
	MIG_POSTCOPY = MIG_FOURCC('P', 'C', 'P', 'Y'),
	MIG_REQUEST = MIG_FOURCC('R', 'Q', 'S', 'T'),
	MIG_END = MIG_FOURCC('P', 'E', 'N', 'D'),
	/* replication (src/ha): after the initial sync, checkpoint after checkpoint */
	MIG_CKPT = MIG_FOURCC('C', 'K', 'P', 'T'),  /* primary: a checkpoint begins (struct mig_ckpt) */
	MIG_CEND = MIG_FOURCC('C', 'E', 'N', 'D'),  /* primary: it is complete (struct mig_ckpt) */
	MIG_CACK = MIG_FOURCC('C', 'A', 'C', 'K'),  /* standby: it has it (struct mig_ckpt) */
	MIG_RCFG = MIG_FOURCC('R', 'C', 'F', 'G'),  /* primary, before the sync: its timing (struct mig_repl_cfg) */
	MIG_COUT = MIG_FOURCC('C', 'O', 'U', 'T'),  /* primary, in a checkpoint: its epoch's console output (bytes) */
	MIG_RELS = MIG_FOURCC('R', 'E', 'L', 'S'),  /* primary, after a CACK: that output is written (struct mig_ckpt) */
	/* migrate_disks: a drive's size, then its data (struct mig_disk + data) */
	MIG_DISK = MIG_FOURCC('D', 'I', 'S', 'K'),
};

#define MIG_MAGIC "PETRELMG"
#define MIG_VERSION 1
#define MIG_MAX_STATE (64u << 20)   /* a DEFN or STAT payload */
#define MIG_MAX_RUN 256u            /* pages in one PAGE message (1 MiB) */
#define MIG_MAX_TEXT 1024u          /* a FAIL reason */
#define MIG_MAX_COUT (1u << 20)     /* a checkpoint's console output: its last 1 MiB */
#define MIG_MAX_BITMAP (16u << 20)  /* PCPY: the pages of up to 512 GiB */

struct mig_hdr {
	uint32_t type;
	uint32_t flags;
	uint64_t len;
};

struct mig_hello {
	char magic[8];
	uint32_t version;
	uint32_t page_size;
};

#define MIG_PAGES_ZERO 1u  /* the run is all zero: no data follows */
struct mig_pages {
	uint64_t gpa;
	uint32_t npages;
	uint32_t flags;
};

struct mig_round {
	uint32_t round;
	uint32_t pad;
	uint64_t dirty_pages;    /* what the source is about to send in this round */
};

/* A replication checkpoint: its epoch, and the primary's generation (fencing: a standby
 * that took over, or a primary that restarted, has a higher one). */
struct mig_ckpt {
	uint64_t epoch;
	uint64_t generation;
};

/* The primary's timing, so that the standby can check its own failure timeout against it. */
struct mig_repl_cfg {
	uint32_t interval_ms;         /* a checkpoint this often */
	uint32_t failure_timeout_ms;  /* the primary's: no acknowledgement this long = standby lost */
};

#define MIG_DISK_SIZE 1u   /* no data: the drive has `offset` bytes (the receiver truncates to it) */
struct mig_disk {
	uint32_t drive;     /* index among the VM's virtio-blk devices, in device order */
	uint32_t flags;
	uint64_t offset;
	uint64_t len;       /* data bytes that follow (at most MIG_MAX_DISK_RUN) */
	uint64_t dev, ino;  /* MIG_DISK_SIZE: the source's image (the receiver refuses to write it) */
};
#define MIG_MAX_DISK_RUN (1u << 20)

struct mig_go {
	uint64_t since_first_run_ns;  /* destination: first KVM_RUN -> this message */
	uint64_t restore_ns;          /* STAT received -> states loaded */
};

/* Write a whole message (header + up to two payload pieces). 0 or -errno. */
int mig_send(int fd, uint32_t type, const void *a, size_t alen, const void *b, size_t blen);
/* Read exactly n bytes within timeout_ms (< 0: no limit). 0, -ECONNRESET at EOF, -ETIMEDOUT. */
int mig_recv_all(int fd, void *buf, size_t n, int timeout_ms);
/* What a failed mig_recv_all in the middle of a message means: the sender is gone, silent
 * (-ETIMEDOUT) or closed (-ECONNRESET), not a malformed stream. */
static inline int mig_cut_off(int e)
{
	return e == -ETIMEDOUT ? -ETIMEDOUT : -ECONNRESET;
}
/* Read a header and check the type is known and the length within limit for it. */
int mig_recv_hdr(int fd, struct mig_hdr *h, int timeout_ms, char *err, size_t errlen);
/* Send FAIL with a reason (best effort: not if the peer's buffer is full). */
void mig_send_fail(int fd, const char *why);
/* Read a FAIL payload of h->len bytes into why (NUL-terminated, cut to fit). */
void mig_recv_fail(int fd, const struct mig_hdr *h, char *why, size_t whylen);

#endif
