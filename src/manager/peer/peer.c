/* What the two sides of a migration between hosts share (peer.h): a call to another host's
 * petreld over TLS, the certificates a worker sees, and taking a VM out of the list. The
 * request bodies: peer_parse.c. */
#include "manager/peer/peer.h"
#include "manager/jail_fill.h"
#include "manager/mgr.h"
#include "http/client.h"
#include "http/server.h"
#include "migration/url.h"
#include "util/thread_kind.h"
#include "util/tls.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int peer_call(struct manager *m, const char *host, unsigned port, const char *method, const char *path, json_t *body,
	      unsigned timeout_ms, json_t **reply, char *err, size_t errlen)
{
	*reply = NULL;
	if (!m->tls)
		return error_set(err, errlen, -EINVAL, "this petreld has no certificates: start it with --tls-dir");
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
		return error_set(err, errlen, st, "%s %s on %s:%u: %s%s", method, path, host, port, strerror(-st),
			       st == -EPROTO || st == -ECONNRESET ? " (did the target refuse our certificate?)" : "");
	}
	*reply = out ? json_loads(out, 0, NULL) : NULL;
	if (st >= 300) {
		const char *why = json_string_value(json_object_get(*reply, "fault_message"));
		error_set(err, errlen, -EIO, "the target answered %d: %.300s", st, why ? why : out ? out : "");
	}
	free(out);
	return st;
}

int peer_tls_body(struct manager *m, struct mgr_vm *vm, json_t *body, const char *url_key, char *err, size_t errlen)
{
	if (!mig_url_is_tls(json_string_value(json_object_get(body, url_key))))
		return 0;
	char dir[PATH_MAX];
	int e = jail_tls_dir(m, vm, dir, sizeof(dir), err, errlen);
	if (e == 0)
		json_object_set_new(body, "tls_dir", json_string(dir));
	return e;
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


void peer_forget_vm(struct manager *m, struct mgr_vm *vm)
{
	for (struct mgr_vm **p = &m->vms; *p; p = &(*p)->next)
		if (*p == vm) {
			*p = vm->next;
			break;
		}
}

void peer_free_vm_later(struct mgr_vm *vm)
{
	/* Taken out of the inventory by peer_forget_vm and no longer busy: nobody holds it now
	 * (the supervisor checks that a VM of its last round is still listed before it looks). */
	mgr_vm_free(vm);
}
