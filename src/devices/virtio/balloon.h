/* virtio-balloon (virtio 1.x section 5.5, device ID 5): the host asks the guest to give back
 * memory (config num_pages, the target in 4 KiB pages); the guest lists the pages it gave on
 * the inflate queue and the host drops them (madvise MADV_DONTNEED: anonymous memory reads as
 * zero afterwards), lists pages it took back on the deflate queue (nothing to do on the host),
 * and reports `actual`. Optional: the statistics queue (VIRTIO_BALLOON_F_STATS_VQ: the driver
 * fills one buffer with tag/value pairs, the device hands it back every polling interval for
 * fresh values), VIRTIO_BALLOON_F_DEFLATE_ON_OOM (only a feature bit), free page reporting
 * (VIRTIO_BALLOON_F_REPORTING: the driver lists free page ranges, the host drops them) and free
 * page hinting (VIRTIO_BALLOON_F_FREE_PAGE_HINT, virtio 1.2 "Free Page Hinting": a run starts when
 * the host writes a new free_page_hint_cmd_id; the driver sends that id, free ranges, then STOP;
 * ranges are dropped only while they belong to the run the host has open, and DONE gives the
 * pages back to the guest, after which the host never touches them).
 *
 * Everything the guest writes is untrusted: every page frame number is checked to lie in guest
 * RAM (refused ones are counted, never touched), one inflate request handles at most
 * BALLOON_MAX_PFNS_PER_REQ numbers, statistics tags the device does not know are ignored. */
#ifndef PETREL_DEVICES_VIRTIO_BALLOON_H
#define PETREL_DEVICES_VIRTIO_BALLOON_H

#include "devices/virtio/virtio.h"

#include <stddef.h>

#define VIRTIO_ID_BALLOON 5

#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT 3
#define VIRTIO_BALLOON_F_PAGE_POISON 4
#define VIRTIO_BALLOON_F_REPORTING 5

#define BALLOON_PAGE_SHIFT 12
#define BALLOON_PAGE_SIZE (1u << BALLOON_PAGE_SHIFT)
#define BALLOON_PAGES_PER_MIB (1u << (20 - BALLOON_PAGE_SHIFT))
#define BALLOON_QUEUE_SIZE 256
#define BALLOON_MAX_PFNS_PER_REQ 65536   /* numbers past these in one chain are ignored */
#define BALLOON_CONFIG_LEN 16            /* num_pages, actual, free_page_hint_cmd_id, poison_val */

/* free_page_hint_cmd_id values with a meaning of their own; a run's id is 2 or more. */
#define BALLOON_HINT_CMD_STOP 0          /* no run: the driver stops hinting, keeps its pages */
#define BALLOON_HINT_CMD_DONE 1          /* no run: the driver gives the hinted pages back */
#define BALLOON_HINT_CMD_FIRST 2

/* Statistics tags (5.5.6.3; 10..15 as Linux defines them). */
enum balloon_stat_tag {
	BALLOON_S_SWAP_IN, BALLOON_S_SWAP_OUT, BALLOON_S_MAJFLT, BALLOON_S_MINFLT,
	BALLOON_S_MEMFREE, BALLOON_S_MEMTOT, BALLOON_S_AVAIL, BALLOON_S_CACHES,
	BALLOON_S_HTLB_PGALLOC, BALLOON_S_HTLB_PGFAIL, BALLOON_S_OOM_KILL, BALLOON_S_ALLOC_STALL,
	BALLOON_S_ASYNC_SCAN, BALLOON_S_DIRECT_SCAN, BALLOON_S_ASYNC_RECLAIM, BALLOON_S_DIRECT_RECLAIM,
	BALLOON_S_NR
};
/* Firecracker's name of each statistic (GET /balloon/statistics). */
extern const char *const balloon_stat_names[BALLOON_S_NR];

/* What the device needs from the configuration. */
struct balloon_params {
	uint32_t amount_mib;
	bool deflate_on_oom;
	uint32_t stats_polling_interval_s;   /* 0: no statistics queue */
	bool free_page_reporting;
	bool free_page_hinting;
};

/* Guest-visible state beyond struct virtio_state (snapshots save this). */
struct balloon_state {
	uint32_t num_pages;                  /* target */
	uint32_t actual;                     /* what the driver last wrote */
	uint32_t stats_polling_interval_s;
	uint32_t flags;                      /* BALLOON_STATE_* */
	uint64_t stats[BALLOON_S_NR];
	uint32_t stats_present;              /* bit per tag the guest reported */
	uint32_t reserved;
	/* Free page hinting. */
	uint32_t hint_cmd_id;                /* free_page_hint_cmd_id: STOP, DONE or the open run */
	uint32_t hint_last_id;               /* the last run id issued (ids are never reused) */
	uint32_t hint_guest_cmd;             /* the last command id the driver sent */
	uint32_t hint_flags;                 /* BALLOON_HINT_* */
};
#define BALLOON_STATE_DEFLATE_ON_OOM 1
#define BALLOON_STATE_REPORTING 2
#define BALLOON_STATE_HINTING 4
#define BALLOON_HINT_GUEST_CMD 1             /* hint_guest_cmd holds something the driver sent */
#define BALLOON_HINT_ACK_ON_STOP 2           /* the driver's STOP of the open run is answered with DONE */
#define BALLOON_HINT_JOINED 4                /* the driver sent the open run's id after the host issued it */

/* The snapshot section (BALN) is struct balloon_state; version 1 ended before the hinting
 * fields. */

struct balloon_counters {
	uint64_t inflate_count, deflate_count, stats_updates, free_page_report_count;
	uint64_t pages_released, pages_refused, pfns_ignored, madvise_failures, stats_invalid;
	uint64_t reported_bytes;
	uint64_t hint_count, hint_bytes, hint_fails; /* ranges of the open run, bytes dropped, failures */
	uint64_t hint_ignored;               /* ranges outside an open run (stale, before the id, after DONE) */
	uint64_t hint_invalid;               /* readable buffers that are not a 4-byte command id */
};

enum balloon_queue {
	BALLOON_Q_INFLATE, BALLOON_Q_DEFLATE, BALLOON_Q_STATS, BALLOON_Q_REPORTING, BALLOON_Q_HINTING,
	BALLOON_Q_NONE
};

struct virtio_balloon {
	struct virtio_dev vdev;
	struct balloon_state st;
	struct virtq_chain chain;
	struct balloon_counters ctr;
	bool stats_held;                     /* a statistics buffer waits to be handed back */
	uint16_t stats_head;
	int timer_fd;                        /* statistics polling, -1 without */
	uint32_t *pfns;                      /* one request's page numbers, grown as needed */
	uint64_t pfns_cap;                   /* ... room for this many (at most BALLOON_MAX_PFNS_PER_REQ) */
	bool hint_config_pending;            /* restored with a new cmd id: interrupt at the first kick */
};

int virtio_balloon_create(struct virtio_balloon *b, const struct balloon_params *p,
			  const struct guest_mem *mem, struct io_thread *io);
/* The role of queue q under the negotiated features (queues of absent features are skipped). */
enum balloon_queue virtio_balloon_queue_role(const struct virtio_dev *d, unsigned q);

/* ---- for the controller (they take the device lock) ---- */
/* New target: the driver is told through a configuration change interrupt. */
void virtio_balloon_set_target_mib(struct virtio_balloon *b, uint32_t mib);
/* New polling interval (not 0, and only with statistics on): -EINVAL otherwise. Hands the
 * held buffer back at once for a first update. */
int virtio_balloon_set_stats_interval(struct virtio_balloon *b, uint32_t seconds);
/* The statistics timer fired (what the I/O thread does; tests call it). */
void virtio_balloon_stats_tick(struct virtio_balloon *b);
/* A copy of the state and counters under the lock. */
void virtio_balloon_stats(struct virtio_balloon *b, struct balloon_state *st, struct balloon_counters *c);
/* Restore: before virtio_restore; re-arms the timer. A hinting run open when the snapshot was
 * taken is over: the driver is told DONE (its hinted pages are its own again), through a
 * configuration interrupt once the restored device's queues are kicked. */
void virtio_balloon_load_state(struct virtio_balloon *b, const struct balloon_state *st);

/* Free page hinting (the API's /balloon/hinting/...; they take the device lock).
 * -EOPNOTSUPP: hinting was not enabled; -EAGAIN: the driver has not started the device. */
/* A new run: a fresh command id; with ack_on_stop the driver's STOP of it is answered DONE. */
int virtio_balloon_hint_start(struct virtio_balloon *b, bool ack_on_stop);
/* DONE: the run (if any) is over and the driver may use its hinted pages again. */
int virtio_balloon_hint_stop(struct virtio_balloon *b);
/* The host's current command id and the driver's last one (*has_guest false: none yet). */
int virtio_balloon_hint_status(struct virtio_balloon *b, uint32_t *host_cmd, bool *has_guest,
			       uint32_t *guest_cmd);

#endif
