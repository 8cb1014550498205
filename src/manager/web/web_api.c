/* The web page's route group, ahead of petreld's API (api.c calls web_route first):
 *   GET  /ui/FILE               the page's files (public: the login form is one)
 *   GET  /                      a browser's navigation goes to /ui/; programs get the API's answer
 *   GET  /auth/session          who is logged in: {"user", "role", "csrf"}; a browser on a
 *                               transport that already says who it is (the Unix socket, a client
 *                               certificate) gets a session here, unless --web-login
 *   POST /auth/login            {"user", "password"} of --users: a session cookie and the above
 *   POST /auth/logout           ends the session
 *   GET  /host                  this host: name, CPUs, memory (the page's CPU shares)
 *   GET  /vms/NAME/events       the VM's recent events, from its log
 *   GET  /vms/NAME/io           its disk and network byte counters (the page's rate charts)
 *   GET  /vms/NAME/console      with Upgrade: websocket, the serial console (web_ws.c)
 *   GET  /vms/NAME/vnc          with Upgrade: websocket or rfb, the screen over VNC (web_vnc.c)
 *   GET  /vms/NAME/screenshot   the screen as a PNG (web_vnc.c)
 * and the gate (web_gate.c) before every other request. */
#include "manager/events.h"
#include "manager/mgr.h"
#include "manager/stats.h"
#include "manager/util.h"
#include "manager/web/web.h"
#include "manager/web/web_rfb.h"
#include "http/server.h"
#include "util/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#define LOGIN_FAIL_DELAY_MS 1000  /* a wrong password is answered this late: guessing is slow */
#define LOGINS_AT_ONCE 4          /* checks running (each a yescrypt hash): more wait their turn: 429 */

static enum api_result fault(struct api_response *r, unsigned status, const char *msg)
{
	api_response_fault(r, status, "%s", msg);
	return API_DONE;
}

static enum api_result answer(struct api_response *r, unsigned status, json_t *o)
{
	r->status = status;
	r->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return r->body ? API_DONE : fault(r, 500, "out of memory");
}

static json_t *session_json(const struct web_session *s)
{
	return json_pack("{s:s, s:s, s:s}", "user", s->user, "role", web_role_name(s->role), "csrf", s->csrf);
}

/* An answer that starts a session: its cookie and who it is. */
static enum api_result session_answer(struct api_response *r, const struct web_session *s)
{
	enum api_result res = answer(r, 200, session_json(s));
	if (r->status == 200 && !(r->headers = web_session_cookie(s->id)))
		return fault(r, 500, "out of memory");
	return res;
}

static enum api_result auth_session(const struct web_request *q, struct api_response *r)
{
	struct web_session s;
	if (web_session_find(q->cookie, q->tls, &s) == 0)
		return answer(r, 200, session_json(&s));
	if (q->transport == ROLE_NONE || web_cfg.login_always)
		return answer(r, 401, json_pack("{s:s, s:b}", "fault_message", "log in", "login", web_cfg.users != NULL));
	/* The transport says who this is: a session without a password. */
	if (web_session_new(q->subject ? q->subject : "local", q->transport, q->tls, &s) < 0)
		return fault(r, 503, "no room for another session");
	return session_answer(r, &s);
}

/* ---- POST /auth/login: the check (a slow hash) on a thread of its own ---- */

static pthread_mutex_t login_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned logins_running;

struct login {
	char user[65], password[256];
	bool tls;
	api_done_fn done;
	void *opaque;
};

static void *login_thread(void *arg)
{
	struct login *l = arg;
	struct api_response r = { 0 };
	enum web_role role;
	uint64_t t0 = now_ms();
	int e = web_users_check(web_cfg.users, l->user, l->password, &role);
	explicit_bzero(l->password, sizeof(l->password));
	struct web_session s;
	if (e == -EACCES) {
		uint64_t spent = now_ms() - t0;
		if (spent < LOGIN_FAIL_DELAY_MS)
			usleep((useconds_t)(LOGIN_FAIL_DELAY_MS - spent) * 1000);
		fprintf(stderr, "petreld: web login refused for '%s'\n", l->user);
		api_response_fault(&r, 401, "wrong user or password");
	} else if (e < 0) {
		api_response_fault(&r, 500, "cannot read the users file: %s", strerror(-e));
	} else if (web_session_new(l->user, role, l->tls, &s) < 0) {
		api_response_fault(&r, 503, "no room for another session");
	} else {
		fprintf(stderr, "petreld: web login of '%s' (%s)\n", l->user, web_role_name(role));
		session_answer(&r, &s);
	}
	pthread_mutex_lock(&login_lock);
	logins_running--;
	pthread_mutex_unlock(&login_lock);
	l->done(l->opaque, &r);
	free(l);
	return NULL;
}

static enum api_result auth_login(const struct web_request *q, const char *body, size_t len, struct api_response *r,
				  api_done_fn done, void *opaque)
{
	if (strcmp(q->method, "POST"))
		return fault(r, 405, "POST");
	if (!web_cfg.users)
		return fault(r, 404, "no logins here: petreld has no --users file");
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	const char *user = json_string_value(json_object_get(o, "user"));
	const char *pw = json_string_value(json_object_get(o, "password"));
	struct login *l = calloc(1, sizeof(*l));
	bool ok = l && user && pw && strlen(user) < sizeof(l->user) && strlen(pw) < sizeof(l->password);
	if (ok) {
		snprintf(l->user, sizeof(l->user), "%s", user);
		snprintf(l->password, sizeof(l->password), "%s", pw);
	}
	json_decref(o);
	if (!ok) {
		free(l);
		return fault(r, 400, "expected {\"user\": NAME, \"password\": TEXT}");
	}
	l->tls = q->tls;
	l->done = done;
	l->opaque = opaque;
	pthread_mutex_lock(&login_lock);
	bool room = logins_running < LOGINS_AT_ONCE;
	logins_running += room;
	pthread_mutex_unlock(&login_lock);
	bool started = room && mgr_detached(login_thread, l) == 0;
	if (started)
		return API_PENDING;
	if (room) {
		pthread_mutex_lock(&login_lock);
		logins_running--;
		pthread_mutex_unlock(&login_lock);
	}
	explicit_bzero(l->password, sizeof(l->password));
	free(l);
	return fault(r, 429, "too many logins at once: try again");
}

static enum api_result auth_route(const struct web_request *q, const char *body, size_t len,
				  struct api_response *r, api_done_fn done, void *opaque)
{
	const char *why;
	bool browser = q->origin || q->cookie || q->fetch_site || q->fetch_mode;
	unsigned st = browser ? web_browser_check(q, &why) : 0;
	if (st)
		return fault(r, st, why);
	if (!strcmp(q->path, "/auth/session"))
		return strcmp(q->method, "GET") ? fault(r, 405, "GET") : auth_session(q, r);
	if (!strcmp(q->path, "/auth/login"))
		return auth_login(q, body, len, r, done, opaque);
	if (!strcmp(q->path, "/auth/logout")) {
		enum web_role role;
		struct web_session s;
		if (strcmp(q->method, "POST"))
			return fault(r, 405, "POST");
		if ((st = web_gate(q, &role, &s, &why)) && st != 403)
			return fault(r, st, why);
		if (st == 403 && (!s.id[0] || !q->csrf || !web_token_eq(q->csrf, s.csrf)))
			return fault(r, st, why); /* readonly may log out, with its token */
		if (s.id[0])
			web_session_end(s.id);
		r->status = 204;
		if (!(r->headers = web_session_cookie(NULL)))
			return fault(r, 500, "out of memory");
		return API_DONE;
	}
	return fault(r, 404, "unknown path");
}

/* ---- what the page reads besides the API ---- */

static enum api_result host_info(struct api_response *r)
{
	char name[256] = "";
	gethostname(name, sizeof(name) - 1);
	struct sysinfo si;
	if (sysinfo(&si) < 0)
		memset(&si, 0, sizeof(si));
	return answer(r, 200, json_pack("{s:s, s:i, s:I, s:I, s:I, s:[f,f,f]}", "hostname", name, "cpus",
					(int)sysconf(_SC_NPROCESSORS_ONLN), "mem_total_bytes",
					(json_int_t)si.totalram * si.mem_unit, "mem_free_bytes",
					(json_int_t)si.freeram * si.mem_unit, "uptime_s", (json_int_t)si.uptime, "load",
					si.loads[0] / 65536.0, si.loads[1] / 65536.0, si.loads[2] / 65536.0));
}

/* Disk: the bytes petrel's threads made the storage layer read and write (/proc/PID/io);
 * network: each interface's tap as the host counts it (rx: what the guest sent). */
static json_t *io_json(struct manager *m, struct mgr_vm *vm)
{
	json_t *o = json_object(), *nets = json_array();
	if (vm->pid > 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/io", (int)vm->vmm_pid);
		json_object_set_new(o, "disk_read_bytes", json_integer(mgr_read_ll(path, "read_bytes")));
		json_object_set_new(o, "disk_write_bytes", json_integer(mgr_read_ll(path, "write_bytes")));
	}
	size_t i;
	json_t *nic;
	json_array_foreach(json_object_get(vm->def.doc, "network-interfaces"), i, nic) {
		const char *tap = json_string_value(json_object_get(nic, "host_dev_name"));
		json_t *n = json_pack("{s:O?, s:s?}", "iface_id", json_object_get(nic, "iface_id"), "host_dev_name", tap);
		if (tap && vm->pid > 0 && !strchr(tap, '/') && strcmp(tap, ".") && strcmp(tap, "..")) {
			char p[PATH_MAX];
			snprintf(p, sizeof(p), "/sys/class/net/%s/statistics/rx_bytes", tap);
			FILE *f = fopen(p, "re");
			long long rx = -1, tx = -1;
			if (f) {
				if (fscanf(f, "%lld", &rx) != 1)
					rx = -1;
				fclose(f);
			}
			snprintf(p, sizeof(p), "/sys/class/net/%s/statistics/tx_bytes", tap);
			if ((f = fopen(p, "re"))) {
				if (fscanf(f, "%lld", &tx) != 1)
					tx = -1;
				fclose(f);
			}
			json_object_set_new(n, "rx_bytes", json_integer(rx));
			json_object_set_new(n, "tx_bytes", json_integer(tx));
		}
		json_array_append_new(nets, n);
	}
	json_object_set_new(o, "net", nets);
	return o;
}

/* ---- the route group ---- */

static struct web_request request_of(const char *method, const char *path, void *opaque)
{
	/* What the connection proves: the Unix socket's permissions let only root and group petrel
	 * in, a TLS client certificate is one this host's CA signed (both admins, as auth.c);
	 * anonymous TLS proves nothing. */
	const struct api_principal *who = api_request_principal(opaque);
	return (struct web_request){
		.method = method, .path = path, .query = http_request_query(opaque),
		.host = http_request_header(opaque, "Host"), .origin = http_request_header(opaque, "Origin"),
		.cookie = http_request_header(opaque, "Cookie"), .csrf = http_request_header(opaque, "X-CSRF-Token"),
		.fetch_site = http_request_header(opaque, "Sec-Fetch-Site"),
		.fetch_mode = http_request_header(opaque, "Sec-Fetch-Mode"),
		.upgrade = http_request_header(opaque, "Upgrade"),
		.ws_key = http_request_header(opaque, "Sec-WebSocket-Key"),
		.transport = who->kind == API_PRINCIPAL_TLS_ANON ? ROLE_NONE : ROLE_ADMIN,
		.tls = who->kind != API_PRINCIPAL_UNIX,
		.subject = who->kind == API_PRINCIPAL_TLS_CERT ? who->subject : NULL,
	};
}

static bool is_vm_sub(const char *path, const char *sub, char name[VM_NAME_MAX + 1])
{
	if (strncmp(path, "/vms/", 5))
		return false;
	const char *slash = strchr(path + 5, '/');
	size_t n = slash ? (size_t)(slash - path - 5) : 0;
	if (!slash || n == 0 || n > VM_NAME_MAX || strcmp(slash + 1, sub))
		return false;
	memcpy(name, path + 5, n);
	name[n] = '\0';
	return mgr_vm_name_ok(name);
}

/* A screenshot's ?width=N (a thumbnail's; other parameters are not a screenshot's concern): 0
 * without it; false for anything but a number of pixels in RFB_THUMB_MIN_W..RFB_MAX_DIM. */
static bool screenshot_width(const char *query, uint32_t *width)
{
	*width = 0;
	for (const char *p = query; p && *p;) {
		size_t n = strcspn(p, "&");
		if (!strncmp(p, "width=", 6)) {
			unsigned long v = 0;
			size_t i = 6;
			for (; i < n && isdigit((unsigned char)p[i]) && v <= RFB_MAX_DIM; i++)
				v = v * 10 + (unsigned long)(p[i] - '0');
			if (i == 6 || i != n || v < RFB_THUMB_MIN_W || v > RFB_MAX_DIM)
				return false;
			*width = (uint32_t)v;
		}
		p += n + (p[n] == '&');
	}
	return true;
}

bool web_route(struct manager *m, const char *method, const char *path, const char *body, size_t len,
	       struct api_response *r, void *opaque, enum api_result *res, api_done_fn done)
{
	struct web_request q = request_of(method, path, opaque);
	bool read = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	if (!strcmp(path, "/ui") || (!strcmp(path, "/") && read && q.fetch_mode && !strcmp(q.fetch_mode, "navigate"))) {
		r->status = 302;
		r->headers = strdup("Location: /ui/\r\n");
		*res = API_DONE;
		return true;
	}
	if (!strncmp(path, "/ui/", 4)) {
		*res = read ? web_static_answer(web_cfg.dir, path + 4, r) : fault(r, 405, "GET");
		return true;
	}
	if (!strncmp(path, "/auth/", 6)) {
		*res = auth_route(&q, body, len, r, done, opaque);
		return true;
	}
	enum web_role role;
	struct web_session s;
	const char *why;
	unsigned st = web_gate(&q, &role, &s, &why);
	if (st) {
		*res = fault(r, st, why);
		return true;
	}
	char vm[VM_NAME_MAX + 1];
	if (!strcmp(path, "/host") && read) {
		*res = host_info(r);
		return true;
	}
	uint32_t width;
	if (is_vm_sub(path, "vnc", vm) || is_vm_sub(path, "screenshot", vm)) {
		if (!read)
			*res = fault(r, 405, "GET");
		else if (!strcmp(strrchr(path, '/'), "/vnc"))
			*res = web_vnc_connect(m, vm, q.upgrade, q.ws_key, role == ROLE_ADMIN, r);
		else if (!screenshot_width(q.query, &width))
			*res = fault(r, 400, "width: a number of pixels from 16 to 8192");
		else
			*res = web_vnc_screenshot(m, vm, width, r, done, opaque);
		return true;
	}
	bool events = is_vm_sub(path, "events", vm), io = !events && is_vm_sub(path, "io", vm);
	bool ws = !events && !io && q.upgrade && !strcasecmp(q.upgrade, "websocket") && is_vm_sub(path, "console", vm);
	if (!events && !io && !ws)
		return false;
	pthread_mutex_lock(&m->lock);
	struct mgr_vm *v = mgr_vm_find(m, vm);
	json_t *io_now = v && io ? io_json(m, v) : NULL;
	pthread_mutex_unlock(&m->lock);
	if (!v)
		*res = fault(r, 404, "no such VM");
	else if (!read)
		*res = fault(r, 405, "GET");
	else if (events)
		*res = answer(r, 200, events_read_log(m, vm));
	else if (io)
		*res = answer(r, 200, json_incref(io_now));
	else
		*res = web_ws_console(m, vm, q.ws_key, role == ROLE_ADMIN, r);
	json_decref(io_now);
	return true;
}
