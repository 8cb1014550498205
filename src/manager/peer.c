/* What the two sides of a migration between hosts share (peer.h): the request bodies, checked
 * strictly (they come from the network), a call to another host's petreld over TLS, the
 * certificates a worker sees, and taking a VM out of the list. */
#include "manager/peer.h"
#include "api/http.h"
#include "migration/url.h"
#include "util/thread_kind.h"
#include "util/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int peer_parse_target(const char *to, char host[256], unsigned *port, char *err, size_t errlen)
{
	size_t n = strlen(to);
	const char *h = to, *p = NULL;
	size_t hl = n;
	if (to[0] == '[') {                         /* [IPv6] or [IPv6]:PORT */
		const char *close = strchr(to, ']');
		if (!close || (close[1] && close[1] != ':'))
			return mgr_err(err, errlen, EINVAL, "to: '%.100s': expected HOST, HOST:PORT or [IPv6]:PORT", to);
		h = to + 1;
		hl = (size_t)(close - h);
		p = close[1] ? close + 2 : NULL;
	} else {
		const char *c = strchr(to, ':');
		if (c && !strchr(c + 1, ':')) {     /* one colon: HOST:PORT; more: a bare IPv6 address */
			hl = (size_t)(c - to);
			p = c + 1;
		}
	}
	if (!hl || hl >= 256)
		return mgr_err(err, errlen, EINVAL, "to: '%.100s': the host must be 1 to 255 bytes", to);
	for (size_t i = 0; i < hl; i++) {
		char c = h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		      c == ':' || c == '_'))
			return mgr_err(err, errlen, EINVAL, "to: '%.100s': a host is a name or an address", to);
	}
	*port = PEER_DEFAULT_PORT;
	if (p) {
		char *end;
		long v = *p >= '0' && *p <= '9' ? strtol(p, &end, 10) : -1;
		if (v < 1 || v > 65535 || *end)
			return mgr_err(err, errlen, EINVAL, "to: '%.100s': the port must be 1-65535", to);
		*port = (unsigned)v;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	return 0;
}

static int uint_member(json_t *o, const char *key, unsigned lo, unsigned hi, unsigned *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return mgr_err(err, errlen, EINVAL, "%s: expected an integer %u-%u", key, lo, hi);
	*out = (unsigned)json_integer_value(v);
	return 0;
}

/* Only the keys given, and an object. */
static json_t *object_of(const char *body, size_t len, const char *const *keys, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(o)) {
		mgr_err(err, errlen, EINVAL, "expected a JSON object%s%s", o ? "" : ": ", o ? "" : je.text);
		json_decref(o);
		return NULL;
	}
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		bool known = false;
		for (const char *const *p = keys; *p; p++)
			known |= !strcmp(k, *p);
		if (!known) {
			mgr_err(err, errlen, EINVAL, "unknown field '%.64s'", k);
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

int peer_migrate_parse(const char *body, size_t len, struct peer_migrate_req *r, char *err, size_t errlen)
{
	static const char *const keys[] = { "to", "downtime_ms", "timeout_s", NULL };
	memset(r, 0, sizeof(*r));
	r->downtime_ms = 300;
	r->timeout_s = 600;
	json_t *o = object_of(body, len, keys, err, errlen);
	if (!o)
		return -EINVAL;
	const char *to = json_string_value(json_object_get(o, "to"));
	int e = !to || strlen(to) != json_string_length(json_object_get(o, "to"))
		? mgr_err(err, errlen, EINVAL, "to: expected \"HOST[:PORT]\", the target host's petreld")
		: peer_parse_target(to, r->host, &r->port, err, errlen);
	if (!e)
		e = uint_member(o, "downtime_ms", 1, 600000, &r->downtime_ms, err, errlen);
	if (!e)
		e = uint_member(o, "timeout_s", 1, 86400, &r->timeout_s, err, errlen);
	json_decref(o);
	return e;
}

int peer_incoming_parse(const char *body, size_t len, struct vm_def *def, unsigned *timeout_s, char *err,
			size_t errlen)
{
	static const char *const keys[] = { "definition", "timeout_s", NULL };
	*timeout_s = 60;
	json_t *o = object_of(body, len, keys, err, errlen);
	if (!o)
		return -EINVAL;
	json_t *d = json_object_get(o, "definition");
	int e = uint_member(o, "timeout_s", 1, 3600, timeout_s, err, errlen);
	char *text = !e && json_is_object(d) ? json_dumps(d, JSON_COMPACT) : NULL;
	if (!e && !text)
		e = mgr_err(err, errlen, EINVAL, "definition: expected the VM's definition (an object)");
	if (!e) {
		char why[400];
		e = def_parse(text, strlen(text), def, why, sizeof(why));
		if (e < 0)
			mgr_err(err, errlen, EINVAL, "definition: %s", why);
	}
	free(text);
	json_decref(o);
	return e;
}

int peer_call(struct manager *m, const char *host, unsigned port, const char *method, const char *path, json_t *body,
	      unsigned timeout_ms, json_t **reply, char *err, size_t errlen)
{
	*reply = NULL;
	if (!m->tls)
		return mgr_err(err, errlen, EINVAL, "this petreld has no certificates: start it with --tls-dir");
	char url[300];
	snprintf(url, sizeof(url), strchr(host, ':') ? "tcp:[%s]:%u" : "tcp:%s:%u", host, port);
	int s = mig_connect(url, (int)timeout_ms, NULL, err, errlen);
	if (s < 0)
		return s;
	/* The target's certificate must name the host we asked for; ours says who we are. */
	struct tls_opts o = { .role = TLS_CLIENT, .server_name = host, .timeout_ms = (int)timeout_ms,
			      .thread_kind = SC_API };
	int fd, e = tls_wrap(s, m->tls, &o, NULL, &fd, err, errlen);
	if (e < 0)
		return e;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL, *out = NULL;
	int st = uhttp_request_fd(fd, method, path, text, timeout_ms, &out);
	free(text);
	if (st < 0) {
		/* A certificate refused after the handshake (TLS 1.3) shows as the connection closed. */
		return mgr_err(err, errlen, -st, "%s %s on %s:%u: %s%s", method, path, host, port, strerror(-st),
			       st == -EPROTO || st == -ECONNRESET ? " (did the target refuse our certificate?)" : "");
	}
	*reply = out ? json_loads(out, 0, NULL) : NULL;
	if (st >= 300) {
		const char *why = json_string_value(json_object_get(*reply, "fault_message"));
		mgr_err(err, errlen, EIO, "the target answered %d: %.300s", st, why ? why : out ? out : "");
	}
	free(out);
	return st;
}

/* Copy dir/name into the jail's /tls, for the worker's uid alone. */
static int copy_in(const char *dir, const char *name, const char *to, unsigned uid, unsigned gid)
{
	char src[PATH_MAX], dst[PATH_MAX + 32];
	snprintf(src, sizeof(src), "%s/%s", dir, name);
	snprintf(dst, sizeof(dst), "%s/%s", to, name);
	unlink(dst);
	int e = copy_file(src, dst);
	if (!e && (chown(dst, uid, gid) < 0 || chmod(dst, 0400) < 0))
		e = -errno;
	return e;
}

int peer_tls_dir_for(struct manager *m, struct vm *vm, char *out, size_t outlen, char *err, size_t errlen)
{
	if (!m->tls_dir)
		return mgr_err(err, errlen, EINVAL, "this petreld has no certificates: start it with --tls-dir");
	if (!vm->jail_dir[0]) {
		snprintf(out, outlen, "%s", m->tls_dir);
		return 0;
	}
	/* A jailed worker sees only its root: the certificates go in as /tls. */
	char to[PATH_MAX + 16];
	snprintf(to, sizeof(to), "%s/root/tls", vm->jail_dir);
	if (mkdir(to, 0700) < 0 && errno != EEXIST)
		return mgr_err(err, errlen, errno, "mkdir %s: %s", to, strerror(errno));
	if (chown(to, vm->def.uid, vm->def.gid) < 0)
		return mgr_err(err, errlen, errno, "chown %s: %s", to, strerror(errno));
	const char *files[] = { "ca.pem", "cert.pem", "key.pem" };
	for (int i = 0; i < 3; i++) {
		int e = copy_in(m->tls_dir, files[i], to, vm->def.uid, vm->def.gid);
		if (e < 0)
			return mgr_err(err, errlen, -e, "cannot put %s/%s in the jail: %s", m->tls_dir, files[i],
				       strerror(-e));
	}
	snprintf(out, outlen, "/tls");
	return 0;
}

int peer_free_port(void)
{
	int s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	socklen_t l = sizeof(a);
	int port = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
			   getsockname(s, (struct sockaddr *)&a, &l) == 0
		? ntohs(a.sin6_port) : -EADDRNOTAVAIL;
	if (s >= 0)
		close(s);
	if (port < 0) {   /* no IPv6: IPv4 */
		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a4 = { .sin_family = AF_INET };
		l = sizeof(a4);
		port = s >= 0 && bind(s, (struct sockaddr *)&a4, sizeof(a4)) == 0 &&
				   getsockname(s, (struct sockaddr *)&a4, &l) == 0
			? ntohs(a4.sin_port) : -EADDRNOTAVAIL;
		if (s >= 0)
			close(s);
	}
	return port;
}

void peer_forget_vm(struct manager *m, struct vm *vm)
{
	for (struct vm **p = &m->vms; *p; p = &(*p)->next)
		if (*p == vm) {
			*p = vm->next;
			break;
		}
	vm_free(vm);
}
