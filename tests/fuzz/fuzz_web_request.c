/* libFuzzer target: what a browser's request gives petreld's web page (src/manager/web*.c),
 * and the users file: the path under /ui/ (web_static_file, then served from a directory
 * whose only files are known: nothing else may come back), the Cookie header (a session's
 * id), Host, Origin, Sec-Fetch-Site and the query (the gate, web_gate), a WebSocket key
 * (web_ws_accept), and a users file's line (web_users_parse_line).
 *
 * Input: NUL-separated fields: path, cookie, host, origin, fetch-site, method, query, csrf,
 * ws-key, users line. Checks: an accepted static name has no empty or dot-first segment (so no
 * "..") and only [A-Za-z0-9._/-]; the gate never lets a request through that has no session and is a
 * browser's, nor a change without the session's token, nor a readonly change. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manager/web/web.h"

static char site[64];
static struct web_session adm, ro;
static char good_cookie[100], ro_cookie[100];

static void setup(void)
{
	snprintf(site, sizeof(site), "/tmp/fuzz-web-XXXXXX");
	if (!mkdtemp(site))
		abort();
	char p[128];
	snprintf(p, sizeof(p), "%s/index.html", site);
	FILE *f = fopen(p, "w");
	fputs("index", f);
	fclose(f);
	if (web_session_new("local", ROLE_ADMIN, false, &adm) < 0 || web_session_new("ro", ROLE_READONLY, false, &ro) < 0)
		abort();
	snprintf(good_cookie, sizeof(good_cookie), "petrel_session=%s", adm.id);
	snprintf(ro_cookie, sizeof(ro_cookie), "petrel_session=%s", ro.id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!site[0])
		setup();
	if (size > 8192)
		return 0;
	char *buf = malloc(size + 1);
	memcpy(buf, data, size);
	buf[size] = '\0';
	const char *f[10] = { "", "", "", "", "", "", "", "", "", "" };
	size_t nf = 0;
	for (char *p = buf; nf < 10;) {
		f[nf++] = p;
		char *z = memchr(p, '\0', size + 1 - (size_t)(p - buf));
		if (!z || z == buf + size)
			break;
		p = z + 1;
	}
	/* static files */
	char rel[256];
	if (web_static_file(f[0], rel, sizeof(rel)) == 0) {
		/* "a..b" is a name; a segment that starts with a dot (".", "..", ".git") is not */
		if (rel[0] == '.' || strstr(rel, "/.") || strstr(rel, "//") || rel[strspn(rel, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/")])
			abort();
	}
	struct api_response r = { 0 };
	web_static_answer(site, f[0], &r);
	if (r.status == 200 && strcmp(r.body, "index"))
		abort();
	api_response_free(&r);
	/* the gate: a browser's request with fuzzed headers; the cookie is fuzzed, or one of the
	 * real sessions' with a fuzzed tail */
	const char *cookie = f[1];
	char mixed[200];
	if (f[1][0] == 'A' || f[1][0] == 'R') {
		snprintf(mixed, sizeof(mixed), "%s%s", f[1][0] == 'A' ? good_cookie : ro_cookie, f[1] + 1);
		cookie = mixed;
	}
	struct web_request q = { .method = f[5][0] ? f[5] : "GET", .path = "/vms", .query = f[6], .host = f[2],
				 .origin = f[3][0] ? f[3] : NULL, .cookie = cookie[0] ? cookie : NULL,
				 .fetch_site = f[4][0] ? f[4] : NULL, .csrf = f[7][0] ? f[7] : NULL,
				 .transport = ROLE_ADMIN };
	enum web_role role = ROLE_NONE;
	struct web_session s;
	const char *why;
	bool browser = q.origin || q.cookie || q.fetch_site;
	bool changes = strcmp(q.method, "GET") && strcmp(q.method, "HEAD");
	if (web_gate(&q, &role, &s, &why) == 0 && browser) {
		if (!s.id[0])
			abort(); /* a browser without a session got through */
		if (changes && (role != ROLE_ADMIN || !q.csrf || !web_token_eq(q.csrf, s.csrf)))
			abort();
		if (!web_host_allowed(q.host))
			abort();
	}
	char acc[29];
	web_ws_accept(f[8], acc);
	char name[65], hash[256];
	web_users_parse_line(f[9], name, sizeof(name), &role, hash, sizeof(hash));
	free(buf);
	return 0;
}
