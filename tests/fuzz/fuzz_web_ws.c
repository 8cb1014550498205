/* libFuzzer target: the web console's WebSocket (src/manager/web/web_ws.c over Debian's wslay):
 * the bytes a browser (or anyone reaching GET /vms/NAME/console) sends after the handshake.
 * They are written to one end of a socketpair whose other end runs the real session loop
 * (web_ws_session), then the sending side is shut. Checks: the session ends by itself (the
 * peer's end of file, or a protocol error it answers with a close); every message it hands on
 * is at most 4096 bytes (what one POST /vms/NAME/console may carry); what it sends back parses
 * as server frames (never masked, lengths in bounds). */
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "manager/web/web.h"

static void on_msg(void *arg, const uint8_t *data, size_t len)
{
	if (len == 0 || len > 4096)
		abort();
	volatile uint8_t sink = data[0] ^ data[len - 1]; /* the whole message is readable */
	(void)sink;
	(*(unsigned *)arg)++;
}

static void check_frames(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i + 2 <= n) {
		if (p[i + 1] & 0x80) /* a server never masks */
			abort();
		uint64_t len = p[i + 1] & 0x7f;
		size_t h = 2;
		if (len == 126) {
			if (i + 4 > n)
				return;
			len = (uint64_t)p[i + 2] << 8 | p[i + 3];
			h = 4;
		} else if (len == 127) {
			abort(); /* nothing we send is that long */
		}
		i += h + len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	int big = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	size_t off = 0;
	while (off < size) {
		ssize_t w = send(sv[0], data + off, size - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	shutdown(sv[0], SHUT_WR);
	unsigned msgs = 0;
	web_ws_session(sv[1], NULL, on_msg, &msgs);
	close(sv[1]);
	static uint8_t out[1 << 20];
	size_t got = 0;
	ssize_t r;
	while (got < sizeof(out) && (r = recv(sv[0], out + got, sizeof(out) - got, MSG_DONTWAIT)) > 0)
		got += (size_t)r;
	check_frames(out, got);
	close(sv[0]);
	return 0;
}
