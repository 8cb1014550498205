/* libFuzzer target: virtio-vsock's packet parser (virtio_vsock_parse_tx) and the connection
 * mux behind it (src/vsock/vsock_mux.c), with real Unix sockets on the host side.
 *
 * The input is a script of actions, each one byte (low 4 bits = action) plus arguments:
 *   0 packet from the guest: 44 header bytes, up to 300 payload bytes, descriptor split
 *     points; bit 4 forces the right CIDs and type, bit 5 a known host port (1 or 2)
 *   1 the guest takes a packet: room = next byte * 32
 *   2 host events (vsock_mux_poll)
 *   3 a host peer accepted on port 1/2 writes bytes, 4 ... closes
 *   5 a host client connects to the mux and writes a (possibly bad) CONNECT line
 *   6 time passes (timeouts)
 * Every packet the mux produces must be addressed from CID 2 to the guest, fit the room it
 * was given, and carry a known op; nothing may crash, leak or hang. */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/virtio/vsock.h"
#include "fuzz_common.h"
#include "vsock/vsock_mux.h"

FUZZ_QUIET_LOGS()

#define GUEST_CID 3
#define MAXFD 16

static char dir[64];
static int listeners[2] = { -1, -1 };
static uint64_t fake_now;
static uint64_t fake_clock(void) { return fake_now; }

static int unix_listen(const char *path)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 64) < 0)
		abort();
	return s;
}

static void cleanup(void)
{
	char p[128];
	for (int i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s/v.sock_%d", dir, i + 1);
		unlink(p);
	}
	rmdir(dir);
}

static void setup_once(void)
{
	if (dir[0])
		return;
	atexit(cleanup);
	snprintf(dir, sizeof(dir), "/tmp/petrel-fuzz-vsock-%d", (int)getpid());
	mkdir(dir, 0700);
	char p[128];
	for (int i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s/v.sock_%d", dir, i + 1);
		listeners[i] = unix_listen(p);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup_once();
	static struct vsock_mux mux;
	char path[128];
	snprintf(path, sizeof(path), "%s/v.sock", dir);
	if (vsock_mux_init(&mux, path, GUEST_CID) < 0)
		abort();
	mux.now_ms = fake_clock;
	fake_now = 1000;

	int peers[MAXFD], npeers = 0;
	static uint8_t pkt[44 + 300], rx[4096];
	static struct virtq_chain chain;
	static struct iovec payload[VIRTQ_MAX_CHAIN];
	struct fuzz_input in = { data, size };

	for (int steps = 0; in.left && steps < 200; steps++) {
		uint8_t a = fuzz_byte(&in);
		switch (a & 15) {
		case 0: {
			if (!fuzz_take(&in, pkt, 44))
				break;
			struct vsock_hdr *h = (struct vsock_hdr *)pkt;
			if (a & 16) {
				h->src_cid = GUEST_CID;
				h->dst_cid = VSOCK_HOST_CID;
				h->type = VSOCK_TYPE_STREAM;
				h->op %= 9;
			}
			if (a & 32)
				h->dst_port = 1 + (h->dst_port & 1);
			size_t plen = h->len < 300 ? h->len : fuzz_byte(&in) % 300;
			plen = plen < in.left ? plen : in.left;
			fuzz_take(&in, pkt + 44, plen);
			/* split the packet into descriptors at input-chosen points */
			size_t total = 44 + plen, off = 0;
			unsigned n = 0;
			while (off < total && n < 8) {
				size_t k = (fuzz_byte(&in) % 64) + 1;
				if (k > total - off || n == 7)
					k = total - off;
				chain.iov[n++] = (struct iovec){ pkt + off, k };
				off += k;
			}
			chain.n_out = n;
			chain.n_in = 0;
			chain.out_len = total;
			struct vsock_hdr hh;
			unsigned np;
			int r = virtio_vsock_parse_tx(&chain, &hh, payload, &np);
			FUZZ_CHECK(r == 0 || r == -EINVAL || r == -EMSGSIZE);
			if (r == 0) {
				size_t got = 0;
				for (unsigned i = 0; i < np; i++)
					got += payload[i].iov_len;
				FUZZ_CHECK(got == hh.len);
				vsock_mux_tx(&mux, &hh, payload, np);
			} else if (r == -EMSGSIZE) {
				hh.op = VSOCK_OP_INVALID;
				hh.len = 0;
				vsock_mux_tx(&mux, &hh, NULL, 0);
			}
			break;
		}
		case 1: {
			size_t room = (size_t)fuzz_byte(&in) * 32;
			if (room > sizeof(rx))
				room = sizeof(rx);
			struct iovec iov[2] = { { rx, room / 2 }, { rx + room / 2, room - room / 2 } };
			struct vsock_hdr h;
			if (vsock_mux_rx(&mux, &h, iov, 2, room)) {
				FUZZ_CHECK(h.src_cid == VSOCK_HOST_CID && h.dst_cid == GUEST_CID);
				FUZZ_CHECK(h.type == VSOCK_TYPE_STREAM);
				FUZZ_CHECK(h.op >= VSOCK_OP_REQUEST && h.op <= VSOCK_OP_CREDIT_UPDATE);
				FUZZ_CHECK(h.len <= room && (h.op == VSOCK_OP_RW || h.len == 0));
			}
			break;
		}
		case 2:
			vsock_mux_poll(&mux);
			break;
		case 3:
		case 4: {
			/* pick up what the mux connected to our listeners */
			for (int i = 0; i < 2; i++) {
				int fd;
				while (npeers < MAXFD && (fd = accept4(listeners[i], NULL, NULL, SOCK_NONBLOCK)) >= 0)
					peers[npeers++] = fd;
			}
			if (!npeers)
				break;
			int k = fuzz_byte(&in) % npeers;
			if ((a & 15) == 3) {
				uint8_t n = fuzz_byte(&in);
				static uint8_t junk[256];
				if (send(peers[k], junk, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
					/* full or gone: fine */
				}
			} else {
				close(peers[k]);
				peers[k] = peers[--npeers];
			}
			break;
		}
		case 5: {
			if (npeers == MAXFD)
				break;
			int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			struct sockaddr_un sa = { .sun_family = AF_UNIX };
			snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
			if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
				close(s);
				break;
			}
			char line[40];
			uint8_t kind = fuzz_byte(&in);
			int n;
			if (kind & 1) {
				n = snprintf(line, sizeof(line), "CONNECT %u\n", (unsigned)fuzz_byte(&in));
			} else {
				n = (int)(kind % sizeof(line));
				if (!fuzz_take(&in, line, (size_t)n))
					n = 0;
			}
			if (send(s, line, (size_t)n, MSG_NOSIGNAL) < 0) {
				/* ignore */
			}
			peers[npeers++] = s;
			break;
		}
		case 6:
			fake_now += (uint64_t)fuzz_byte(&in) * 100;
			break;
		default:
			break;
		}
	}
	vsock_mux_destroy(&mux);
	for (int i = 0; i < npeers; i++)
		close(peers[i]);
	for (int i = 0; i < 2; i++) {
		int fd;
		while ((fd = accept4(listeners[i], NULL, NULL, SOCK_NONBLOCK)) >= 0)
			close(fd);
	}
	return 0;
}
