/* Browser sessions: in memory (a petreld restart logs everyone out), at most MAX_SESSIONS,
 * each with a random id (its cookie) and a random CSRF token (X-CSRF-Token on changes), both 32
 * bytes from getrandom. A session ends after IDLE_MS unused or LIFE_MS in all, or at logout. */
#include "manager/util.h"
#include "manager/web/web.h"
#include "util/util.h"

#include <pthread.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define MAX_SESSIONS 256
#define IDLE_MS (30ull * 60 * 1000)
#define LIFE_MS (12ull * 3600 * 1000)
#define COOKIE "petrel_session"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct web_session sessions[MAX_SESSIONS];

const char *web_role_name(enum web_role r)
{
	return r == ROLE_ADMIN ? "admin" : r == ROLE_READONLY ? "readonly" : "none";
}

static int random_hex(char out[65])
{
	unsigned char b[32];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -EIO;
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return 0;
}

static bool live(const struct web_session *s, uint64_t now)
{
	return s->id[0] && now - s->used_ms < IDLE_MS && now - s->created_ms < LIFE_MS;
}

int web_session_new(const char *user, enum web_role role, bool tls, struct web_session *out)
{
	struct web_session s = { .role = role, .tls = tls };
	snprintf(s.user, sizeof(s.user), "%s", user);
	if (random_hex(s.id) < 0 || random_hex(s.csrf) < 0)
		return -EIO;
	s.created_ms = s.used_ms = now_ms();
	pthread_mutex_lock(&lock);
	int e = -ENOSPC;
	for (size_t i = 0; i < MAX_SESSIONS; i++)
		if (!live(&sessions[i], s.created_ms)) {
			sessions[i] = s;
			e = 0;
			break;
		}
	pthread_mutex_unlock(&lock);
	if (!e)
		*out = s;
	return e;
}

/* The value of our cookie in a Cookie header ("a=1; petrel_session=ID; b=2") into out. */
static bool cookie_value(const char *cookie, char out[65])
{
	const size_t klen = strlen(COOKIE);
	for (const char *p = cookie; p && *p;) {
		while (*p == ' ' || *p == ';')
			p++;
		size_t n = strcspn(p, ";");
		if (n > klen && !strncmp(p, COOKIE, klen) && p[klen] == '=' && n - klen - 1 == 64) {
			memcpy(out, p + klen + 1, 64);
			out[64] = '\0';
			return true;
		}
		p += n;
	}
	return false;
}

int web_session_find(const char *cookie, bool tls, struct web_session *out)
{
	char id[65];
	if (!cookie || !cookie_value(cookie, id))
		return -ENOENT;
	uint64_t now = now_ms();
	int e = -ENOENT;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < MAX_SESSIONS; i++) {
		struct web_session *s = &sessions[i];
		if (live(s, now) && s->tls == tls && web_token_eq(s->id, id)) {
			s->used_ms = now;
			*out = *s;
			e = 0;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	return e;
}

void web_session_end(const char *id)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < MAX_SESSIONS; i++)
		if (sessions[i].id[0] && web_token_eq(sessions[i].id, id))
			memset(&sessions[i], 0, sizeof(sessions[i]));
	pthread_mutex_unlock(&lock);
}

char *web_session_cookie(const char *id)
{
	char *line = NULL;
	/* HttpOnly: no script reads it; Secure: only over TLS (browsers take localhost, where the
	 * Unix socket is forwarded to, as secure); SameSite=Strict: no other site's page sends it. */
	if (asprintf(&line, "Set-Cookie: " COOKIE "=%s; Path=/; HttpOnly; Secure; SameSite=Strict%s\r\n",
		     id ? id : "", id ? "" : "; Max-Age=0") < 0)
		return NULL;
	return line;
}
