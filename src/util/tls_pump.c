/* The pump (tls.h): one thread per TLS connection moves bytes between the user's plaintext
 * socketpair end and the TLS session, both non-blocking, in one poll loop: decrypted records go
 * to the user as it reads them, the user's bytes go out as records as the peer takes them.
 * Either side's end is passed on (the user's shutdown(SHUT_WR) -> close_notify and FIN; the
 * peer's close_notify or FIN -> the user reads the end of file); a broken connection (a TLS
 * error, a reset, a peer that vanished) closes the user's end at once, so its reads see the end
 * and its writes fail. */
#include "util/log.h"
#include "util/error.h"
#include "util/thread.h"
#include "util/tls_int.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Once the user has closed its end, the peer gets this long to take the rest and say goodbye. */
#define TLS_LINGER_MS 5000

static atomic_uint running;

unsigned tls_pumps_running(void)
{
	return atomic_load(&running);
}

/* Move what can move now, without waiting. Returns 1 if anything moved, 0 if not, -1 when the
 * connection is broken. *want_sock_out: a record waits for the socket to take it. */
static int step(struct tls_pump *t, bool *want_sock_out)
{
	int moved = 0;
	*want_sock_out = false;
	/* peer -> user */
	if (!t->tls_eof && t->down_len == 0) {
		ssize_t r = gt.record_recv(t->session, t->down, sizeof(t->down));
		if (r > 0) {
			t->down_len = (size_t)r;
			t->down_off = 0;
			moved = 1;
		} else if (r == 0) {
			t->tls_eof = true;      /* close_notify */
			moved = 1;
		} else if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED && r != GNUTLS_E_WARNING_ALERT_RECEIVED &&
			   r != GNUTLS_E_REHANDSHAKE) {
			if (r != GNUTLS_E_PREMATURE_TERMINATION)
				log_warn("TLS: the connection broke: %s", gt.strerror((int)r));
			return -1;              /* includes a FIN without close_notify: a peer that died */
		}
	}
	if (t->down_len) {
		ssize_t w = send(t->plain, t->down + t->down_off, t->down_len - t->down_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			t->down_off += (size_t)w;
			if (t->down_off == t->down_len)
				t->down_len = t->down_off = 0;
			moved = 1;
		} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
			return -1;              /* the user is not reading any more */
		}
	}
	if (t->tls_eof && !t->down_len && !t->plain_shut) {
		shutdown(t->plain, SHUT_WR);
		t->plain_shut = true;
		moved = 1;
	}
	/* user -> peer */
	if (!t->plain_eof && t->up_len == 0) {
		ssize_t n = recv(t->plain, t->up, sizeof(t->up), MSG_DONTWAIT);
		if (n > 0) {
			t->up_len = (size_t)n;
			t->up_off = 0;
			moved = 1;
		} else if (n == 0) {
			t->plain_eof = true;
			moved = 1;
		} else if (errno != EAGAIN && errno != EINTR) {
			return -1;
		}
	}
	if (t->up_len) {
		/* After GNUTLS_E_AGAIN the same data must be offered again: up_off only moves on success. */
		ssize_t r = gt.record_send(t->session, t->up + t->up_off, t->up_len - t->up_off);
		if (r > 0) {
			t->up_off += (size_t)r;
			if (t->up_off == t->up_len)
				t->up_len = t->up_off = 0;
			moved = 1;
		} else if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			*want_sock_out = true;
		} else {
			return -1;
		}
	}
	if (t->plain_eof && !t->up_len && !t->bye_sent) {
		int r = gt.bye(t->session, GNUTLS_SHUT_WR);
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			*want_sock_out = true;
		} else {
			shutdown(t->sock, SHUT_WR);
			t->bye_sent = true;
			moved = 1;
		}
	}
	return moved;
}

static void *pump_main(void *arg)
{
	struct tls_pump *t = arg;
	uint64_t linger_until = 0;
	for (;;) {
		bool want_out;
		int r;
		while ((r = step(t, &want_out)) > 0)
			;
		if (r < 0)
			break;
		if (t->bye_sent && (t->tls_eof || t->plain_shut) && !t->down_len)
			break;   /* both directions ended */
		if (t->bye_sent && !linger_until)
			linger_until = now_ns() + TLS_LINGER_MS * 1000000ull;
		if (gt.record_check_pending(t->session) && !t->down_len)
			continue;
		struct pollfd pf[2] = {
			{ .fd = t->sock, .events = (short)((!t->tls_eof && !t->down_len ? POLLIN : 0) | (want_out ? POLLOUT : 0)) },
			{ .fd = t->plain, .events = (short)((!t->plain_eof && !t->up_len ? POLLIN : 0) | (t->down_len ? POLLOUT : 0)) },
		};
		int timeout = -1;
		if (linger_until) {
			uint64_t now = now_ns();
			if (now >= linger_until)
				break;
			timeout = (int)((linger_until - now) / 1000000) + 1;
		}
		if (poll(pf, 2, timeout) < 0 && errno != EINTR)
			break;
		/* An error or hang-up on the user's end with nothing more to read there: it is gone. */
		if ((pf[1].revents & (POLLERR | POLLNVAL)) || ((pf[1].revents & POLLHUP) && t->plain_eof && t->tls_eof))
			break;
	}
	close(t->plain);
	close(t->sock);
	gt.deinit(t->session);
	tls_creds_free(t->creds);
	free(t);
	atomic_fetch_sub(&running, 1);
	return NULL;
}

int tls_pump_start(struct tls_pump *t, int kind, int *plain, char *err, size_t errlen)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		int e = -errno;
		return error_set(err, errlen, e, "TLS: socketpair: %s", strerror(errno));
	}
	int buf = 1 << 20;
	for (int i = 0; i < 2; i++) {
		setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
		setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	}
	fcntl(t->sock, F_SETFL, fcntl(t->sock, F_GETFL) | O_NONBLOCK);
	t->plain = sv[1];
	atomic_fetch_add(&running, 1);
	pthread_t th;
	int e = thread_start(&th, kind, "petrel_tls", pump_main, t);
	if (e < 0) {
		atomic_fetch_sub(&running, 1);
		close(sv[0]);
		close(sv[1]);
		t->plain = -1;
		return error_set(err, errlen, e, "TLS: cannot start the pump thread: %s", strerror(-e));
	}
	pthread_detach(th);
	*plain = sv[0];
	return 0;
}
