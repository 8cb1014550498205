/* Device definitions of a VM: Firecracker's Drive, NetworkInterface, Vsock and EntropyDevice
 * objects (the "drives", "network-interfaces", "vsock" and "entropy" sections of a config
 * file, and the bodies of PUT/PATCH /drives/{id}, /network-interfaces/{id}, /vsock, /entropy),
 * plus petrel's CLI forms of them (--disk, --net, --vsock, --rng).
 *
 * Parsers are strict like Firecracker's (serde deny_unknown_fields): unknown fields, wrong
 * types and out-of-range values are -EINVAL with a message that names the field, prefixed by
 * `where` (e.g. "drives[1].is_read_only: expected a boolean"). On error *out is left empty
 * (nothing to free). Serializers produce the same JSON shape the parsers accept (fields that
 * were absent stay absent), so parse(serialize(x)) == x.
 *
 * Stable interface: the REST API (src/api) and the config file (src/config/vm_config.c) both
 * use these functions.
 */
#ifndef PETREL_CONFIG_DEVICES_CONFIG_H
#define PETREL_CONFIG_DEVICES_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util/rate_limiter.h"

#define DEVICES_MAX_DRIVES 16
#define DEVICES_MAX_NETS 8
#define DEVICES_ID_MAX 64          /* longest drive_id / iface_id accepted */
#define DRIVE_BOOT_INDEX_MAX 255   /* a drive's boot_index: 0..255 */

/* Which virtio transport a device sits on. DEFAULT means the VM-wide default (PCI unless
 * --virtio-transport says otherwise). Not part of Firecracker's JSON: CLI only. */
enum virtio_transport_kind { VIRTIO_TRANSPORT_DEFAULT = 0, VIRTIO_TRANSPORT_PCI, VIRTIO_TRANSPORT_MMIO };

/* struct token_bucket_config and struct rate_limiter_config, Firecracker's TokenBucket and
 * RateLimiter objects: util/rate_limiter.h (the limiter's own parameters). */

enum drive_cache_type { DRIVE_CACHE_UNSAFE = 0, DRIVE_CACHE_WRITEBACK };
enum drive_io_engine { DRIVE_IO_SYNC = 0, DRIVE_IO_ASYNC };

struct drive_config {
	char *drive_id;            /* required; [A-Za-z0-9_], 1..DEVICES_ID_MAX chars */
	char *path_on_host;        /* required for virtio-blk */
	bool is_root_device;       /* required in JSON */
	bool is_read_only;
	char *partuuid;            /* optional; NULL if absent */
	bool has_cache_type;       /* cache_type was given (serialized back only then) */
	enum drive_cache_type cache_type;  /* Writeback: VIRTIO_BLK_F_FLUSH flushes the file */
	bool has_io_engine;
	enum drive_io_engine io_engine;    /* Async: io_uring; Sync: preadv/pwritev */
	struct rate_limiter_config rate_limiter;
	/* petrel extensions (CLI only; not in JSON) */
	bool direct;               /* open the file with O_DIRECT */
	int format;                /* enum disk_format: 0 auto (probe), 1 raw, 2 qcow2 ("format") */
	uint32_t poll_us;          /* busy-poll the queue this long before sleeping (0: never) */
	enum virtio_transport_kind transport;
	/* petrel's "boot_index" (JSON) / boot=N (CLI): where a firmware tries this drive in its
	 * boot order, lowest first (docs/firmware.md); drives without one come after */
	bool has_boot_index;
	unsigned boot_index;
	/* not configuration: set by a migration's destination and a standby, which open the
	 * drive before the other side has let go of it and lock it when they run the guest */
	bool defer_lock;
};

/* The emulated card behind an interface ("model": petrel's extension). */
enum net_model { NET_MODEL_VIRTIO = 0, NET_MODEL_E1000 };

struct net_config {
	char *iface_id;            /* required */
	char *host_dev_name;       /* required: the tap device */
	bool has_mac;
	uint8_t guest_mac[6];
	bool has_mtu;
	uint32_t mtu;              /* 68..65535 */
	struct rate_limiter_config rx_rate_limiter, tx_rate_limiter;
	enum virtio_transport_kind transport;  /* CLI only */
	enum net_model model;      /* "virtio" (default) or "e1000" */
};

struct vsock_config {
	uint32_t guest_cid;        /* required, >= 3 */
	char *uds_path;            /* required */
	char *vsock_id;            /* deprecated, optional */
	enum virtio_transport_kind transport;  /* CLI only */
};

struct entropy_config {
	struct rate_limiter_config rate_limiter;
	enum virtio_transport_kind transport;  /* CLI only */
};

/* PATCH /drives/{id}: drive_id required; path_on_host and rate_limiter optional. */
struct drive_update {
	char *drive_id;
	char *path_on_host;        /* NULL: unchanged */
	struct rate_limiter_config rate_limiter;  /* present=false: unchanged */
};

/* PATCH /network-interfaces/{id}. */
struct net_update {
	char *iface_id;
	struct rate_limiter_config rx_rate_limiter, tx_rate_limiter;
};

/* ---- JSON objects (jansson values) ---- */
int drive_config_from_json(json_t *obj, const char *where, struct drive_config *out, char *err, size_t errlen);
int net_config_from_json(json_t *obj, const char *where, struct net_config *out, char *err, size_t errlen);
int vsock_config_from_json(json_t *obj, const char *where, struct vsock_config *out, char *err, size_t errlen);
int entropy_config_from_json(json_t *obj, const char *where, struct entropy_config *out, char *err, size_t errlen);
int drive_update_from_json(json_t *obj, const char *where, struct drive_update *out, char *err, size_t errlen);
int net_update_from_json(json_t *obj, const char *where, struct net_update *out, char *err, size_t errlen);

/* ---- JSON text (request bodies); `where` may be NULL (messages then start with the field) ---- */
int drive_config_parse(const char *json, const char *where, struct drive_config *out, char *err, size_t errlen);
int net_config_parse(const char *json, const char *where, struct net_config *out, char *err, size_t errlen);
int vsock_config_parse(const char *json, const char *where, struct vsock_config *out, char *err, size_t errlen);
int entropy_config_parse(const char *json, const char *where, struct entropy_config *out, char *err, size_t errlen);
int drive_update_parse(const char *json, const char *where, struct drive_update *out, char *err, size_t errlen);
int net_update_parse(const char *json, const char *where, struct net_update *out, char *err, size_t errlen);

/* ---- serializers: new references (NULL only when out of memory) ---- */
json_t *drive_config_to_json(const struct drive_config *c);
json_t *net_config_to_json(const struct net_config *c);
json_t *vsock_config_to_json(const struct vsock_config *c);
json_t *entropy_config_to_json(const struct entropy_config *c);
/* RateLimiter {bandwidth, ops} under parent[key] (absent or null: not present) and TokenBucket
 * {size, one_time_burst, refill_time} objects (rate_limiter_json.c). */
int rate_limiter_config_from_json(json_t *parent, const char *where, const char *key,
				  struct rate_limiter_config *rl, char *err, size_t errlen);
void rate_limiter_config_to_json(json_t *parent, const char *key, const struct rate_limiter_config *rl);
int token_bucket_config_from_json(json_t *obj, const char *where, struct token_bucket_config *b,
				  char *err, size_t errlen);
json_t *token_bucket_config_to_json(const struct token_bucket_config *b);
/* A running device's limiter config after a PATCH of it (rate_limiter_update's rule): each
 * bucket given replaces the old one, one of size or refill_time 0 is gone; none left: null. */
void rate_limiter_config_patch(struct rate_limiter_config *cur, const struct rate_limiter_config *patch);

/* ---- CLI forms ----
 *   --disk PATH[,ro][,id=NAME][,direct][,root][,cache=unsafe|writeback][,io=sync|async][,poll=USEC][,transport=pci|mmio][,boot=N]
 *          (id defaults to "driveN" with N = index; io defaults to async)
 *   --net  tap=NAME[,mac=MAC][,id=NAME][,mtu=N][,transport=pci|mmio]
 *   --vsock cid=N,uds=PATH[,transport=pci|mmio]
 *   --rng  [transport=pci|mmio]       (the argument may be NULL or empty)
 */
int drive_config_from_cli(const char *arg, unsigned index, struct drive_config *out, char *err, size_t errlen);
int net_config_from_cli(const char *arg, unsigned index, struct net_config *out, char *err, size_t errlen);
int vsock_config_from_cli(const char *arg, struct vsock_config *out, char *err, size_t errlen);
int entropy_config_from_cli(const char *arg, struct entropy_config *out, char *err, size_t errlen);
/* "pci" / "mmio" -> kind; -EINVAL otherwise. */
int virtio_transport_from_name(const char *name, enum virtio_transport_kind *out);

/* Deep copies (for handing a config from the API thread to the VM); 0 or -ENOMEM. */
int drive_config_copy(struct drive_config *dst, const struct drive_config *src);
int net_config_copy(struct net_config *dst, const struct net_config *src);
int vsock_config_copy(struct vsock_config *dst, const struct vsock_config *src);

void drive_config_free(struct drive_config *c);
void net_config_free(struct net_config *c);
void vsock_config_free(struct vsock_config *c);
void entropy_config_free(struct entropy_config *c);
void drive_update_free(struct drive_update *u);
void net_update_free(struct net_update *u);

/* "aa:bb:cc:dd:ee:ff" <-> bytes; parse returns 0 or -EINVAL. out needs 18 bytes. */
int mac_parse(const char *s, uint8_t mac[6]);
void mac_format(const uint8_t mac[6], char out[18]);

#endif
