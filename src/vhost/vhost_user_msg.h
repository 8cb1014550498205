/* vhost-user messages (the protocol of QEMU's docs/interop/vhost-user.rst): a 12-byte header
 * (request, flags, payload size) and a payload, with file descriptors alongside (SCM_RIGHTS).
 * This file builds the front end's requests and checks the back end's replies; the back end
 * is untrusted (docs/virtio-fs.md): a reply is taken only when its header and payload are
 * exactly what the request calls for. */
#ifndef PETREL_VHOST_VHOST_USER_MSG_H
#define PETREL_VHOST_VHOST_USER_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vhu_request {
	VHU_GET_FEATURES = 1,
	VHU_SET_FEATURES = 2,
	VHU_SET_OWNER = 3,
	VHU_RESET_OWNER = 4,
	VHU_SET_MEM_TABLE = 5,
	VHU_SET_VRING_NUM = 8,
	VHU_SET_VRING_ADDR = 9,
	VHU_SET_VRING_BASE = 10,
	VHU_GET_VRING_BASE = 11,
	VHU_SET_VRING_KICK = 12,
	VHU_SET_VRING_CALL = 13,
	VHU_SET_VRING_ERR = 14,
	VHU_GET_PROTOCOL_FEATURES = 15,
	VHU_SET_PROTOCOL_FEATURES = 16,
	VHU_GET_QUEUE_NUM = 17,
	VHU_SET_VRING_ENABLE = 18,
};

#define VHU_VERSION 0x1u
#define VHU_FLAG_VERSION_MASK 0x3u
#define VHU_FLAG_REPLY (1u << 2)
#define VHU_FLAG_NEED_REPLY (1u << 3)

/* Feature bits: VHOST_USER_F_PROTOCOL_FEATURES (in GET_FEATURES) and the protocol's own. */
#define VHU_F_PROTOCOL_FEATURES 30
#define VHU_PROTOCOL_F_MQ 0
#define VHU_PROTOCOL_F_REPLY_ACK 3

#define VHU_HDR_SIZE 12u
#define VHU_MAX_REGIONS 8u
#define VHU_MAX_FDS 8u

struct vhu_region {
	uint64_t gpa, size, uaddr, mmap_offset;
};

/* The payloads petrel sends or takes (little-endian, as the host is). */
union vhu_payload {
	uint64_t u64;
	struct { uint32_t index, num; } state;
	struct { uint32_t index, flags; uint64_t desc, used, avail, log; } addr;
	struct { uint32_t nregions, padding; struct vhu_region r[VHU_MAX_REGIONS]; } mem;
};

/* As on the wire: the payload right after the 12-byte header. */
struct __attribute__((packed)) vhu_msg {
	uint32_t request, flags, size;
	union vhu_payload p;
};

/* The payload size a request carries (a front end's message) and the one its reply must
 * have: -1 when it has no reply. */
uint32_t vhu_request_size(const struct vhu_msg *m);
int vhu_reply_size(uint32_t request);

/* A request: header filled (version 1, NEED_REPLY when asked), payload as given; returns the
 * bytes to send from (const void *)m. */
size_t vhu_build(struct vhu_msg *m, uint32_t request, bool need_reply);

/* Check a reply of len bytes (header and payload, as read) to `request`: the reply flag and
 * version, the same request, the exact payload size. 0 with *out filled, or -EPROTO with what
 * was wrong in err. */
int vhu_parse_reply(const void *buf, size_t len, uint32_t request, struct vhu_msg *out, char *err,
		    size_t errlen);

const char *vhu_request_name(uint32_t request);

#endif
