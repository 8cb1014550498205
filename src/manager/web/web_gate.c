/* The gate every API request passes (web.h says who may do what): programs are who their
 * transport says; browsers hold a session, come from the page's own origin and, to change
 * anything, carry its CSRF token; readonly may only read. */
#include "manager/web/web.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

struct web_config web_cfg;

/* The host part of a Host header ("name:port", "[v6]:port") into out. */
static bool host_part(const char *host, char *out, size_t size)
{
	size_t n;
	if (host[0] == '[') {
		const char *end = strchr(host, ']');
		if (!end)
			return false;
		host++;
		n = (size_t)(end - host);
	} else {
		n = strcspn(host, ":");
	}
	if (n == 0 || n >= size)
		return false;
	memcpy(out, host, n);
	out[n] = '\0';
	return true;
}

bool web_host_allowed(const char *host)
{
	char h[256];
	if (!host || !host_part(host, h, sizeof(h)))
		return false;
	if (!strcasecmp(h, "localhost") || !strcmp(h, "::1"))
		return true;
	unsigned a, b, c, d;
	char tail;
	if (sscanf(h, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 && c < 256 && d < 256)
		return true;
	for (unsigned i = 0; i < web_cfg.nhosts; i++)
		if (!strcasecmp(h, web_cfg.hosts[i]))
			return true;
	return false;
}

/* Origin "scheme://host[:port]" names the Host the request went to (TLS: https only). */
static bool same_origin(const struct web_request *q)
{
	const char *o = q->origin;
	if (!strncasecmp(o, "https://", 8))
		o += 8;
	else if (!q->tls && !strncasecmp(o, "http://", 7))
		o += 7;
	else
		return false;
	return q->host && !strcasecmp(o, q->host);
}

static bool is_browser(const struct web_request *q)
{
	return q->origin || q->cookie || q->fetch_site || q->fetch_mode;
}

/* The CSRF token a WebSocket handshake carries in its query (csrf=TOKEN): a browser cannot set
 * headers on one. */
static bool query_token(const char *query, char out[65])
{
	for (const char *p = query; p && *p;) {
		size_t n = strcspn(p, "&");
		if (n == 69 && !strncmp(p, "csrf=", 5)) {
			memcpy(out, p + 5, 64);
			out[64] = '\0';
			return true;
		}
		p += n + (p[n] == '&');
	}
	return false;
}

unsigned web_browser_check(const struct web_request *q, const char **why)
{
	if (!q->tls && !web_host_allowed(q->host)) {
		*why = "Host is not this machine's loopback or a --web-host (DNS rebinding?)";
		return 403;
	}
	if (q->origin && !same_origin(q)) {
		*why = "cross-origin request refused";
		return 403;
	}
	if (q->fetch_site && strcmp(q->fetch_site, "same-origin") && strcmp(q->fetch_site, "none")) {
		*why = "cross-site request refused";
		return 403;
	}
	return 0;
}

unsigned web_gate(const struct web_request *q, enum web_role *role, struct web_session *session, const char **why)
{
	bool changes = strcmp(q->method, "GET") && strcmp(q->method, "HEAD");
	bool ws = q->upgrade && !strcasecmp(q->upgrade, "websocket");
	session->id[0] = '\0';
	if (!strcmp(q->path, "/whoami") && !changes) { /* who am I: anyone may ask */
		*role = q->transport;
		return 0;
	}
	if (!is_browser(q)) {
		if (q->transport == ROLE_NONE) {
			*why = "log in first (POST /auth/login) or present a client certificate";
			return 401;
		}
		*role = q->transport;
	} else {
		unsigned st = web_browser_check(q, why);
		if (st)
			return st;
		if (web_session_find(q->cookie, q->tls, session) < 0) {
			*why = "no session: log in";
			return 401;
		}
		*role = session->role;
		char token[65] = "";
		if (ws ? !query_token(q->query, token) || !web_token_eq(token, session->csrf)
		       : changes && (!q->csrf || !web_token_eq(q->csrf, session->csrf))) {
			*why = "missing or wrong CSRF token";
			return 403;
		}
	}
	if (changes && *role != ROLE_ADMIN) {
		*why = "read-only user: only an admin may change anything";
		return 403;
	}
	return 0;
}
