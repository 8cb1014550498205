/* See mmds.h. Texts and statuses are Firecracker's (its MMDS user guide and the messages its
 * clients and tests match). */
#include "mmds/mmds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PATH_TO_TOKEN "/latest/api/token"

uint64_t mmds_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct mmds *mmds_new(size_t limit)
{
	struct mmds *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	if (mmds_tokens_init(&m->tokens) < 0) {
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	mmds_store_init(&m->store, limit);
	if (!m->store.data) {
		pthread_mutex_destroy(&m->lock);
		free(m);
		return NULL;
	}
	m->refs = 1;
	m->version = MMDS_V1;
	return m;
}

struct mmds *mmds_ref(struct mmds *m)
{
	if (m)
		__atomic_fetch_add(&m->refs, 1, __ATOMIC_RELAXED);
	return m;
}

void mmds_unref(struct mmds *m)
{
	if (!m || __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	mmds_store_free(&m->store);
	pthread_mutex_destroy(&m->lock);
	memset(&m->tokens, 0, sizeof(m->tokens));
	free(m);
}

void mmds_configure(struct mmds *m, enum mmds_version v, bool imds_compat)
{
	pthread_mutex_lock(&m->lock);
	m->version = v;
	m->imds_compat = imds_compat;
	pthread_mutex_unlock(&m->lock);
}

void mmds_set_limit(struct mmds *m, size_t limit)
{
	pthread_mutex_lock(&m->lock);
	m->store.limit = limit;
	pthread_mutex_unlock(&m->lock);
}

void mmds_set_instance(struct mmds *m, const char *instance_id)
{
	pthread_mutex_lock(&m->lock);
	mmds_tokens_set_instance(&m->tokens, instance_id);
	pthread_mutex_unlock(&m->lock);
}

enum mmds_store_status mmds_put(struct mmds *m, const json_t *data)
{
	pthread_mutex_lock(&m->lock);
	enum mmds_store_status st = mmds_store_put(&m->store, data);
	pthread_mutex_unlock(&m->lock);
	return st;
}

enum mmds_store_status mmds_patch(struct mmds *m, const json_t *patch)
{
	pthread_mutex_lock(&m->lock);
	enum mmds_store_status st = mmds_store_patch(&m->store, patch);
	pthread_mutex_unlock(&m->lock);
	return st;
}

json_t *mmds_get(struct mmds *m)
{
	pthread_mutex_lock(&m->lock);
	json_t *v = mmds_store_get(&m->store);
	pthread_mutex_unlock(&m->lock);
	return v;
}

json_t *mmds_metrics_json(struct mmds *m)
{
#define LD(f) (m ? (json_int_t)__atomic_load_n(&m->metrics.f, __ATOMIC_RELAXED) : 0)
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
			 "rx_accepted", LD(rx_accepted), "rx_accepted_err", LD(rx_accepted_err),
			 "rx_accepted_unusual", LD(rx_accepted_unusual), "rx_bad_eth", LD(rx_bad_eth),
			 "rx_invalid_token", LD(rx_invalid_token), "rx_no_token", LD(rx_no_token),
			 "rx_count", LD(rx_count), "tx_bytes", LD(tx_bytes), "tx_count", LD(tx_count),
			 "tx_errors", LD(tx_errors), "tx_frames", LD(tx_frames),
			 "connections_created", LD(connections_created),
			 "connections_destroyed", LD(connections_destroyed));
#undef LD
}

static void text(struct mmds_buf *out, const struct mmds_http_req *req, unsigned status, const char *msg)
{
	mmds_http_response(out, req->http10, status, "text/plain", NULL, NULL, NULL, msg, strlen(msg));
}

void mmds_respond_error(const struct mmds_http_error *err, struct mmds_buf *out)
{
	mmds_http_response(out, err->http10, err->status, "text/plain", NULL, NULL, NULL, err->msg,
			   strlen(err->msg));
}

/* GET: the value at the path, in the format asked for. Lock held. */
static void get_value(struct mmds *m, const struct mmds_http_req *req, struct mmds_buf *out)
{
	struct mmds_buf body = { 0 };
	bool json = req->accept_json && !m->imds_compat;
	enum mmds_store_status st = mmds_store_lookup(&m->store, req->path, json, &body);
	if (st == MMDS_STORE_OK) {
		mmds_http_response(out, req->http10, 200, json ? "application/json" : "text/plain", NULL,
				   NULL, NULL, body.data ? body.data : "", body.len);
	} else if (st == MMDS_STORE_NOT_FOUND) {
		char msg[MMDS_HTTP_PATH_MAX + 32];
		snprintf(msg, sizeof(msg), "Resource not found: %s.", req->path);
		text(out, req, 404, msg);
	} else if (st == MMDS_STORE_UNSUPPORTED) {
		text(out, req, 501, mmds_store_strerror(st));
	} else {
		text(out, req, 500, "Internal error.");
	}
	mmds_buf_free(&body);
}

static bool token_ok(struct mmds *m, const struct mmds_http_req *req, uint64_t now_ms)
{
	return req->token_len <= MMDS_TOKEN_LEN_LIMIT &&
	       mmds_token_valid(&m->tokens, req->token, req->token_len, now_ms);
}

static void get(struct mmds *m, const struct mmds_http_req *req, uint64_t now_ms, struct mmds_buf *out)
{
	if (!req->has_token) {
		mmds_count(m, rx_no_token, 1);
		if (m->version == MMDS_V2) {
			text(out, req, 401, "No MMDS token provided. Use `X-metadata-token` or "
			     "`X-aws-ec2-metadata-token` header to specify the session token.");
			return;
		}
	} else if (!token_ok(m, req, now_ms)) {
		mmds_count(m, rx_invalid_token, 1);
		if (m->version == MMDS_V2) {
			text(out, req, 401, "MMDS token not valid.");
			return;
		}
	}
	/* V1 answers with or without a (valid) token: the counters tell who is ready for V2. */
	get_value(m, req, out);
}

static void put(struct mmds *m, const struct mmds_http_req *req, uint64_t now_ms, struct mmds_buf *out)
{
	if (req->forwarded_for) {
		text(out, req, 400, "Invalid header. Reason: Unsupported header name. Key: X-Forwarded-For");
		return;
	}
	if (strcmp(req->path, PATH_TO_TOKEN) != 0) {
		char msg[MMDS_HTTP_PATH_MAX + 32];
		snprintf(msg, sizeof(msg), "Resource not found: %s.", req->path);
		text(out, req, 404, msg);
		return;
	}
	if (!req->has_ttl) {
		text(out, req, 400, "Token time to live value not found. Use `X-metadata-token-ttl-seconds` "
		     "or `X-aws-ec2-metadata-token-ttl-seconds` header to specify the token's lifetime.");
		return;
	}
	/* A u32 in decimal, as Rust's parse::<u32> takes it (an optional '+', digits only). */
	const char *v = req->ttl;
	if (*v == '+')
		v++;
	uint64_t ttl = 0;
	bool ok = *v != '\0';
	for (; *v && ok; v++) {
		ok = *v >= '0' && *v <= '9';
		ttl = ttl * 10 + (uint64_t)(*v - '0');
		ok = ok && ttl <= UINT32_MAX;
	}
	char msg[256];
	if (!ok) {
		snprintf(msg, sizeof(msg), "Invalid header. Reason: Invalid value. Key:%s; Value:%s",
			 req->ttl_header, req->ttl);
		text(out, req, 400, msg);
		return;
	}
	char tok[MMDS_TOKEN_LEN + 1];
	if (mmds_token_new(&m->tokens, (uint32_t)ttl, now_ms, tok) < 0) {
		snprintf(msg, sizeof(msg), "Invalid time to live value provided for token: %llu. Please "
			 "provide a value between %d and %d.", (unsigned long long)ttl,
			 MMDS_TOKEN_TTL_MIN, MMDS_TOKEN_TTL_MAX);
		text(out, req, 400, msg);
		return;
	}
	char ttl_text[16];
	snprintf(ttl_text, sizeof(ttl_text), "%llu", (unsigned long long)ttl);
	mmds_http_response(out, req->http10, 200, "text/plain", NULL, req->ttl_header, ttl_text, tok,
			   strlen(tok));
}

void mmds_respond(struct mmds *m, const struct mmds_http_req *req, uint64_t now_ms, struct mmds_buf *out)
{
	if (!req->path[0]) {
		text(out, req, 400, "Invalid URI.");
		return;
	}
	pthread_mutex_lock(&m->lock);
	if (req->method == MMDS_HTTP_GET)
		get(m, req, now_ms, out);
	else if (req->method == MMDS_HTTP_PUT)
		put(m, req, now_ms, out);
	else
		mmds_http_response(out, req->http10, 405, "text/plain", "GET, PUT", NULL, NULL,
				   "Not allowed HTTP method.", strlen("Not allowed HTTP method."));
	pthread_mutex_unlock(&m->lock);
}
