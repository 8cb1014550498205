/* virtio-pmem (virtio 1.2 section 5.19, device ID 27): a host file mapped into the guest's
 * physical address space as persistent memory. The guest reads and writes it with loads and
 * stores (no exits: the mapping is a KVM memory slot of its own, above RAM in vm->devmem); its
 * only request, on the one queue, is a flush: the device makes the file durable (fdatasync)
 * and answers a status.
 *
 * Layout: the file is mapped MAP_SHARED (guest writes go to the host's page cache of the file;
 * read_only maps it PROT_READ in a KVM_MEM_READONLY slot, so guest writes exit and are
 * dropped; where KVM has no read-only slots the file is mapped MAP_PRIVATE instead, so stores
 * go to private copies of the pages and never to the file) and the mapping is padded up to
 * PMEM_SIZE_ALIGN with anonymous zero pages that are
 * never written back (what Firecracker does: Linux's memremap of the region wants 2 MiB
 * sub-sections). The guest-physical start is PMEM_GPA_ALIGN (a 128 MiB memory section)
 * aligned, so any guest kernel can map the region with struct pages (DAX).
 *
 * Requests are untrusted: a chain needs a 4-byte type in its readable part and 4 writable bytes
 * for the status. A bad type or a short request is answered with status 1; a chain without
 * room for a status is returned with nothing written. Neither stops the device. */
#ifndef PETREL_DEVICES_VIRTIO_PMEM_H
#define PETREL_DEVICES_VIRTIO_PMEM_H

#include "devices/virtio/virtio.h"
#include "util/rate_limiter.h"

#include <sys/uio.h>

#define VIRTIO_PMEM_ID_MAX 64     /* the longest id kept (the definition allows DEVICES_ID_MAX) */
#define PMEM_MAX_FILE_SIZE (256ull << 30) /* the device-memory window is 1 TiB in all */

#define VIRTIO_ID_PMEM 27
#define PMEM_QUEUE_SIZE 256
#define PMEM_CONFIG_LEN 16              /* le64 start, le64 size */
#define PMEM_SIZE_ALIGN (2ull << 20)
#define PMEM_GPA_ALIGN (128ull << 20)
#define VIRTIO_PMEM_REQ_TYPE_FLUSH 0
#define PMEM_STATUS_OK 0
#define PMEM_STATUS_ERROR 1

/* Guest-visible state beyond struct virtio_state (snapshots save it). The file's contents are
 * not part of it: a restore maps the same file again and checks it has the same size. */
struct pmem_state {
	uint64_t start;          /* guest-physical address of the first byte (config space) */
	uint64_t size;           /* the mapping: file_size rounded up to PMEM_SIZE_ALIGN */
	uint64_t file_size;      /* the backing file's size when it was mapped */
	uint32_t read_only;
	uint32_t reserved;
};

/* One request as the parser sees it. */
enum pmem_req_kind {
	PMEM_REQ_FLUSH,          /* a flush: answer after the file is synced */
	PMEM_REQ_BAD,            /* answer PMEM_STATUS_ERROR (short request, unknown type) */
	PMEM_REQ_NO_STATUS,      /* fewer than 4 writable bytes: returned with nothing written */
};

struct pmem_req {
	uint16_t head;
	uint8_t kind;            /* enum pmem_req_kind */
	uint8_t nstatus;         /* the status's bytes: up to 4 pieces of the writable buffers */
	struct iovec status[4];
};

/* Counters for the metrics (Firecracker's PmemMetrics and petrel's own). */
struct pmem_counters {
	uint64_t activate_count, activate_fails, cfg_fails, event_fails, queue_event_count;
	uint64_t flush_count, flush_fails, bad_requests, rate_limiter_event_count, rate_limiter_throttled_events;
};

struct kvm;
struct devmem;

struct virtio_pmem {
	struct virtio_dev vdev;
	struct pmem_state st;
	char id[VIRTIO_PMEM_ID_MAX + 1];
	int fd;                  /* the backing file */
	uint8_t *map;            /* st.size bytes: the file, then anonymous padding */
	struct kvm *kvm;         /* set once plugged: the slot below exists */
	uint32_t slot;
	struct rate_limiter rl;
	struct pmem_counters ctr;
	struct virtq_chain chain;
	struct pmem_req batch[PMEM_QUEUE_SIZE]; /* popped, waiting for the flush */
	unsigned nbatch, nflushes;  /* chains in batch, flush requests among them */
	unsigned batches;           /* batches answered in this wakeup of the I/O thread */
};

/* Classify one popped chain (pure: for the device and the fuzzer). */
enum pmem_req_kind virtio_pmem_parse(const struct virtq_chain *c, struct pmem_req *r);

/* Open and map the backing file, set up the virtio device. Not in guest memory yet: the
 * caller plugs it (or, in tests, sets st.start). -errno with the reason in err. */
/* What a virtio-pmem device is made from (vm/device_params.c fills it from the definition). */
struct virtio_pmem_params {
	const char *id;
	const char *path;             /* the backing file: regular, 1 byte to PMEM_MAX_FILE_SIZE */
	bool read_only;               /* mapped read-only, a read-only KVM slot */
	struct rate_limiter_config rate_limiter;  /* flush requests (1 op + the file's size) */
};

/* Open the backing file as the device will (read-only or read-write, never blocking on a FIFO)
 * and check it: a regular file of 1 byte to PMEM_MAX_FILE_SIZE. Returns the open fd (the caller
 * closes it) and its size, or -errno with "pmem 'id': path ..." in err. */
int pmem_open_file(const struct virtio_pmem_params *c, uint64_t *size, char *err, size_t errlen);

int virtio_pmem_create(struct virtio_pmem *p, const struct virtio_pmem_params *c, unsigned index,
		       const struct guest_mem *mem, struct io_thread *io, char *err, size_t errlen);
/* Take a guest-physical range from dm and map the file there as a KVM memory slot. */
int virtio_pmem_plug(struct virtio_pmem *p, struct devmem *dm, struct kvm *kvm, char *err, size_t errlen);

/* ---- for the controller: a copy of the state and counters under the device lock ---- */
void virtio_pmem_stats(struct virtio_pmem *p, struct pmem_state *st, struct pmem_counters *c);
/* A saved state for this device: the same range and the same file size, or -EINVAL and why. */
int virtio_pmem_check_state(struct virtio_pmem *p, const struct pmem_state *st, char *err, size_t errlen);
/* PATCH /pmem/{id}: new rate limiter buckets. */
int virtio_pmem_update_limiter(struct virtio_pmem *p, const struct rate_limiter_config *rl);

#endif
