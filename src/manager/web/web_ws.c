/* WebSocket (RFC 6455) for the page's terminal: the handshake's accept key (SHA-1 and base64,
 * nettle) and one session over a connected socket, framed by wslay (Debian's libwslay: frames,
 * masking, fragments, ping/pong, the close handshake): a log file followed and sent as binary
 * messages, the peer's messages handed on; or a socket's bytes relayed both ways (a VM's VNC
 * screen). web_console.c ties it to a VM's console, web_vnc.c to its screen. */
#include "manager/web/web.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wslay/wslay.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_BACKLOG 16384          /* console bytes a new viewer gets first */
#define WS_MAX_IN 4096            /* one message typed (as POST /vms/NAME/console's body) */
#define WS_MAX_QUEUED 64          /* output messages waiting for a slow browser: stop reading the log */
#define WS_POLL_MS 100

int web_ws_accept(const char *key, char out[29])
{
	/* The key is 16 random bytes in base64: 24 characters ending "==". */
	uint8_t raw[BASE64_DECODE_LENGTH(24) + 1];
	size_t rawlen = sizeof(raw);
	struct base64_decode_ctx d;
	if (!key || strlen(key) != 24)
		return -EINVAL;
	base64_decode_init(&d);
	if (!base64_decode_update(&d, &rawlen, raw, 24, key) || !base64_decode_final(&d) || rawlen != 16)
		return -EINVAL;
	struct sha1_ctx h;
	uint8_t digest[SHA1_DIGEST_SIZE];
	sha1_init(&h);
	sha1_update(&h, 24, (const uint8_t *)key);
	sha1_update(&h, sizeof(WS_GUID) - 1, (const uint8_t *)WS_GUID);
	sha1_digest(&h, sizeof(digest), digest);
	base64_encode_raw(out, sizeof(digest), digest);
	out[28] = '\0';
	return 0;
}

struct ws {
	int fd;
	void (*on_msg)(void *, const uint8_t *, size_t);
	void *arg;
};

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
	struct ws *w = user;
	ssize_t n = recv(w->fd, buf, len, MSG_DONTWAIT);
	if (n > 0)
		return n;
	wslay_event_set_error(ctx, n < 0 && (errno == EAGAIN || errno == EINTR) ? WSLAY_ERR_WOULDBLOCK
										: WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
	struct ws *w = user;
	ssize_t n = send(w->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n >= 0)
		return n;
	wslay_event_set_error(ctx, errno == EAGAIN || errno == EINTR ? WSLAY_ERR_WOULDBLOCK : WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

static void ws_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a, void *user)
{
	struct ws *w = user;
	if (!wslay_is_ctrl_frame(a->opcode) && a->msg_length && w->on_msg)
		w->on_msg(w->arg, a->msg, a->msg_length);
}

/* New console output, as binary messages, while a slow browser has not too many waiting. */
static void pump_log(wslay_event_context_ptr ctx, int log)
{
	char buf[8192];
	while (wslay_event_get_queued_msg_count(ctx) < WS_MAX_QUEUED) {
		ssize_t n = read(log, buf, sizeof(buf));
		if (n <= 0)
			return;
		struct wslay_event_msg m = { WSLAY_BINARY_FRAME, (const uint8_t *)buf, (size_t)n };
		if (wslay_event_queue_msg(ctx, &m) < 0)
			return;
	}
}

/* What a relay's peer sent, as binary messages, while a slow browser has not too many waiting:
 * 0, or -1 when the peer closed or failed. */
static int pump_peer(wslay_event_context_ptr ctx, int peer)
{
	uint8_t buf[65536];
	if (wslay_event_get_queued_msg_count(ctx) >= WS_MAX_QUEUED)
		return 0;
	ssize_t n = recv(peer, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return -1;
	struct wslay_event_msg m = { WSLAY_BINARY_FRAME, buf, (size_t)n };
	return wslay_event_queue_msg(ctx, &m) < 0 ? -1 : 0;
}

/* One session: the log file's new lines (log >= 0) or the peer's bytes (peer >= 0) to the
 * browser, its messages to on_msg (max_in bytes each at most). */
static int session(int fd, int log, int peer, size_t max_in, void (*on_msg)(void *, const uint8_t *, size_t),
		   void *arg)
{
	struct ws w = { fd, on_msg, arg };
	const struct wslay_event_callbacks cb = { .recv_callback = ws_recv, .send_callback = ws_send,
						  .on_msg_recv_callback = ws_msg };
	wslay_event_context_ptr ctx;
	if (wslay_event_context_server_init(&ctx, &cb, &w) < 0)
		return -ENOMEM;
	wslay_event_config_set_max_recv_msg_length(ctx, max_in);
	int e = 0;
	while (wslay_event_want_read(ctx) || wslay_event_want_write(ctx)) {
		if (log >= 0 && wslay_event_want_read(ctx))
			pump_log(ctx, log);
		bool peer_room = peer >= 0 && wslay_event_get_queued_msg_count(ctx) < WS_MAX_QUEUED;
		struct pollfd p[2] = { { fd, (short)((wslay_event_want_read(ctx) ? POLLIN : 0) |
						     (wslay_event_want_write(ctx) ? POLLOUT : 0)), 0 },
				       { peer, peer_room ? POLLIN : 0, 0 } };
		int n = poll(p, peer >= 0 ? 2 : 1, WS_POLL_MS);
		if (n < 0 && errno != EINTR) {
			e = -errno;
			break;
		}
		if (n <= 0)
			continue;
		if (peer >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) && pump_peer(ctx, peer) < 0) {
			wslay_event_queue_close(ctx, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0);
			break;
		}
		if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && wslay_event_recv(ctx) != 0)
			break; /* the peer went, or broke the protocol (wslay has queued the close) */
		if ((p[0].revents & POLLOUT) && wslay_event_send(ctx) != 0)
			break;
	}
	/* A close frame queued on the way out is sent if the socket takes it at once. */
	wslay_event_send(ctx);
	wslay_event_context_free(ctx);
	return e;
}

int web_ws_session(int fd, const char *log_path, void (*on_msg)(void *, const uint8_t *, size_t), void *arg)
{
	int log = log_path ? open(log_path, O_RDONLY | O_CLOEXEC) : -1;
	struct stat st;
	if (log >= 0 && fstat(log, &st) == 0 && st.st_size > WS_BACKLOG)
		lseek(log, st.st_size - WS_BACKLOG, SEEK_SET);
	int e = session(fd, log, -1, WS_MAX_IN, on_msg, arg);
	if (log >= 0)
		close(log);
	return e;
}

int web_ws_relay(int fd, int peer, size_t max_in, void (*on_msg)(void *, const uint8_t *, size_t), void *arg)
{
	return session(fd, -1, peer, max_in, on_msg, arg);
}
