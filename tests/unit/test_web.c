/* Unit tests of petreld's web page (src/manager/web*.c): which static files a URL may name and
 * that nothing outside the directory is served, the users file and password checks, sessions
 * and their cookie, the gate (who may do what), the WebSocket handshake and framing. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "manager/mgr.h"
#include "manager/web/web.h"
#include "unit.h"

TEST(static_file_names)
{
	char out[256];
	CHECK_EQ(web_static_file("", out, sizeof(out)), 0);
	CHECK_STR_EQ(out, "index.html");
	CHECK_EQ(web_static_file("assets/app.js", out, sizeof(out)), 0);
	CHECK_STR_EQ(out, "assets/app.js");
	CHECK_EQ(web_static_file("a-b_c.1.css", out, sizeof(out)), 0);
	const char *bad[] = { "..", "../etc/passwd", "assets/../../x", "a/..", ".hidden", "assets/.x", "a//b",
			      "/etc/passwd", "assets/", "a\\b", "a%2e", "x y", "a\nb", "é", "a/./b", "." };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (web_static_file(bad[i], out, sizeof(out)) != -EINVAL)
			UNIT_FAIL_("'%s' was accepted", bad[i]);
	}
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK_EQ(web_static_file(longname, out, sizeof(out)), -EINVAL);
}

static char site[64];

static void make_site(void)
{
	snprintf(site, sizeof(site), "/tmp/petrel-web-XXXXXX");
	if (!mkdtemp(site))
		abort();
	char p[128];
	snprintf(p, sizeof(p), "%s/index.html", site);
	FILE *f = fopen(p, "w");
	fputs("<p>hi</p>", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/bin.png", site);
	f = fopen(p, "w");
	fwrite("\x89PNG\0\0\1", 1, 7, f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/dir", site);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/link.html", site);
	if (symlink("/etc/hostname", p) < 0)
		abort();
}

TEST(static_answers_only_files_beneath_the_directory)
{
	make_site();
	struct api_response r = { 0 };
	CHECK_EQ(web_static_answer(site, "", &r), API_DONE);
	CHECK_EQ(r.status, 200);
	CHECK_STR_EQ(r.body, "<p>hi</p>");
	CHECK_STR_EQ(r.content_type, "text/html; charset=utf-8");
	CHECK_CONTAINS(r.headers, "Content-Security-Policy: default-src 'none'");
	api_response_free(&r);
	r = (struct api_response){ 0 };
	web_static_answer(site, "bin.png", &r);
	CHECK_EQ(r.status, 200);
	CHECK_EQ(r.body_len, 7u);
	CHECK(!memcmp(r.body, "\x89PNG\0\0\1", 7));
	CHECK_STR_EQ(r.content_type, "image/png");
	api_response_free(&r);
	const char *no[] = { "link.html", "dir", "missing.js", "../index.html", "dir/../index.html" };
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		r = (struct api_response){ 0 };
		web_static_answer(site, no[i], &r);
		if (r.status != 404)
			UNIT_FAIL_("'%s' answered %u", no[i], r.status);
		api_response_free(&r);
	}
	r = (struct api_response){ 0 };
	web_static_answer(NULL, "index.html", &r); /* no --web-dir: no page */
	CHECK_EQ(r.status, 404);
	api_response_free(&r);
}

TEST(users_file_lines)
{
	char name[65], hash[256];
	enum web_role role;
	CHECK_EQ(web_users_parse_line("ann:admin:$y$j9T$abc$def\n", name, sizeof(name), &role, hash, sizeof(hash)), 1);
	CHECK_STR_EQ(name, "ann");
	CHECK_EQ(role, ROLE_ADMIN);
	CHECK_STR_EQ(hash, "$y$j9T$abc$def");
	CHECK_EQ(web_users_parse_line("  rob:readonly:$6$x", name, sizeof(name), &role, hash, sizeof(hash)), 1);
	CHECK_EQ(role, ROLE_READONLY);
	CHECK_EQ(web_users_parse_line("# a comment", name, sizeof(name), &role, hash, sizeof(hash)), 0);
	CHECK_EQ(web_users_parse_line("\n", name, sizeof(name), &role, hash, sizeof(hash)), 0);
	const char *bad[] = { "ann:root:$y$x", "ann:admin", "ann", ":admin:$y$x", "ann:admin:", "ann:admin:plain",
			      "a n:admin:$y$x", "<b>:admin:$y$x", "ann:admin:$y$x:more", "ann:admin:$y x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (web_users_parse_line(bad[i], name, sizeof(name), &role, hash, sizeof(hash)) != -EINVAL)
			UNIT_FAIL_("'%s' was accepted", bad[i]);
}

TEST(passwords_are_salted_yescrypt_hashes)
{
	char h1[256], h2[256];
	REQUIRE_EQ(web_users_hash("s3cret", h1, sizeof(h1)), 0);
	REQUIRE_EQ(web_users_hash("s3cret", h2, sizeof(h2)), 0);
	CHECK(!strncmp(h1, "$y$", 3));
	CHECK(strcmp(h1, h2) != 0); /* salted */
	char line[600];
	snprintf(line, sizeof(line), "# users\nann:admin:%s\nrob:readonly:%s\n", h1, h2);
	char *file = write_temp(line, strlen(line));
	enum web_role role = ROLE_NONE;
	CHECK_EQ(web_users_check(file, "ann", "s3cret", &role), 0);
	CHECK_EQ(role, ROLE_ADMIN);
	CHECK_EQ(web_users_check(file, "rob", "s3cret", &role), 0);
	CHECK_EQ(role, ROLE_READONLY);
	CHECK_EQ(web_users_check(file, "ann", "s3cret ", &role), -EACCES);
	CHECK_EQ(web_users_check(file, "ann", "", &role), -EACCES);
	CHECK_EQ(web_users_check(file, "nobody", "s3cret", &role), -EACCES);
	CHECK_EQ(web_users_check("/nonexistent/users", "ann", "s3cret", &role), -ENOENT);
	remove_temp(file);
}

TEST(sessions_and_their_cookie)
{
	struct web_session s, f;
	REQUIRE_EQ(web_session_new("ann", ROLE_ADMIN, false, &s), 0);
	CHECK_EQ(strlen(s.id), 64u);
	CHECK_EQ(strlen(s.csrf), 64u);
	CHECK(strcmp(s.id, s.csrf) != 0);
	char cookie[200];
	snprintf(cookie, sizeof(cookie), "a=1; petrel_session=%s; b=2", s.id);
	CHECK_EQ(web_session_find(cookie, false, &f), 0);
	CHECK_STR_EQ(f.user, "ann");
	CHECK_STR_EQ(f.csrf, s.csrf);
	CHECK_EQ(web_session_find(cookie, true, &f), -ENOENT); /* a Unix socket's session is no TLS one */
	CHECK_EQ(web_session_find("petrel_session=0000", false, &f), -ENOENT);
	CHECK_EQ(web_session_find(NULL, false, &f), -ENOENT);
	snprintf(cookie, sizeof(cookie), "xpetrel_session=%s", s.id);
	CHECK_EQ(web_session_find(cookie, false, &f), -ENOENT);
	char *set = web_session_cookie(s.id);
	CHECK_CONTAINS(set, "HttpOnly; Secure; SameSite=Strict");
	free(set);
	set = web_session_cookie(NULL);
	CHECK_CONTAINS(set, "Max-Age=0");
	free(set);
	web_session_end(s.id);
	snprintf(cookie, sizeof(cookie), "petrel_session=%s", s.id);
	CHECK_EQ(web_session_find(cookie, false, &f), -ENOENT);
	CHECK(web_token_eq("abc", "abc"));
	CHECK(!web_token_eq("abc", "abd"));
	CHECK(!web_token_eq("abc", "ab"));
	CHECK(!web_token_eq("", ""));
}

TEST(host_names_a_browser_may_use_on_the_socket)
{
	const char *ok[] = { "localhost", "LOCALHOST:8080", "127.0.0.1", "127.1.2.3:9", "[::1]:80", "[::1]" };
	const char *no[] = { "evil.example", "127.0.0.1.evil.example", "1270.0.0.1", "10.0.0.1:80", "[::2]", "",
			     "localhost.evil", "127.0.0.256" };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!web_host_allowed(ok[i]))
			UNIT_FAIL_("'%s' refused", ok[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (web_host_allowed(no[i]))
			UNIT_FAIL_("'%s' allowed", no[i]);
	CHECK(!web_host_allowed(NULL));
	web_cfg.hosts[0] = "petrel.example";
	web_cfg.nhosts = 1;
	CHECK(web_host_allowed("petrel.example:443"));
	web_cfg.nhosts = 0;
}

TEST(the_gate)
{
	enum web_role role;
	struct web_session s, ro;
	const char *why;
	/* programs: as their transport says */
	struct web_request q = { .method = "POST", .path = "/vms/a/start", .transport = ROLE_ADMIN };
	CHECK_EQ(web_gate(&q, &role, &s, &why), 0u);
	CHECK_EQ(role, ROLE_ADMIN);
	q.transport = ROLE_NONE;
	q.tls = true;
	CHECK_EQ(web_gate(&q, &role, &s, &why), 401u);
	q.method = "GET";
	q.path = "/whoami";
	CHECK_EQ(web_gate(&q, &role, &s, &why), 0u);
	/* browsers: a session, the token to change anything, their own origin */
	struct web_session adm;
	REQUIRE_EQ(web_session_new("local", ROLE_ADMIN, false, &adm), 0);
	REQUIRE_EQ(web_session_new("rob", ROLE_READONLY, false, &ro), 0);
	char ck[100], rck[100];
	snprintf(ck, sizeof(ck), "petrel_session=%s", adm.id);
	snprintf(rck, sizeof(rck), "petrel_session=%s", ro.id);
	q = (struct web_request){ .method = "GET", .path = "/vms", .host = "localhost:8080", .fetch_site = "same-origin",
				  .transport = ROLE_ADMIN };
	CHECK_EQ(web_gate(&q, &role, &s, &why), 401u);
	q.cookie = ck;
	CHECK_EQ(web_gate(&q, &role, &s, &why), 0u);
	q.method = "POST";
	q.path = "/vms/a/destroy";
	CHECK_EQ(web_gate(&q, &role, &s, &why), 403u);
	q.csrf = ro.csrf; /* another session's token */
	CHECK_EQ(web_gate(&q, &role, &s, &why), 403u);
	q.csrf = adm.csrf;
	CHECK_EQ(web_gate(&q, &role, &s, &why), 0u);
	q.origin = "http://localhost:8080";
	CHECK_EQ(web_gate(&q, &role, &s, &why), 0u);
	q.origin = "http://localhost:8081";
	CHECK_EQ(web_gate(&q, &role, &s, &why), 403u);
	q.origin = "null";
	CHECK_EQ(web_gate(&q, &role, &s, &why), 403u);
	q.origin = NULL;
	q.fetch_site = "cross-site";
	CHECK_EQ(web_gate(&q, &role, &s, &why), 403u);
	q.fetch_site = "same-origin";
	q.host = "evil.example:8080"; /* DNS rebinding */
	CHECK_EQ(web_gate(&q, &role, &s, &why), 403u);
	q.host = "localhost:8080";
	/* readonly reads */
	q.cookie = rck;
	q.csrf = ro.csrf;
	CHECK_EQ(web_gate(&q, &role, &s, &why), 403u);
	CHECK_CONTAINS(why, "read-only");
	q.method = "GET";
	CHECK_EQ(web_gate(&q, &role, &s, &why), 0u);
	CHECK_EQ(role, ROLE_READONLY);
	/* a WebSocket carries its token in the query */
	char query[80];
	q = (struct web_request){ .method = "GET", .path = "/vms/a/console", .host = "localhost", .cookie = ck,
				  .origin = "http://localhost", .upgrade = "websocket", .query = "", .transport = ROLE_ADMIN };
	CHECK_EQ(web_gate(&q, &role, &s, &why), 403u);
	snprintf(query, sizeof(query), "csrf=%s", adm.csrf);
	q.query = query;
	CHECK_EQ(web_gate(&q, &role, &s, &why), 0u);
	/* over TLS the Host is the certificate's business, the Origin must be https */
	q = (struct web_request){ .method = "GET", .path = "/vms", .host = "host-a:7443", .origin = "http://host-a:7443",
				  .cookie = ck, .tls = true, .transport = ROLE_NONE };
	CHECK_EQ(web_gate(&q, &role, &s, &why), 403u);
	q.origin = "https://host-a:7443";
	CHECK_EQ(web_gate(&q, &role, &s, &why), 401u); /* the session is the Unix socket's */
	web_session_end(adm.id);
	web_session_end(ro.id);
}

TEST(websocket_accept_key)
{
	char out[29];
	/* RFC 6455 1.3's example */
	CHECK_EQ(web_ws_accept("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
	CHECK_STR_EQ(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	CHECK_EQ(web_ws_accept(NULL, out), -EINVAL);
	CHECK_EQ(web_ws_accept("short", out), -EINVAL);
	CHECK_EQ(web_ws_accept("dGhlIHNhbXBsZSBub25jZQ=!", out), -EINVAL);
	CHECK_EQ(web_ws_accept("AAAAAAAAAAAAAAAAAAAAAAAA", out), -EINVAL); /* 18 bytes, not 16 */
}

struct got {
	uint8_t buf[8192];
	size_t len;
	unsigned msgs;
};

static void on_msg(void *arg, const uint8_t *data, size_t len)
{
	struct got *g = arg;
	if (g->len + len <= sizeof(g->buf)) {
		memcpy(g->buf + g->len, data, len);
		g->len += len;
	}
	g->msgs++;
}

static size_t frame(uint8_t *out, int fin_op, const void *payload, size_t n, bool mask)
{
	size_t i = 0;
	out[i++] = (uint8_t)fin_op;
	if (n < 126) {
		out[i++] = (uint8_t)(n | (mask ? 0x80 : 0));
	} else {
		out[i++] = (uint8_t)(126 | (mask ? 0x80 : 0));
		out[i++] = (uint8_t)(n >> 8);
		out[i++] = (uint8_t)n;
	}
	static const uint8_t k[4] = { 0x11, 0x22, 0x33, 0x44 };
	if (mask) {
		memcpy(out + i, k, 4);
		i += 4;
	}
	for (size_t j = 0; j < n; j++)
		out[i + j] = ((const uint8_t *)payload)[j] ^ (mask ? k[j % 4] : 0);
	return i + n;
}

struct run {
	int fd;
	const char *log;
	struct got got;
};

static void *session_thread(void *arg)
{
	struct run *r = arg;
	web_ws_session(r->fd, r->log, on_msg, &r->got);
	close(r->fd);
	return NULL;
}

/* Read frames from fd until one with opcode op (returns its payload length, -1 at the end). */
static int read_until(int fd, int op, uint8_t *payload, size_t size)
{
	for (;;) {
		uint8_t h[2];
		if (recv(fd, h, 2, MSG_WAITALL) != 2)
			return -1;
		size_t n = h[1] & 0x7f;
		if (n == 126) {
			uint8_t e[2];
			if (recv(fd, e, 2, MSG_WAITALL) != 2)
				return -1;
			n = (size_t)e[0] << 8 | e[1];
		}
		uint8_t buf[70000];
		if (n && recv(fd, buf, n, MSG_WAITALL) != (ssize_t)n)
			return -1;
		if ((h[0] & 0x0f) == op) {
			memcpy(payload, buf, n < size ? n : size);
			return (int)n;
		}
	}
}

TEST(websocket_session_frames)
{
	int sv[2];
	REQUIRE_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	char *log = write_temp("console says <b>hi</b>\n", 23);
	struct run r = { .fd = sv[1], .log = log };
	pthread_t t;
	REQUIRE_EQ(pthread_create(&t, NULL, session_thread, &r), 0);
	uint8_t buf[8192], pl[8192];
	int n = read_until(sv[0], 2, pl, sizeof(pl)); /* the console's backlog, binary */
	CHECK_EQ(n, 23);
	CHECK(!memcmp(pl, "console says <b>hi</b>\n", 23));
	size_t len = frame(buf, 0x81, "ls\n", 3, true); /* a text message */
	len += frame(buf + len, 0x02, "ab", 2, true);   /* a binary one in two fragments */
	len += frame(buf + len, 0x80, "cd", 2, true);
	len += frame(buf + len, 0x89, "ping!", 5, true);
	REQUIRE_EQ(send(sv[0], buf, len, 0), (ssize_t)len);
	n = read_until(sv[0], 0xA, pl, sizeof(pl));
	CHECK_EQ(n, 5);
	CHECK(!memcmp(pl, "ping!", 5));
	/* a message longer than one typed chunk (4096) fails the connection: close 1009 */
	static uint8_t big[5000];
	memset(big, 'x', sizeof(big));
	len = frame(buf, 0x82, big, 4097, true);
	REQUIRE_EQ(send(sv[0], buf, len, 0), (ssize_t)len);
	n = read_until(sv[0], 0x8, pl, sizeof(pl));
	CHECK_EQ(n, 2);
	CHECK_EQ(pl[0] << 8 | pl[1], 1009);
	close(sv[0]);
	pthread_join(t, NULL);
	CHECK_EQ(r.got.msgs, 2u);
	CHECK_EQ(r.got.len, 7u);
	CHECK(!memcmp(r.got.buf, "ls\nabcd", 7));
	remove_temp(log);
}

TEST(websocket_refuses_unmasked_frames)
{
	int sv[2];
	REQUIRE_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct run r = { .fd = sv[1], .log = NULL };
	pthread_t t;
	REQUIRE_EQ(pthread_create(&t, NULL, session_thread, &r), 0);
	uint8_t buf[64], pl[64];
	size_t len = frame(buf, 0x81, "rm -rf /\n", 9, false);
	REQUIRE_EQ(send(sv[0], buf, len, 0), (ssize_t)len);
	int n = read_until(sv[0], 0x8, pl, sizeof(pl));
	CHECK_EQ(n, 2);
	CHECK_EQ(pl[0] << 8 | pl[1], 1002); /* protocol error */
	close(sv[0]);
	pthread_join(t, NULL);
	CHECK_EQ(r.got.msgs, 0u);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
