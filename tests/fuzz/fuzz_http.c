/* libFuzzer target: the API's HTTP layer (src/http: server.c and conn.c over http-parser):
 * request lines, headers and bodies as a client sends them, through petrel's own checks (NUL
 * bytes and percent escapes in the path, conflicting Content-Length and Transfer-Encoding,
 * the payload limit, keep-alive and pipelining), on the real server thread and a real Unix
 * socket, with a dry-run controller behind it (fuzz_api fuzzes the routes themselves).
 *
 * Input: byte 0 picks how the rest is written (its first MAX_CHUNKS chunks of that many bytes,
 * then the rest at once; 0 = all at once);
 * the rest is the byte stream of one client connection, after which the client closes its
 * sending side. Checks: everything the server sends back is a run of HTTP/1.x responses, each
 * a status line with a 3-digit status, headers ended by a blank line, a body of its
 * Content-Length (or up to the close), a JSON object with a fault_message when petrel answers
 * an error; the server closes the connection once the client's side is closed (an end of
 * file, never a reset); and after it a
 * fresh `GET /` still gets 200: the server survives whatever a client sends. */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api/controller.h"
#include "api/serve.h"
#include "http/server_int.h"
#include "fuzz_common.h"
#include "util/util.h"

/* The payload limit the server is started with: smaller than the default (51,200 bytes) so
 * that a body over it, chunked or not, fits in a short input. Past about 8 KiB an input is a
 * hundred pipelined requests, each a round trip between this thread and the server's: a
 * corpus grown to 64 KiB inputs ran 300 executions a second instead of 2,000 (2026-11-25). */
#define FUZZ_MAX_PAYLOAD 4096

static struct controller ctl;
static struct api_server *srv;
static char sock_path[108];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level(LOG_OFF);
	FUZZ_CHECK(ctl_init(&ctl, NULL) == 0);
	ctl.dry_run = true;
	snprintf(sock_path, sizeof(sock_path), "/tmp/petrel-fuzz-http-%d.sock", (int)getpid());
	unlink(sock_path);
	FUZZ_CHECK(api_server_start(&srv, &ctl, sock_path, FUZZ_MAX_PAYLOAD) == 0);
	return 0;
}

static int connect_api(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(fd >= 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	memcpy(a.sun_path, sock_path, strlen(sock_path) + 1);
	FUZZ_CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	return fd;
}

/* Everything the server sends until it closes, or until it has been quiet for quiet_ms. */
static size_t read_all(int fd, char *buf, size_t cap, int quiet_ms)
{
	size_t n = 0;
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		int r = poll(&p, 1, quiet_ms);
		if (r == 0)
			return n;
		FUZZ_CHECK(r > 0 || errno == EINTR);
		if (r < 0)
			continue;
		if (n == cap)
			return n;
		ssize_t got = recv(fd, buf + n, cap - n, 0);
		if (got <= 0)
			return n;
		n += (size_t)got;
	}
}

static size_t header_value(const char *head, size_t head_len, const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name);
	for (const char *p = head; p < head + head_len;) {
		const char *eol = memmem(p, (size_t)(head + head_len - p), "\r\n", 2);
		if (!eol)
			break;
		if ((size_t)(eol - p) > nlen + 1 && !strncasecmp(p, name, nlen) && p[nlen] == ':') {
			const char *v = p + nlen + 1;
			while (v < eol && *v == ' ')
				v++;
			size_t len = (size_t)(eol - v) < cap - 1 ? (size_t)(eol - v) : cap - 1;
			memcpy(out, v, len);
			out[len] = '\0';
			return len;
		}
		p = eol + 2;
	}
	return 0;
}

/* The responses in buf[0, n), each well formed. */
static void check_responses(const char *buf, size_t n)
{
	const char *p = buf, *end = buf + n;
	while (p < end) {
		FUZZ_CHECK(end - p >= 12 && (!memcmp(p, "HTTP/1.1 ", 9) || !memcmp(p, "HTTP/1.0 ", 9)));
		for (int i = 9; i < 12; i++)
			FUZZ_CHECK(p[i] >= '0' && p[i] <= '9');
		unsigned status = (unsigned)((p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0'));
		FUZZ_CHECK(status >= 100 && status < 600);
		const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
		FUZZ_CHECK(hend != NULL);
		size_t head_len = (size_t)(hend - p) + 2;
		char v[64];
		const char *body = hend + 4;
		size_t blen = 0;
		if (status < 200) {
			/* an interim answer (100 Continue): no body */
		} else if (header_value(p, head_len, "Content-Length", v, sizeof(v))) {
			char *e;
			blen = strtoul(v, &e, 10);
			FUZZ_CHECK(*e == '\0' && blen <= (size_t)(end - body));
		} else if (status != 204 && status != 304) {
			blen = (size_t)(end - body); /* framed by the close */
		}
		if (status >= 400 && header_value(p, head_len, "Content-Type", v, sizeof(v)) &&
		    !strcmp(v, "application/json")) {
			json_error_t e;
			json_t *j = json_loadb(body, blen, 0, &e);
			FUZZ_CHECK(j && json_is_string(json_object_get(j, "fault_message")));
			json_decref(j);
		}
		p = body + blen;
	}
}

static char reply[1 << 20];

#define MAX_CHUNKS 64

/* Until the server thread has let go of every connection (at most a second): it frees a
 * connection after closing it, so without the wait an execution often ended before that
 * free, and libFuzzer, counting more mallocs than frees, ran a whole LeakSanitizer scan after
 * it (half of this target's time). A connection it really leaks still shows as one. */
static void wait_for_no_connections(void)
{
	uint64_t end = now_ns() + 1000000000ull;
	while (__atomic_load_n(&srv->nconns, __ATOMIC_ACQUIRE) && now_ns() < end)
		sched_yield();
}

/* A fresh connection still gets GET / answered. */
static void check_alive(void)
{
	int fd = connect_api();
	static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	FUZZ_CHECK(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof(req) - 1));
	size_t n = read_all(fd, reply, sizeof(reply), 5000);
	close(fd);
	FUZZ_CHECK(n > 12 && !memcmp(reply, "HTTP/1.1 200 ", 13));
	check_responses(reply, n);
	wait_for_no_connections();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned chunk = data[0];
	data++;
	size--;
	int fd = connect_api();
	struct timeval tv = { 2, 0 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* At most MAX_CHUNKS small writes, then the rest at once: a 60 KB input a byte at a time
	 * was 60,000 send()s and as many server wake-ups (3 ms of CPU per execution, 300 per
	 * second), and the server reads 4 KiB at a time anyway, so later boundaries fall where
	 * its reads do. */
	size_t chunked_end = chunk ? (size < (size_t)chunk * MAX_CHUNKS ? size : (size_t)chunk * MAX_CHUNKS) : 0;
	for (size_t off = 0; off < size;) {
		size_t len = off < chunked_end ? (size - off < chunk ? size - off : chunk) : size - off;
		ssize_t w = send(fd, data + off, len, MSG_NOSIGNAL);
		if (w <= 0)
			break; /* the server closed the connection on us: fine */
		off += (size_t)w;
	}
	shutdown(fd, SHUT_WR);
	size_t n = read_all(fd, reply, sizeof(reply), 5000);
	/* the server has closed the connection, with the end of file: after an answer that closes
	 * it the server drops what we still send (a lingering close), so no byte of ours is left
	 * unread to turn the end into ECONNRESET */
	char extra;
	ssize_t last = recv(fd, &extra, 1, MSG_DONTWAIT);
	FUZZ_CHECK(n == sizeof(reply) || last == 0);
	close(fd);
	check_responses(reply, n);
	check_alive();
	return 0;
}
