/* vhost-user messages: the front end's requests, the back end's replies checked. See
 * vhost_user_msg.h. */
#include <errno.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"
#include "vhost/vhost_user_msg.h"

_Static_assert(offsetof(struct vhu_msg, p) == VHU_HDR_SIZE, "the payload follows the 12-byte header");

const char *vhu_request_name(uint32_t request)
{
	static const char *const n[] = {
		[VHU_GET_FEATURES] = "GET_FEATURES", [VHU_SET_FEATURES] = "SET_FEATURES",
		[VHU_SET_OWNER] = "SET_OWNER", [VHU_RESET_OWNER] = "RESET_OWNER",
		[VHU_SET_MEM_TABLE] = "SET_MEM_TABLE", [VHU_SET_VRING_NUM] = "SET_VRING_NUM",
		[VHU_SET_VRING_ADDR] = "SET_VRING_ADDR", [VHU_SET_VRING_BASE] = "SET_VRING_BASE",
		[VHU_GET_VRING_BASE] = "GET_VRING_BASE", [VHU_SET_VRING_KICK] = "SET_VRING_KICK",
		[VHU_SET_VRING_CALL] = "SET_VRING_CALL", [VHU_SET_VRING_ERR] = "SET_VRING_ERR",
		[VHU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
		[VHU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES", [VHU_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
		[VHU_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
	};
	return request < sizeof(n) / sizeof(n[0]) && n[request] ? n[request] : "?";
}

uint32_t vhu_request_size(const struct vhu_msg *m)
{
	switch (m->request) {
	case VHU_SET_FEATURES:
	case VHU_SET_PROTOCOL_FEATURES:
	case VHU_SET_VRING_KICK:
	case VHU_SET_VRING_CALL:
	case VHU_SET_VRING_ERR:
		return sizeof(uint64_t);
	case VHU_SET_VRING_NUM:
	case VHU_SET_VRING_BASE:
	case VHU_GET_VRING_BASE:
	case VHU_SET_VRING_ENABLE:
		return sizeof(m->p.state);
	case VHU_SET_VRING_ADDR:
		return sizeof(m->p.addr);
	case VHU_SET_MEM_TABLE: {
		uint32_t n = m->p.mem.nregions <= VHU_MAX_REGIONS ? m->p.mem.nregions : VHU_MAX_REGIONS;
		return 8 + n * (uint32_t)sizeof(struct vhu_region);
	}
	default:
		return 0;
	}
}

int vhu_reply_size(uint32_t request)
{
	switch (request) {
	case VHU_GET_FEATURES:
	case VHU_GET_PROTOCOL_FEATURES:
	case VHU_GET_QUEUE_NUM:
		return sizeof(uint64_t);
	case VHU_GET_VRING_BASE:
		return 8; /* {index, num} */
	default:
		return -1;
	}
}

size_t vhu_build(struct vhu_msg *m, uint32_t request, bool need_reply)
{
	m->request = request;
	m->flags = VHU_VERSION | (need_reply ? VHU_FLAG_NEED_REPLY : 0);
	m->size = vhu_request_size(m);
	return VHU_HDR_SIZE + m->size;
}

int vhu_parse_reply(const void *buf, size_t len, uint32_t request, struct vhu_msg *out, char *err,
		    size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (len < VHU_HDR_SIZE)
		return error_set(err, errlen, -EPROTO, "reply to %s: %zu bytes, shorter than a header", vhu_request_name(request), len);
	memcpy(out, buf, VHU_HDR_SIZE);
	if (out->request != request)
		return error_set(err, errlen, -EPROTO, "reply to %s names request %u", vhu_request_name(request), out->request);
	if ((out->flags & VHU_FLAG_VERSION_MASK) != VHU_VERSION || !(out->flags & VHU_FLAG_REPLY))
		return error_set(err, errlen, -EPROTO, "reply to %s: flags %#x (want version 1 and the reply bit)",
			 vhu_request_name(request), out->flags);
	int want = vhu_reply_size(request);
	/* a REPLY_ACK to any request is a u64 status */
	if (want < 0)
		want = sizeof(uint64_t);
	if (out->size != (uint32_t)want || len != VHU_HDR_SIZE + (size_t)want)
		return error_set(err, errlen, -EPROTO, "reply to %s: payload of %u bytes (%zu read), want %d", vhu_request_name(request),
			 out->size, len - VHU_HDR_SIZE, want);
	memcpy(&out->p, (const char *)buf + VHU_HDR_SIZE, (size_t)want);
	return 0;
}
