/* The guest agent's client: its socketpair, the sync, one request and its answer within the
 * timeout (agent.h). Reading an answer is agent_json.c's; this file moves bytes and keeps the
 * stream in step: after a timeout, a bad answer, or bytes the guest sent unasked, the next
 * request is preceded by 0xFF + guest-sync-delimited and everything up to its answer is
 * dropped (qemu-guest-agent's schema asks clients to do exactly that). */
#include "agent/agent_int.h"
#include "config/console_ports_config.h"
#include "util/error.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK 65536
#define SHUTDOWN_ERROR_WAIT_MS 500   /* guest-shutdown: how long an error answer is waited for */

static int new_pair(int *ours, int *theirs, char *err, size_t errlen)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return error_set(err, errlen, -errno, "guest agent: socketpair: %s", strerror(errno));
	*ours = sv[0];
	*theirs = sv[1];
	return 0;
}

int guest_agent_create(struct guest_agent **out, unsigned timeout_ms, int *device_fd, char *err, size_t errlen)
{
	struct guest_agent *a = calloc(1, sizeof(*a));
	if (!a)
		return error_oom(err, errlen);
	int e = new_pair(&a->fd, device_fd, err, errlen);
	if (e < 0) {
		free(a);
		return e;
	}
	pthread_mutex_init(&a->lock, NULL);
	a->timeout_ms = timeout_ms ? timeout_ms : GUEST_AGENT_TIMEOUT_DEFAULT;
	*out = a;
	return 0;
}

void guest_agent_free(struct guest_agent *a)
{
	if (!a)
		return;
	char msg[256];
	if (guest_agent_thaw_pending(a, msg, sizeof(msg)) < 0)
		log_warn("guest agent: the guest's file systems may still be frozen: %s", msg);
	close(a->fd);
	agent_rx_free(&a->rx);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

void guest_agent_set_port_check(struct guest_agent *a, bool (*open)(void *opaque), void *opaque)
{
	a->port_open = open;
	a->port_opaque = opaque;
}

unsigned guest_agent_timeout_ms(const struct guest_agent *a)
{
	return a->timeout_ms;
}

int guest_agent_reconnect(struct guest_agent *a, int *device_fd, char *err, size_t errlen)
{
	int ours = -1;
	int e = new_pair(&ours, device_fd, err, errlen);
	if (e < 0)
		return e;
	pthread_mutex_lock(&a->lock);
	close(a->fd);
	a->fd = ours;
	a->synced = false;
	agent_rx_clear(&a->rx);
	pthread_mutex_unlock(&a->lock);
	return 0;
}

/* ---- bytes, each wait bounded by the deadline (now_ms() clock) ---- */

static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		uint64_t now = now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, (int)(deadline - now));
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int send_all(struct guest_agent *a, const char *buf, size_t len, uint64_t deadline)
{
	while (len) {
		ssize_t n = send(a->fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return errno == ECONNRESET ? -EPIPE : -errno;
		int e = wait_fd(a->fd, POLLOUT, deadline);
		if (e < 0)
			return e;
	}
	return 0;
}

/* Whatever the port has now, into rx (waiting up to the deadline for the first byte). */
static int read_some(struct guest_agent *a, uint64_t deadline)
{
	char buf[READ_CHUNK];
	for (;;) {
		ssize_t n = recv(a->fd, buf, sizeof(buf), 0);
		if (n > 0)
			return agent_rx_push(&a->rx, buf, (size_t)n);
		if (n == 0)
			return -EPIPE;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		int e = wait_fd(a->fd, POLLIN, deadline);
		if (e < 0)
			return e;
	}
}

/* The guest sent something nobody asked for (a late answer, garbage): out of step. */
static bool stale_bytes(struct guest_agent *a)
{
	struct pollfd p = { .fd = a->fd, .events = POLLIN };
	return a->rx.len || poll(&p, 1, 0) > 0;
}

static int io_error(int e, const char *cmd, unsigned timeout_ms, char *err, size_t errlen)
{
	if (e == -ETIMEDOUT)
		return error_set(err, errlen, e, "the guest agent did not answer %s within %u ms", cmd, timeout_ms);
	if (e == -EMSGSIZE)
		return error_set(err, errlen, -EPROTO, "the guest agent's answer to %s is longer than %u bytes", cmd,
				 AGENT_LINE_MAX);
	if (e == -EPIPE)
		return error_set(err, errlen, e, "the guest agent's port is closed");
	return error_set(err, errlen, e, "talking to the guest agent (%s): %s", cmd, strerror(-e));
}

/* 0xFF + guest-sync-delimited, then everything dropped up to the answer with our id. Lines
 * that are not it (stale answers, garbage) are skipped; a line over the limit empties the
 * buffer and the search goes on; only the deadline ends it. */
static int sync_locked(struct guest_agent *a, uint64_t deadline, char *err, size_t errlen)
{
	int64_t id;
	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		return error_set(err, errlen, -EIO, "guest agent: getrandom: %s", strerror(errno));
	id &= INT64_MAX;
	char req[128];
	int n = snprintf(req, sizeof(req), "\xff{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":%lld}}\n",
			 (long long)id);
	a->resyncs++;
	agent_rx_clear(&a->rx);
	int e = send_all(a, req, (size_t)n, deadline);
	bool seen = false;
	while (e == 0) {
		e = read_some(a, deadline);
		if (e == -EMSGSIZE) {
			seen = false;
			e = 0;
			continue;
		}
		if (e < 0)
			break;
		if (a->rx.len && memchr(a->rx.buf, AGENT_SENTINEL, a->rx.len))
			seen = agent_rx_sentinel(&a->rx);
		char *line;
		size_t len;
		int got;
		while (seen && (got = agent_rx_line(&a->rx, &line, &len)) == 1) {
			json_t *ret;
			int64_t echoed;
			char ignore[64];
			bool ours = agent_reply_parse(line, len, &ret, ignore, sizeof(ignore)) == 0 &&
				    agent_read_sync(ret, &echoed, ignore, sizeof(ignore)) == 0 && echoed == id;
			json_decref(ret);
			free(line);
			if (ours) {
				a->synced = true;
				return 0;
			}
		}
	}
	return io_error(e, "guest-sync-delimited", a->timeout_ms, err, errlen);
}

/* The next whole line within the deadline. */
static int read_line(struct guest_agent *a, uint64_t deadline, char **line, size_t *len)
{
	for (;;) {
		int got = agent_rx_line(&a->rx, line, len);
		if (got)
			return got < 0 ? got : 0;
		int e = read_some(a, deadline);
		if (e < 0)
			return e;
	}
}

static int request_locked(struct guest_agent *a, const char *cmd, json_t *args, bool answer, unsigned wait_ms,
			  json_t **ret, char *err, size_t errlen)
{
	uint64_t deadline = now_ms() + a->timeout_ms;
	if (a->port_open && !a->port_open(a->port_opaque))
		return error_set(err, errlen, -ENOTCONN, "the guest has not opened its agent port (%s): is "
				 "qemu-guest-agent running?", GUEST_AGENT_PORT_NAME);
	if (a->synced && stale_bytes(a))
		a->synced = false;
	int e;
	if (!a->synced && (e = sync_locked(a, deadline, err, errlen)) < 0) {
		a->timeouts += e == -ETIMEDOUT;
		return e;
	}
	json_t *req = json_pack("{s:s}", "execute", cmd);
	if (req && args)
		json_object_set(req, "arguments", args);
	char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!text)
		return error_oom(err, errlen);
	size_t tlen = strlen(text);
	char *line = realloc(text, tlen + 2);
	if (!line) {
		free(text);
		return error_oom(err, errlen);
	}
	memcpy(line + tlen, "\n", 2);
	e = send_all(a, line, tlen + 1, deadline);
	free(line);
	if (e == 0 && !answer) {
		/* Nothing comes when it works; an error answer comes at once. */
		uint64_t short_deadline = now_ms() + wait_ms;
		a->synced = false;   /* a late answer must not be taken for the next request's */
		size_t len;
		e = read_line(a, short_deadline < deadline ? short_deadline : deadline, &line, &len);
		if (e == -ETIMEDOUT || e == -EPIPE)
			return 0;
		if (e == 0) {
			json_t *r;
			e = agent_reply_parse(line, len, &r, err, errlen);
			json_decref(r);
			free(line);
			return e;
		}
		return io_error(e, cmd, a->timeout_ms, err, errlen);
	}
	size_t len;
	if (e == 0 && (e = read_line(a, deadline, &line, &len)) == 0) {
		json_t *r;
		e = agent_reply_parse(line, len, &r, err, errlen);
		free(line);
		if (e == -EPROTO) {
			a->synced = false;
			a->bad_answers++;
			log_limited(LOG_WARN, "guest agent: %s: %s", cmd, err);
		}
		if (e == 0 && ret)
			*ret = r;
		else
			json_decref(r);
		return e;
	}
	a->synced = false;
	a->timeouts += e == -ETIMEDOUT;
	return io_error(e, cmd, a->timeout_ms, err, errlen);
}

int guest_agent_call(struct guest_agent *a, const char *cmd, json_t *args, json_t **ret, char *err, size_t errlen)
{
	if (ret)
		*ret = NULL;
	pthread_mutex_lock(&a->lock);
	int e = request_locked(a, cmd, args, true, 0, ret, err, errlen);
	pthread_mutex_unlock(&a->lock);
	return e;
}

/* ---- typed ---- */

int guest_agent_ping(struct guest_agent *a, char *err, size_t errlen)
{
	json_t *r;
	int e = guest_agent_call(a, "guest-ping", NULL, &r, err, errlen);
	if (e == 0)
		e = agent_read_empty(r, "guest-ping", err, errlen);
	json_decref(r);
	return e;
}

/* cmd's answer through a typed reader into *out. */
static int call_read(struct guest_agent *a, const char *cmd, json_t *args,
		     int (*read)(json_t *, json_t **, char *, size_t), json_t **out, char *err, size_t errlen)
{
	*out = NULL;
	json_t *r;
	int e = guest_agent_call(a, cmd, args, &r, err, errlen);
	if (e == 0)
		e = read(r, out, err, errlen);
	json_decref(r);
	return e;
}

int guest_agent_info(struct guest_agent *a, json_t **out, char *err, size_t errlen)
{
	return call_read(a, "guest-info", NULL, agent_read_info, out, err, errlen);
}

int guest_agent_interfaces(struct guest_agent *a, json_t **out, char *err, size_t errlen)
{
	return call_read(a, "guest-network-get-interfaces", NULL, agent_read_interfaces, out, err, errlen);
}

int guest_agent_fstrim(struct guest_agent *a, json_t **out, char *err, size_t errlen)
{
	return call_read(a, "guest-fstrim", NULL, agent_read_fstrim, out, err, errlen);
}

int guest_agent_shutdown(struct guest_agent *a, const char *mode, char *err, size_t errlen)
{
	json_t *args = json_pack("{s:s}", "mode", mode);
	if (!args)
		return error_oom(err, errlen);
	pthread_mutex_lock(&a->lock);
	int e = request_locked(a, "guest-shutdown", args, false, SHUTDOWN_ERROR_WAIT_MS, NULL, err, errlen);
	pthread_mutex_unlock(&a->lock);
	json_decref(args);
	return e;
}

int guest_agent_set_time(struct guest_agent *a, int64_t ns, char *err, size_t errlen)
{
	json_t *args = json_pack("{s:I}", "time", (json_int_t)ns), *r = NULL;
	int e = args ? guest_agent_call(a, "guest-set-time", args, &r, err, errlen) : error_oom(err, errlen);
	if (e == 0)
		e = agent_read_empty(r, "guest-set-time", err, errlen);
	json_decref(r);
	json_decref(args);
	return e;
}
