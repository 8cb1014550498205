/* petreld's web page (docs/manager.md#the-web-page): static files from --web-dir, logins and
 * sessions for browsers, the gate every request passes (who asks, may they), the serial
 * console over a WebSocket. All of it rides on petreld's own API server: no second server.
 *
 * Who asks: a program on the Unix socket (petrelctl, curl) is trusted as the socket's
 * permissions say (admin), as before. A browser (a request with Origin, Cookie or
 * Sec-Fetch-* headers) must hold a session: given at GET /auth/session when the transport
 * already authenticates it (the Unix socket, a TLS client certificate) unless --web-login, or
 * at POST /auth/login with a user of --users. Its changes need the session's CSRF token in
 * X-CSRF-Token, its Origin must be the page's own, and on the Unix socket its Host must be a
 * loopback name or a --web-host (DNS rebinding). Roles: admin (everything), readonly (GET). */
#ifndef PETREL_MANAGER_WEB_H
#define PETREL_MANAGER_WEB_H

#include "http/response.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct manager;

enum web_role { ROLE_NONE, ROLE_READONLY, ROLE_ADMIN };

struct web_config {
	const char *dir;            /* the built page (index.html, assets/); NULL: no page */
	const char *users;          /* the users file; NULL: no logins */
	const char *hosts[8];       /* Host names browsers may use on the Unix socket, besides loopback */
	unsigned nhosts;
	bool login_always;          /* --web-login: browsers log in on the Unix socket too */
};
extern struct web_config web_cfg;

/* The request as the gate sees it (web_api.c fills it from the HTTP server). */
struct web_request {
	const char *method, *path, *query;
	const char *host, *origin, *cookie, *csrf, *fetch_site, *fetch_mode, *upgrade, *ws_key;
	enum web_role transport;    /* what the connection itself proves: Unix socket = admin */
	bool tls;
	const char *subject;        /* a TLS client certificate's DN, or NULL */
};

/* web_static.c: the page's files. The relative file a URL path under /ui/ names ("" ->
 * index.html) into out: -EINVAL for anything but [A-Za-z0-9._-] segments (no "..", no dot
 * first, no empty segment) or too long. */
int web_static_file(const char *urlpath, char *out, size_t size);
/* Answer GET/HEAD of that file from dir: 200 with its type, or 404. */
enum api_result web_static_answer(const char *dir, const char *urlpath, struct api_response *r);

/* web_session.c: sessions (in memory), CSRF tokens. */
struct web_session {
	char id[65], csrf[65];
	char user[65];
	enum web_role role;
	bool tls;                   /* made over TLS: good only there (and Unix ones only there) */
	uint64_t created_ms, used_ms;
};
/* A new session for user; its id and token copied into *out. -ENOSPC when full (oldest dropped
 * first: never), -EIO without randomness. */
int web_session_new(const char *user, enum web_role role, bool tls, struct web_session *out);
/* The live session the Cookie header names (petrel_session=ID), copied into *out: 0 or -ENOENT. */
int web_session_find(const char *cookie, bool tls, struct web_session *out);
void web_session_end(const char *id);
/* Equal tokens, in time that does not depend on where they differ. */
bool web_token_eq(const char *a, const char *b);
/* The session cookie's Set-Cookie header line (ending "\r\n"), malloc'd; id NULL: one that clears it. */
char *web_session_cookie(const char *id);
const char *web_role_name(enum web_role r);

/* web_users.c: the users file, one "name:role:crypt-hash" a line ('#' comments). */
/* Parse one line: 1 a user (fields into the outputs), 0 blank or comment, -EINVAL bad. */
int web_users_parse_line(const char *line, char *name, size_t nsize, enum web_role *role, char *hash,
			 size_t hsize);
/* Check user's password against the file: 0 and the role, -EACCES wrong or unknown (the same
 * time either way), -errno for a file that cannot be read. */
int web_users_check(const char *file, const char *user, const char *password, enum web_role *role);
/* A new crypt(3) hash (yescrypt) of password into out. */
int web_users_hash(const char *password, char *out, size_t size);

/* web_gate.c: may this request go on? 0: yes, with *role the asker's (and *session filled for a
 * browser's); else an HTTP status and why. */
unsigned web_gate(const struct web_request *q, enum web_role *role, struct web_session *session, const char **why);
/* A browser's request: its Host (on the Unix socket), Origin and Sec-Fetch-Site are this
 * page's own. 0, or 403 and why. */
unsigned web_browser_check(const struct web_request *q, const char **why);
/* Whether the Host header names this machine's loopback or a --web-host. */
bool web_host_allowed(const char *host);

/* web_ws.c: the WebSocket handshake (RFC 6455 4.2): the Sec-WebSocket-Accept of key, 28
 * characters + NUL into out. -EINVAL for a key that is not 16 bytes in base64. */
int web_ws_accept(const char *key, char out[29]);
/* GET /vms/NAME/console with Upgrade: websocket: the console's output to the browser as binary
 * messages, its messages typed into the guest's serial console (admin only: readonly's are
 * dropped). Fills r with the 101 answer and the stream. */
enum api_result web_ws_console(struct manager *m, const char *vm, const char *key, bool may_type,
			       struct api_response *r);
/* One WebSocket session over a connected descriptor until either side closes or stop says
 * so (the stream's thread): on_msg gets each message the browser sent; the console output
 * comes from the log file at path (its last 16 KiB first), as binary messages. Exposed for
 * tests/fuzz: fd may be any socket, path any file (NULL: none). */
int web_ws_session(int fd, const char *log_path, void (*on_msg)(void *, const uint8_t *, size_t), void *arg);
/* The same with a socket instead of the log: what peer sends goes to the browser as binary
 * messages (until peer closes: on_msg may shut it down to end the session), the browser's
 * messages (max_in bytes at most each) to on_msg. */
int web_ws_relay(int fd, int peer, size_t max_in, void (*on_msg)(void *, const uint8_t *, size_t), void *arg);

/* web_vnc.c: a VM's screen. GET /vms/NAME/vnc with Upgrade: websocket (the page's noVNC) or
 * Upgrade: rfb (petrelctl vnc: the raw stream after the 101): the worker's VNC socket relayed,
 * the viewer's half checked (web_rfb.h; a read-only viewer's input dropped). */
enum api_result web_vnc_connect(struct manager *m, const char *vm, const char *upgrade, const char *key,
				bool may_type, struct api_response *r);
/* GET /vms/NAME/screenshot: the screen as a PNG, read from the worker's VNC socket; with
 * ?width=N (RFB_THUMB_MIN_W..RFB_MAX_DIM) scaled down to that width (the list's thumbnails). */
enum api_result web_vnc_screenshot(struct manager *m, const char *vm, uint32_t width, struct api_response *r,
				   api_done_fn done, void *opaque);

/* web_api.c: the route group. Called first by routes.c's handler: API_DONE with *r when it
 * answered (a refusal, a file, /auth/..., /host, events history); otherwise the request goes
 * on to the API with *role set (readonly: refused there if it changes anything). */
bool web_route(struct manager *m, const char *method, const char *path, const char *body, size_t len,
	       struct api_response *r, void *opaque, enum api_result *res, api_done_fn done);

#endif
