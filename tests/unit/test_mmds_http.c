/* MMDS without a VM: what a guest's requests get. HTTP parsing, V2 session tokens, the request
 * handler (V1 and V2, IMDS compatibility) and documents that are not objects. Behaviour follows
 * Firecracker's docs/mmds/mmds-user-guide.md and its src/vmm/src/mmds tests (named in each
 * test's comment). */
#include "unit.h"
#include "mmds_text.h"

#include "mmds/mmds.h"
#include "mmds/proto.h"
#include "mmds/store.h"
#include "mmds/token.h"

#include <errno.h>

/* ---- HTTP ---- */

static size_t parse(const char *text, struct mmds_http_req *r, struct mmds_http_error *e)
{
	return mmds_http_parse(text, strlen(text), r, e);
}

/* The status parsing `text` ends with: 0 for a good request. */
static unsigned parse_status(const char *text)
{
	struct mmds_http_req r;
	struct mmds_http_error e;
	parse(text, &r, &e);
	return e.status;
}

TEST(http_parse_requests)
{
	struct mmds_http_req r;
	struct mmds_http_error e;
	const char *a = "GET http://169.254.169.254//latest///meta-data HTTP/1.0\r\nAccept: application/json\r\n"
			"X-metadata-token: abc \r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n";
	size_t n = parse(a, &r, &e);
	CHECK_EQ(e.status, 0);
	CHECK(n > 0 && n < strlen(a));
	CHECK_STR_EQ(a + n, "GET / HTTP/1.1\r\n\r\n");
	CHECK_STR_EQ(r.path, "/latest/meta-data");
	CHECK(r.http10);
	CHECK(r.accept_json);
	CHECK(r.close);
	CHECK(r.has_token);
	CHECK_STR_EQ(r.token, "abc");
	CHECK_EQ(r.method, MMDS_HTTP_GET);

	CHECK_EQ(parse("GET / HTTP/1.1\r\nHost: x\r\n", &r, &e), 0);   /* not complete */
	n = parse("PUT /latest/api/token HTTP/1.1\nX-aws-ec2-metadata-token-ttl-seconds: 60\n\n", &r, &e);
	CHECK(n > 0);
	CHECK_EQ(e.status, 0);
	CHECK_EQ(r.method, MMDS_HTTP_PUT);
	CHECK(r.has_ttl);
	CHECK_STR_EQ(r.ttl, "60");
	CHECK_STR_EQ(r.ttl_header, "X-aws-ec2-metadata-token-ttl-seconds");

	/* Firecracker's test_guest_mmds_hang: a GET with a body is refused. */
	parse("GET / HTTP/1.1\r\nContent-Length: 100\r\n\r\nsome body", &r, &e);
	CHECK_EQ(e.status, 400);
	CHECK_STR_EQ(e.msg, "Invalid request.");
	CHECK_EQ(parse_status("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), 0);
	CHECK_EQ(parse_status("POST / HTTP/1.1\r\n\r\n"), 501);
	CHECK_EQ(parse_status("GET / HTTP/2.0\r\n\r\n"), 501);
	CHECK_EQ(parse_status("GET latest HTTP/1.1\r\n\r\n"), 400);
	CHECK_EQ(parse_status("GET /\x01 HTTP/1.1\r\n\r\n"), 400);
	CHECK_EQ(parse_status("garbage\r\n\r\n"), 400);
	CHECK_EQ(parse_status("GET / HTTP/1.1\r\nno colon here\r\n\r\n"), 400);
	parse("GET http://169.254.169.254 HTTP/1.1\r\n\r\n", &r, &e);
	CHECK_EQ(e.status, 0);
	CHECK_STR_EQ(r.path, "");
}

/* ---- tokens (Firecracker token.rs tests; test_mmds_v2_negative) ---- */

TEST(token_lifecycle)
{
	struct mmds_tokens t, other;
	REQUIRE_EQ(mmds_tokens_init(&t), 0);
	REQUIRE_EQ(mmds_tokens_init(&other), 0);
	mmds_tokens_set_instance(&t, "vm1");
	char tok[MMDS_TOKEN_LEN + 1];
	CHECK_EQ(mmds_token_new(&t, 0, 1000, tok), -EINVAL);
	CHECK_EQ(mmds_token_new(&t, MMDS_TOKEN_TTL_MAX + 1, 1000, tok), -EINVAL);
	REQUIRE_EQ(mmds_token_new(&t, 1, 1000, tok), 0);
	CHECK_EQ(strlen(tok), MMDS_TOKEN_LEN);
	CHECK(mmds_token_valid(&t, tok, strlen(tok), 1000));
	CHECK(mmds_token_valid(&t, tok, strlen(tok), 1999));
	CHECK(!mmds_token_valid(&t, tok, strlen(tok), 2000));         /* expired */
	CHECK(!mmds_token_valid(&other, tok, strlen(tok), 1000));     /* another process's key */
	mmds_tokens_set_instance(&t, "vm2");
	CHECK(!mmds_token_valid(&t, tok, strlen(tok), 1000));         /* another instance */
	mmds_tokens_set_instance(&t, "vm1");
	char bad[MMDS_TOKEN_LEN + 1];
	memcpy(bad, tok, sizeof(bad));
	bad[3] = bad[3] == 'A' ? 'B' : 'A';
	CHECK(!mmds_token_valid(&t, bad, strlen(bad), 1000));         /* tampered */
	CHECK(!mmds_token_valid(&t, "foo", 3, 1000));
	CHECK(!mmds_token_valid(&t, "", 0, 1000));
	REQUIRE_EQ(mmds_token_new(&t, MMDS_TOKEN_TTL_MAX, 5000, tok), 0);
	CHECK(mmds_token_valid(&t, tok, strlen(tok), 5000 + MMDS_TOKEN_TTL_MAX * 1000ull - 1));
	CHECK(!mmds_token_valid(&t, tok, strlen(tok), 5000 + MMDS_TOKEN_TTL_MAX * 1000ull));
}

/* ---- the request handler (Firecracker mmds/mod.rs test_respond_to_request_mmdsv1/v2) ---- */

static char *respond(struct mmds *m, const char *request, uint64_t now)
{
	struct mmds_http_req r;
	struct mmds_http_error e;
	struct mmds_buf out = { 0 };
	if (!mmds_http_parse(request, strlen(request), &r, &e))
		return strdup("(incomplete)");
	if (e.status)
		mmds_respond_error(&e, &out);
	else
		mmds_respond(m, &r, now, &out);
	return out.data;
}

/* The response to `request` contains `status` and has the body `body` (either NULL: not
 * checked). */
static void check_response(struct mmds *m, const char *request, uint64_t now, const char *status,
			   const char *body)
{
	char *r = respond(m, request, now);
	if (status)
		CHECK_CONTAINS(r, status);
	if (body)
		CHECK_STR_EQ(body_of(r), body);
	free(r);
}

/* PUT or PATCH the document `json` (test text); the store's answer. */
static enum mmds_store_status put(struct mmds *m, const char *json)
{
	json_t *v = J(json);
	enum mmds_store_status r = mmds_put(m, v);
	json_decref(v);
	return r;
}

static enum mmds_store_status patch(struct mmds *m, const char *json)
{
	json_t *v = J(json);
	enum mmds_store_status r = mmds_patch(m, v);
	json_decref(v);
	return r;
}

TEST(respond_v1_and_v2)
{
	struct mmds *m = mmds_new(MMDS_STORE_DEFAULT_LIMIT);
	REQUIRE(m);
	CHECK_EQ(put(m, "{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-87654321\","
			"\"reservation-id\":\"r-79054aef\"}},\"age\":43}"), MMDS_STORE_OK);

	char *r = respond(m, "GET /latest/meta-data HTTP/1.1\r\n\r\n", 0);
	CHECK_CONTAINS(r, "HTTP/1.1 200 \r\n");
	CHECK_CONTAINS(r, "Content-Type: text/plain\r\n");
	CHECK_STR_EQ(body_of(r), "ami-id\nreservation-id");
	free(r);
	r = respond(m, "GET /latest HTTP/1.0\r\nAccept: application/json\r\n\r\n", 0);
	CHECK_CONTAINS(r, "HTTP/1.0 200 \r\n");
	CHECK_CONTAINS(r, "Content-Type: application/json\r\n");
	CHECK_STR_EQ(body_of(r), "{\"meta-data\":{\"ami-id\":\"ami-87654321\",\"reservation-id\":\"r-79054aef\"}}");
	free(r);
	check_response(m, "GET /invalid HTTP/1.0\r\n\r\n", 0, "HTTP/1.0 404 ", "Resource not found: /invalid.");
	check_response(m, "GET /age HTTP/1.1\r\n\r\n", 0, " 501 ",
		       "Cannot retrieve value. The value has an unsupported type.");
	r = respond(m, "PATCH / HTTP/1.1\r\n\r\n", 0);
	CHECK_CONTAINS(r, " 405 ");
	CHECK_CONTAINS(r, "Allow: GET, PUT\r\n");
	free(r);
	check_response(m, "GET http:// HTTP/1.0\r\n\r\n", 0, NULL, "Invalid URI.");
	/* V1: a bad token is counted, not refused. */
	check_response(m, "GET /latest/meta-data/ami-id HTTP/1.1\r\nX-metadata-token: foo\r\n\r\n", 0, NULL,
		       "ami-87654321");
	CHECK_EQ(m->metrics.rx_invalid_token, 1);

	/* imds_compat: text regardless of Accept. */
	mmds_configure(m, MMDS_V1, true);
	check_response(m, "GET /latest HTTP/1.1\r\nAccept: application/json\r\n\r\n", 0, NULL, "meta-data/");

	mmds_configure(m, MMDS_V2, false);
	check_response(m, "GET /latest HTTP/1.1\r\n\r\n", 0, " 401 ",
		       "No MMDS token provided. Use `X-metadata-token` or `X-aws-ec2-metadata-token` "
		       "header to specify the session token.");
	check_response(m, "GET /latest HTTP/1.1\r\nX-metadata-token: foo\r\n\r\n", 0, NULL,
		       "MMDS token not valid.");
	r = respond(m, "PUT /latest/api/token HTTP/1.1\r\n\r\n", 0);
	CHECK_CONTAINS(r, " 400 ");
	CHECK_CONTAINS(body_of(r), "Token time to live value not found.");
	free(r);
	check_response(m, "PUT /latest/api/token HTTP/1.1\r\nX-Forwarded-For: foo\r\n"
		       "X-metadata-token-ttl-seconds: 5\r\n\r\n", 0, NULL,
		       "Invalid header. Reason: Unsupported header name. Key: X-Forwarded-For");
	check_response(m, "PUT /latest/api/toke HTTP/1.1\r\nX-metadata-token-ttl-seconds: 60\r\n\r\n", 0, NULL,
		       "Resource not found: /latest/api/toke.");
	check_response(m, "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 21601\r\n\r\n", 0, NULL,
		       "Invalid time to live value provided for token: 21601. Please provide a value between 1 and 21600.");
	check_response(m, "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: abc\r\n\r\n", 0, " 400 ",
		       NULL);
	r = respond(m, "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 1\r\n\r\n", 1000);
	CHECK_CONTAINS(r, " 200 ");
	CHECK_CONTAINS(r, "X-metadata-token-ttl-seconds: 1\r\n");
	char tok[64];
	snprintf(tok, sizeof(tok), "%s", body_of(r));
	free(r);
	CHECK_EQ(strlen(tok), MMDS_TOKEN_LEN);
	char req[256];
	snprintf(req, sizeof(req), "GET /latest/meta-data/ami-id HTTP/1.1\r\nX-metadata-token: %s\r\n\r\n", tok);
	check_response(m, req, 1500, NULL, "ami-87654321");
	check_response(m, req, 2000, NULL, "MMDS token not valid.");   /* expired */
	mmds_unref(m);
}

/* Firecracker's store is a serde_json Value: PUT /mmds takes any JSON value, a PATCH that is
 * not an object replaces the document (RFC 7396), and guests read whatever is there: JSON
 * as it is, IMDS text only for objects and strings (501 otherwise). Firecracker's
 * data_store.rs put_data/patch_data/get_value, mmds/mod.rs respond_to_get_request. */
static void check_get(struct mmds *m, const char *path, bool json, const char *status, const char *body)
{
	char req[256];
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\n%s\r\n", path, json ? "Accept: application/json\r\n" : "");
	check_response(m, req, 0, status, body);
}

/* The document as the API shows it (GET /mmds), compact, is `want`. */
static void check_api_view(struct mmds *m, const char *want)
{
	json_t *v = mmds_get(m);
	char *t = dump(v);
	json_decref(v);
	CHECK_STR_EQ(t, want);
	free(t);
}

TEST(documents_that_are_not_objects)
{
	struct mmds *m = mmds_new(MMDS_STORE_DEFAULT_LIMIT);
	REQUIRE(m);
	CHECK_EQ(patch(m, "\"just text\""), MMDS_STORE_NOT_INIT);   /* a PATCH of any kind needs a PUT first */
	CHECK_EQ(put(m, "\"just text\""), MMDS_STORE_OK);
	check_api_view(m, "\"just text\"");
	check_get(m, "/", false, " 200 ", "just text");
	check_get(m, "/", true, " 200 ", "\"just text\"");
	check_get(m, "", true, " 400 ", "Invalid URI.");
	check_get(m, "/x", true, " 404 ", "Resource not found: /x.");
	mmds_configure(m, MMDS_V1, true);                    /* IMDS compat: text whatever Accept says */
	check_get(m, "/", true, " 200 ", "just text");
	mmds_configure(m, MMDS_V1, false);

	CHECK_EQ(put(m, "[1,\"a\",{\"k\":\"v\",\"o\":{}},null]"), MMDS_STORE_OK);
	check_get(m, "/", true, " 200 ", "[1,\"a\",{\"k\":\"v\",\"o\":{}},null]");
	check_get(m, "/", false, " 501 ", "Cannot retrieve value. The value has an unsupported type.");
	check_get(m, "/1", false, " 200 ", "a");
	check_get(m, "/2/", false, " 200 ", "k\no/");
	check_get(m, "/2/k", true, " 200 ", "\"v\"");
	check_get(m, "/0", true, " 200 ", "1");
	check_get(m, "/3", true, " 200 ", "null");
	check_get(m, "/4", true, " 404 ", NULL);
	check_get(m, "/-1", true, " 404 ", NULL);

	CHECK_EQ(put(m, "42"), MMDS_STORE_OK);
	check_get(m, "/", true, " 200 ", "42");
	check_get(m, "/", false, " 501 ", NULL);
	CHECK_EQ(put(m, "false"), MMDS_STORE_OK);
	check_get(m, "/", true, " 200 ", "false");

	/* PUT null: initialized, but the API shows {} (Firecracker answers a null store so) and a
	 * guest gets null as JSON */
	CHECK_EQ(put(m, "null"), MMDS_STORE_OK);
	check_api_view(m, "{}");
	check_get(m, "/", true, " 200 ", "null");
	check_get(m, "/", false, " 501 ", NULL);

	/* PATCH: an object patch turns any document into an object; anything else replaces it */
	CHECK_EQ(patch(m, "{\"a\":{\"b\":1},\"gone\":null}"), MMDS_STORE_OK);
	check_api_view(m, "{\"a\":{\"b\":1}}");
	CHECK_EQ(patch(m, "[\"x\"]"), MMDS_STORE_OK);
	check_api_view(m, "[\"x\"]");
	CHECK_EQ(patch(m, "\"y\""), MMDS_STORE_OK);
	check_get(m, "/", false, " 200 ", "y");
	CHECK_EQ(patch(m, "null"), MMDS_STORE_OK);
	check_api_view(m, "{}");
	mmds_unref(m);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
