/* libFuzzer target: a vhost-user back end's replies (src/vhost/vhost_user_msg.c, and the
 * connection's reader in vhost_user.c), from a back end that lies or sends garbage. The first
 * byte picks the request the reply answers and whether REPLY_ACK was agreed; the rest is what
 * the back end writes on the socket (a socketpair, then closed: the reader must end with an
 * answer, a protocol error or "closed", never crash or wait past its timeout). A reply taken
 * has exactly the payload its request calls for. The same bytes are also a FUSE request header a
 * guest wrote, which virtio-fs answers with an error when its back end is gone. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devices/virtio/virtio_fs.h"
#include "vhost/vhost_user.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

static const uint32_t requests[] = { VHU_GET_FEATURES, VHU_GET_PROTOCOL_FEATURES, VHU_GET_QUEUE_NUM,
				     VHU_GET_VRING_BASE, VHU_SET_FEATURES, VHU_SET_OWNER, VHU_SET_VRING_NUM,
				     VHU_SET_MEM_TABLE };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 4096)
		return 0;
	uint32_t request = requests[data[0] % (sizeof(requests) / sizeof(requests[0]))];
	bool ack = data[0] & 0x80;
	char err[256];

	/* the parser alone, on exactly the bytes */
	uint8_t *copy = fuzz_dup(data + 1, size - 1);
	struct vhu_msg out;
	if (vhu_parse_reply(copy, size - 1, request, &out, err, sizeof(err)) == 0) {
		int want = vhu_reply_size(request);
		FUZZ_CHECK(out.request == request && (out.flags & VHU_FLAG_REPLY));
		FUZZ_CHECK(out.size == (uint32_t)(want < 0 ? 8 : want) && size - 1 == VHU_HDR_SIZE + out.size);
	}
	free(copy);

	/* virtio-fs's error reply to the same bytes as a guest's FUSE request */
	uint8_t fuse_out[FUSE_OUT_HEADER_LEN];
	size_t n = virtio_fs_error_reply(data + 1, size - 1, ENOTCONN, fuse_out);
	FUZZ_CHECK(n == 0 || (n == FUSE_OUT_HEADER_LEN && size - 1 >= FUSE_IN_HEADER_LEN &&
			      !memcmp(fuse_out + 8, data + 9, 8)));

	/* the connection's reader, on a socket that carries them and then closes */
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	if (write(sv[1], data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	close(sv[1]);
	struct vhu_conn c = { .fd = sv[0], .timeout_ms = 1000,
			      .protocol_features = ack ? 1ull << VHU_PROTOCOL_F_REPLY_ACK : 0 };
	struct vhu_msg m = { 0 }, reply;
	m.p.mem.nregions = 1;
	vhu_build(&m, request, true);
	int r = vhu_call(&c, &m, NULL, 0, &reply, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EPROTO || r == -ECONNRESET || r == -EIO || r == -EPIPE);
	if (r == 0 && vhu_reply_size(request) >= 0)
		FUZZ_CHECK(reply.request == request && reply.size == (uint32_t)vhu_reply_size(request));
	vhu_close(&c);
	return 0;
}
