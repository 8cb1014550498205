/* MMDS without a VM: the data store (merge patch, lookups, formats, limit), the JSON text,
 * HTTP parsing, V2 tokens, the guest request handler and the ARP/IPv4/TCP stack fed with
 * Ethernet frames. Behaviour follows Firecracker's docs/mmds/mmds-user-guide.md and its
 * src/vmm/src/mmds tests (named in each test's comment). */
#include "unit.h"

#include "mmds/mmds.h"
#include "mmds/proto.h"
#include "mmds/stack.h"
#include "mmds/store.h"
#include "mmds/text.h"
#include "mmds/token.h"

#include <errno.h>

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
	if (!v)
		fprintf(stdout, "  bad test JSON: %s\n", e.text);
	return v;
}

static char *dump(const json_t *v)
{
	struct mmds_buf b = { 0 };
	mmds_json_write(&b, v);
	return b.data;   /* caller frees */
}

/* ---- JSON merge patch (RFC 7396 appendix A; Firecracker's json_patch tests) ---- */

static void check_patch(const char *target, const char *patch, const char *want)
{
	json_t *t = J(target), *p = J(patch), *w = J(want);
	REQUIRE(t && p && w);
	CHECK_EQ(mmds_merge_patch(&t, p), 0);
	char *got = dump(t), *exp = dump(w);
	CHECK_STR_EQ(got, exp);
	free(got);
	free(exp);
	json_decref(t);
	json_decref(p);
	json_decref(w);
}

TEST(merge_patch_rfc7396_examples)
{
	check_patch("{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
	check_patch("{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}");
	check_patch("{\"a\":\"b\"}", "{\"a\":null}", "{}");
	check_patch("{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}");
	check_patch("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
	check_patch("{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}");
	check_patch("{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}");
	check_patch("{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}");
	check_patch("[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]");
	check_patch("{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]");
	check_patch("{\"a\":\"foo\"}", "null", "null");
	check_patch("{\"a\":\"foo\"}", "\"bar\"", "\"bar\"");
	check_patch("{\"e\":null}", "{\"a\":1}", "{\"a\":1,\"e\":null}");
	check_patch("[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}");
	check_patch("{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}");
}

/* serde_json's compact form: sorted keys, short escapes, shortest reals. */
TEST(json_text_matches_serde)
{
	json_t *v = J("{\"b\":1,\"a\":[true,false,null],\"c\":\"x/\\\"\\n\\u0001\\u00e9\",\"d\":12.12,\"e\":1.0,\"f\":-24}");
	REQUIRE(v);
	char *s = dump(v);
	CHECK_STR_EQ(s, "{\"a\":[true,false,null],\"b\":1,\"c\":\"x/\\\"\\n\\u0001\xc3\xa9\",\"d\":12.12,\"e\":1.0,\"f\":-24}");
	CHECK_EQ(mmds_json_size(v), strlen(s));
	free(s);
	json_decref(v);
}

/* ---- the store (Firecracker data_store.rs test_mmds, test_get_value; test_mmds_limit_scenario) ---- */

TEST(store_put_patch_and_not_initialized)
{
	struct mmds_store s;
	mmds_store_init(&s, MMDS_STORE_DEFAULT_LIMIT);
	json_t *empty = mmds_store_get(&s);
	char *t = dump(empty);
	CHECK_STR_EQ(t, "{}");
	free(t);
	json_decref(empty);
	json_t *p = J("{\"user-data\":\"10\"}");
	CHECK_EQ(mmds_store_patch(&s, p), MMDS_STORE_NOT_INIT);
	CHECK_STR_EQ(mmds_store_strerror(MMDS_STORE_NOT_INIT), "The MMDS data store is not initialized.");
	json_t *d = J("{\"meta-data\":{\"iam\":\"dummy\"},\"user-data\":\"1522850095\"}");
	CHECK_EQ(mmds_store_put(&s, d), MMDS_STORE_OK);
	CHECK_EQ(mmds_store_patch(&s, p), MMDS_STORE_OK);
	t = dump(s.data);
	CHECK_STR_EQ(t, "{\"meta-data\":{\"iam\":\"dummy\"},\"user-data\":\"10\"}");
	free(t);
	json_decref(p);
	json_decref(d);
	mmds_store_free(&s);
}

/* The limit is inclusive and counts compact JSON (Firecracker's test_mmds_limit_scenario: its
 * document with a 51137-byte secret is 51195 bytes and fits; 58 bytes without the secret). */
TEST(store_limit)
{
	struct mmds_store s;
	mmds_store_init(&s, MMDS_STORE_DEFAULT_LIMIT);
	char *big = malloc(60000);
	REQUIRE(big);
	json_t *small = J("{\"latest\":{\"meta-data\":{\"ami-id\":\"dummy\"}}}");
	CHECK_EQ(mmds_store_put(&s, small), MMDS_STORE_OK);
	memset(big, 'a', 51200);
	big[51200] = '\0';
	json_t *v = json_pack("{s:{s:{s:s,s:s}}}", "latest", "meta-data", "ami-id", "smth", "secret_key", big);
	CHECK_EQ(mmds_store_put(&s, v), MMDS_STORE_LIMIT);
	CHECK_STR_EQ(mmds_store_strerror(MMDS_STORE_LIMIT), "The MMDS patch request doesn't fit.");
	json_decref(v);
	big[51137] = '\0';
	v = json_pack("{s:{s:{s:s,s:s}}}", "latest", "meta-data", "ami-id", "smth", "secret_key", big);
	CHECK_EQ(mmds_store_patch(&s, v), MMDS_STORE_OK);
	CHECK_EQ(mmds_json_size(s.data), 51195);
	json_decref(v);
	v = J("{\"latest\":{\"meta-data\":{\"secret_key2\":\"bbbbbbbbbb\"}}}");
	CHECK_EQ(mmds_store_patch(&s, v), MMDS_STORE_LIMIT);
	CHECK_EQ(mmds_json_size(s.data), 51195);   /* unchanged */
	json_decref(v);
	memset(big, 'a', 51143);
	big[51142] = '\0';                          /* exactly the limit */
	v = json_pack("{s:{s:{s:s,s:s}}}", "latest", "meta-data", "ami-id", "smth", "secret_key", big);
	CHECK_EQ(mmds_store_put(&s, v), MMDS_STORE_OK);
	CHECK_EQ(mmds_json_size(s.data), 51200);
	json_decref(v);
	big[51142] = 'a';
	big[51143] = '\0';
	v = json_pack("{s:{s:{s:s,s:s}}}", "latest", "meta-data", "ami-id", "smth", "secret_key", big);
	CHECK_EQ(mmds_store_put(&s, v), MMDS_STORE_LIMIT);
	json_decref(v);
	json_decref(small);
	free(big);
	mmds_store_free(&s);
}

static void check_lookup(struct mmds_store *s, const char *path, bool json, int want_st, const char *want)
{
	struct mmds_buf b = { 0 };
	int st = mmds_store_lookup(s, path, json, &b);
	CHECK_EQ(st, want_st);
	if (want && st == MMDS_STORE_OK)
		CHECK_STR_EQ(b.data ? b.data : "", want);
	mmds_buf_free(&b);
}

TEST(store_lookup_formats)
{
	struct mmds_store s;
	mmds_store_init(&s, MMDS_STORE_DEFAULT_LIMIT);
	check_lookup(&s, "/latest", false, MMDS_STORE_NOT_FOUND, NULL);   /* before any PUT */
	json_t *d = J("{\"name\":{\"first\":\"John\",\"second\":\"Doe\"},\"age\":43,"
		      "\"phones\":[\"+401234567\",\"+441234567\"],\"member\":false,"
		      "\"shares_percentage\":12.12,\"balance\":-24,\"a/b\":\"slash\",\"empty\":{}}");
	REQUIRE(d);
	CHECK_EQ(mmds_store_put(&s, d), MMDS_STORE_OK);
	check_lookup(&s, "/invalid_path", true, MMDS_STORE_NOT_FOUND, NULL);
	check_lookup(&s, "/name", true, MMDS_STORE_OK, "{\"first\":\"John\",\"second\":\"Doe\"}");
	check_lookup(&s, "/name", false, MMDS_STORE_OK, "first\nsecond");
	check_lookup(&s, "/name/", false, MMDS_STORE_OK, "first\nsecond");
	check_lookup(&s, "/", false, MMDS_STORE_OK, "a/b\nage\nbalance\nempty/\nmember\nname/\nphones\nshares_percentage");
	check_lookup(&s, "", false, MMDS_STORE_OK, NULL);
	check_lookup(&s, "/age", true, MMDS_STORE_OK, "43");
	check_lookup(&s, "/age", false, MMDS_STORE_UNSUPPORTED, NULL);
	check_lookup(&s, "/phones/", true, MMDS_STORE_OK, "[\"+401234567\",\"+441234567\"]");
	check_lookup(&s, "/phones", false, MMDS_STORE_UNSUPPORTED, NULL);
	check_lookup(&s, "/phones/0/", false, MMDS_STORE_OK, "+401234567");
	check_lookup(&s, "/phones/1", true, MMDS_STORE_OK, "\"+441234567\"");
	check_lookup(&s, "/phones/01", true, MMDS_STORE_NOT_FOUND, NULL);
	check_lookup(&s, "/phones/2", true, MMDS_STORE_NOT_FOUND, NULL);
	check_lookup(&s, "/member", true, MMDS_STORE_OK, "false");
	check_lookup(&s, "/shares_percentage", true, MMDS_STORE_OK, "12.12");
	check_lookup(&s, "/balance", true, MMDS_STORE_OK, "-24");
	check_lookup(&s, "/a~1b", false, MMDS_STORE_OK, "slash");
	check_lookup(&s, "/a~2b", false, MMDS_STORE_NOT_FOUND, NULL);
	check_lookup(&s, "/empty", false, MMDS_STORE_OK, "");
	check_lookup(&s, "/name/first/x", false, MMDS_STORE_NOT_FOUND, NULL);
	check_lookup(&s, "name", false, MMDS_STORE_NOT_FOUND, NULL);
	json_decref(d);
	mmds_store_free(&s);
}

/* ---- HTTP ---- */

static size_t parse(const char *text, struct mmds_http_req *r, struct mmds_http_error *e)
{
	return mmds_http_parse(text, strlen(text), r, e);
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
	parse("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &r, &e);
	CHECK_EQ(e.status, 0);
	parse("POST / HTTP/1.1\r\n\r\n", &r, &e);
	CHECK_EQ(e.status, 501);
	parse("GET / HTTP/2.0\r\n\r\n", &r, &e);
	CHECK_EQ(e.status, 501);
	parse("GET latest HTTP/1.1\r\n\r\n", &r, &e);
	CHECK_EQ(e.status, 400);
	parse("GET /\x01 HTTP/1.1\r\n\r\n", &r, &e);
	CHECK_EQ(e.status, 400);
	parse("garbage\r\n\r\n", &r, &e);
	CHECK_EQ(e.status, 400);
	parse("GET / HTTP/1.1\r\nno colon here\r\n\r\n", &r, &e);
	CHECK_EQ(e.status, 400);
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

static const char *body_of(const char *resp)
{
	const char *p = resp ? strstr(resp, "\r\n\r\n") : NULL;
	return p ? p + 4 : "";
}

TEST(respond_v1_and_v2)
{
	struct mmds *m = mmds_new(MMDS_STORE_DEFAULT_LIMIT);
	REQUIRE(m);
	json_t *d = J("{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-87654321\",\"reservation-id\":\"r-79054aef\"}},\"age\":43}");
	CHECK_EQ(mmds_put(m, d), MMDS_STORE_OK);
	json_decref(d);

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
	r = respond(m, "GET /invalid HTTP/1.0\r\n\r\n", 0);
	CHECK_CONTAINS(r, "HTTP/1.0 404 ");
	CHECK_STR_EQ(body_of(r), "Resource not found: /invalid.");
	free(r);
	r = respond(m, "GET /age HTTP/1.1\r\n\r\n", 0);
	CHECK_CONTAINS(r, " 501 ");
	CHECK_STR_EQ(body_of(r), "Cannot retrieve value. The value has an unsupported type.");
	free(r);
	r = respond(m, "PATCH / HTTP/1.1\r\n\r\n", 0);
	CHECK_CONTAINS(r, " 405 ");
	CHECK_CONTAINS(r, "Allow: GET, PUT\r\n");
	free(r);
	r = respond(m, "GET http:// HTTP/1.0\r\n\r\n", 0);
	CHECK_STR_EQ(body_of(r), "Invalid URI.");
	free(r);
	/* V1: a bad token is counted, not refused. */
	r = respond(m, "GET /latest/meta-data/ami-id HTTP/1.1\r\nX-metadata-token: foo\r\n\r\n", 0);
	CHECK_STR_EQ(body_of(r), "ami-87654321");
	free(r);
	CHECK_EQ(m->metrics.rx_invalid_token, 1);

	/* imds_compat: text regardless of Accept. */
	mmds_configure(m, MMDS_V1, true);
	r = respond(m, "GET /latest HTTP/1.1\r\nAccept: application/json\r\n\r\n", 0);
	CHECK_STR_EQ(body_of(r), "meta-data/");
	free(r);

	mmds_configure(m, MMDS_V2, false);
	r = respond(m, "GET /latest HTTP/1.1\r\n\r\n", 0);
	CHECK_CONTAINS(r, " 401 ");
	CHECK_STR_EQ(body_of(r), "No MMDS token provided. Use `X-metadata-token` or `X-aws-ec2-metadata-token` "
		     "header to specify the session token.");
	free(r);
	r = respond(m, "GET /latest HTTP/1.1\r\nX-metadata-token: foo\r\n\r\n", 0);
	CHECK_STR_EQ(body_of(r), "MMDS token not valid.");
	free(r);
	r = respond(m, "PUT /latest/api/token HTTP/1.1\r\n\r\n", 0);
	CHECK_CONTAINS(r, " 400 ");
	CHECK_CONTAINS(body_of(r), "Token time to live value not found.");
	free(r);
	r = respond(m, "PUT /latest/api/token HTTP/1.1\r\nX-Forwarded-For: foo\r\nX-metadata-token-ttl-seconds: 5\r\n\r\n", 0);
	CHECK_STR_EQ(body_of(r), "Invalid header. Reason: Unsupported header name. Key: X-Forwarded-For");
	free(r);
	r = respond(m, "PUT /latest/api/toke HTTP/1.1\r\nX-metadata-token-ttl-seconds: 60\r\n\r\n", 0);
	CHECK_STR_EQ(body_of(r), "Resource not found: /latest/api/toke.");
	free(r);
	r = respond(m, "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 21601\r\n\r\n", 0);
	CHECK_STR_EQ(body_of(r), "Invalid time to live value provided for token: 21601. Please provide a value between 1 and 21600.");
	free(r);
	r = respond(m, "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: abc\r\n\r\n", 0);
	CHECK_CONTAINS(r, " 400 ");
	free(r);
	r = respond(m, "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 1\r\n\r\n", 1000);
	CHECK_CONTAINS(r, " 200 ");
	CHECK_CONTAINS(r, "X-metadata-token-ttl-seconds: 1\r\n");
	char tok[64];
	snprintf(tok, sizeof(tok), "%s", body_of(r));
	free(r);
	CHECK_EQ(strlen(tok), MMDS_TOKEN_LEN);
	char req[256];
	snprintf(req, sizeof(req), "GET /latest/meta-data/ami-id HTTP/1.1\r\nX-metadata-token: %s\r\n\r\n", tok);
	r = respond(m, req, 1500);
	CHECK_STR_EQ(body_of(r), "ami-87654321");
	free(r);
	r = respond(m, req, 2000);   /* expired */
	CHECK_STR_EQ(body_of(r), "MMDS token not valid.");
	free(r);
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
	char *r = respond(m, req, 0);
	CHECK_CONTAINS(r, status);
	if (body)
		CHECK_STR_EQ(body_of(r), body);
	free(r);
}

static char *api_view(struct mmds *m)
{
	json_t *v = mmds_get(m);
	char *t = dump(v);
	json_decref(v);
	return t;
}

TEST(documents_that_are_not_objects)
{
	struct mmds *m = mmds_new(MMDS_STORE_DEFAULT_LIMIT);
	REQUIRE(m);
	json_t *v = J("\"just text\"");
	CHECK_EQ(mmds_patch(m, v), MMDS_STORE_NOT_INIT);     /* a PATCH of any kind needs a PUT first */
	CHECK_EQ(mmds_put(m, v), MMDS_STORE_OK);
	json_decref(v);
	char *t = api_view(m);
	CHECK_STR_EQ(t, "\"just text\"");
	free(t);
	check_get(m, "/", false, " 200 ", "just text");
	check_get(m, "/", true, " 200 ", "\"just text\"");
	check_get(m, "", true, " 400 ", "Invalid URI.");
	check_get(m, "/x", true, " 404 ", "Resource not found: /x.");
	mmds_configure(m, MMDS_V1, true);                    /* IMDS compat: text whatever Accept says */
	check_get(m, "/", true, " 200 ", "just text");
	mmds_configure(m, MMDS_V1, false);

	v = J("[1,\"a\",{\"k\":\"v\",\"o\":{}},null]");
	CHECK_EQ(mmds_put(m, v), MMDS_STORE_OK);
	json_decref(v);
	check_get(m, "/", true, " 200 ", "[1,\"a\",{\"k\":\"v\",\"o\":{}},null]");
	check_get(m, "/", false, " 501 ", "Cannot retrieve value. The value has an unsupported type.");
	check_get(m, "/1", false, " 200 ", "a");
	check_get(m, "/2/", false, " 200 ", "k\no/");
	check_get(m, "/2/k", true, " 200 ", "\"v\"");
	check_get(m, "/0", true, " 200 ", "1");
	check_get(m, "/3", true, " 200 ", "null");
	check_get(m, "/4", true, " 404 ", NULL);
	check_get(m, "/-1", true, " 404 ", NULL);

	v = J("42");
	CHECK_EQ(mmds_put(m, v), MMDS_STORE_OK);
	json_decref(v);
	check_get(m, "/", true, " 200 ", "42");
	check_get(m, "/", false, " 501 ", NULL);
	v = J("false");
	CHECK_EQ(mmds_put(m, v), MMDS_STORE_OK);
	json_decref(v);
	check_get(m, "/", true, " 200 ", "false");

	/* PUT null: initialized, but the API shows {} (Firecracker answers a null store so) and a
	 * guest gets null as JSON */
	v = J("null");
	CHECK_EQ(mmds_put(m, v), MMDS_STORE_OK);
	json_decref(v);
	t = api_view(m);
	CHECK_STR_EQ(t, "{}");
	free(t);
	check_get(m, "/", true, " 200 ", "null");
	check_get(m, "/", false, " 501 ", NULL);

	/* PATCH: an object patch turns any document into an object; anything else replaces it */
	v = J("{\"a\":{\"b\":1},\"gone\":null}");
	CHECK_EQ(mmds_patch(m, v), MMDS_STORE_OK);
	json_decref(v);
	t = api_view(m);
	CHECK_STR_EQ(t, "{\"a\":{\"b\":1}}");
	free(t);
	v = J("[\"x\"]");
	CHECK_EQ(mmds_patch(m, v), MMDS_STORE_OK);
	json_decref(v);
	t = api_view(m);
	CHECK_STR_EQ(t, "[\"x\"]");
	free(t);
	v = J("\"y\"");
	CHECK_EQ(mmds_patch(m, v), MMDS_STORE_OK);
	json_decref(v);
	check_get(m, "/", false, " 200 ", "y");
	v = J("null");
	CHECK_EQ(mmds_patch(m, v), MMDS_STORE_OK);
	json_decref(v);
	t = api_view(m);
	CHECK_STR_EQ(t, "{}");
	free(t);
	mmds_unref(m);
}

/* The limit counts a scalar's compact JSON too: a string of n bytes is n + 2. */
TEST(limit_on_scalar_documents)
{
	struct mmds_store s;
	mmds_store_init(&s, 100);
	char text[128];
	memset(text, 'a', sizeof(text));
	json_t *v = json_stringn(text, 98);
	CHECK_EQ(mmds_store_put(&s, v), MMDS_STORE_OK);
	CHECK_EQ(mmds_json_size(s.data), 100);
	json_decref(v);
	v = json_stringn(text, 99);
	CHECK_EQ(mmds_store_put(&s, v), MMDS_STORE_LIMIT);
	CHECK_EQ(mmds_store_patch(&s, v), MMDS_STORE_LIMIT);
	CHECK_EQ(mmds_json_size(s.data), 100);               /* unchanged */
	json_decref(v);
	v = J("12345678901234567");
	CHECK_EQ(mmds_store_patch(&s, v), MMDS_STORE_OK);
	CHECK(json_is_integer(s.data));
	json_decref(v);
	mmds_store_free(&s);
}

/* ---- the network stack, frame by frame ---- */

#define GUEST_IP 0x0a000002u    /* 10.0.0.2 */
static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

struct peer {
	struct mmds_stack s;
	struct mmds *m;
	uint16_t port;
	uint32_t seq, ack;    /* the guest's next seq, what it acknowledges */
	uint64_t now;
};

static size_t guest_frame(uint8_t *f, uint16_t port, uint32_t seq, uint32_t ack, uint8_t flags,
			  const char *data, size_t len, uint16_t mss)
{
	memcpy(f, "\x06\x01\x23\x45\x67\x01", 6);
	memcpy(f + 6, guest_mac, 6);
	wr16(f + 12, ETHERTYPE_IPV4);
	struct mmds_tcp_seg s = { .remote_ip = MMDS_DEFAULT_IPV4, .remote_port = 80, .local_port = port,
				  .seq = seq, .ack = ack, .flags = flags, .window = 64000, .mss = mss,
				  .data = (const uint8_t *)data, .len = len };
	return ETH_HDR_LEN + ip_write_tcp(f + ETH_HDR_LEN, GUEST_IP, 1, &s);
}

static void send_seg(struct peer *p, uint8_t flags, const char *data, size_t len)
{
	static uint8_t f[8192];
	size_t n = guest_frame(f, p->port, p->seq, p->ack, flags, data, len, flags & TCP_SYN ? 1460 : 0);
	CHECK(mmds_stack_wants(&p->s, f, n));
	mmds_stack_rx(&p->s, f, n, false, p->now);
	p->seq += (uint32_t)len + !!(flags & TCP_SYN) + !!(flags & TCP_FIN);
}

/* The next segment MMDS sends (false if none), checked as the guest's kernel would. */
static bool recv_seg(struct peer *p, struct mmds_tcp_seg *seg, uint8_t *buf)
{
	size_t n = mmds_stack_tx(&p->s, buf, p->now);
	if (!n)
		return false;
	CHECK(n <= MMDS_FRAME_MAX);
	CHECK(!memcmp(buf, guest_mac, 6));
	CHECK_EQ(rd16(buf + 12), ETHERTYPE_IPV4);
	CHECK_EQ(ip_parse_tcp(buf + ETH_HDR_LEN, n - ETH_HDR_LEN, GUEST_IP, false, seg), IP_OK);
	CHECK_EQ(seg->remote_ip, MMDS_DEFAULT_IPV4);
	return true;
}

static void peer_init(struct peer *p, uint16_t port)
{
	memset(p, 0, sizeof(*p));
	p->m = mmds_new(MMDS_STORE_DEFAULT_LIMIT);
	json_t *d = J("{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-12345678\"}}}");
	mmds_put(p->m, d);
	json_decref(d);
	mmds_stack_init(&p->s, p->m, MMDS_DEFAULT_IPV4);
	p->port = port;
	p->seq = 1000;
	p->now = 1;
}

static void peer_free(struct peer *p)
{
	mmds_stack_free(&p->s);
	mmds_unref(p->m);
}

/* Handshake on p->port; true when established. */
static bool handshake(struct peer *p)
{
	uint8_t buf[MMDS_FRAME_MAX];
	struct mmds_tcp_seg seg;
	send_seg(p, TCP_SYN, NULL, 0);
	if (!recv_seg(p, &seg, buf))
		return false;
	CHECK_EQ(seg.flags, TCP_SYN | TCP_ACK);
	CHECK_EQ(seg.ack, p->seq);
	CHECK_EQ(seg.mss, MMDS_TCP_MSS);
	p->ack = seg.seq + 1;
	send_seg(p, TCP_ACK, NULL, 0);
	return seg.flags == (TCP_SYN | TCP_ACK);
}

TEST(stack_arp_reply)
{
	struct peer p;
	peer_init(&p, 40000);
	uint8_t f[64] = { 0 };
	memset(f, 0xff, 6);
	memcpy(f + 6, guest_mac, 6);
	wr16(f + 12, ETHERTYPE_ARP);
	uint8_t *a = f + ETH_HDR_LEN;
	static const uint8_t unknown[6];
	arp_write(a, ARP_OP_REQUEST, guest_mac, GUEST_IP, unknown, 0x0a000001);
	CHECK(!mmds_stack_wants(&p.s, f, 42));   /* someone else's address: to the tap */
	wr32(a + 24, MMDS_DEFAULT_IPV4);
	REQUIRE(mmds_stack_wants(&p.s, f, 42));
	mmds_stack_rx(&p.s, f, 42, false, 1);
	uint8_t out[MMDS_FRAME_MAX];
	size_t n = mmds_stack_tx(&p.s, out, 1);
	REQUIRE_EQ(n, 42);
	CHECK(!memcmp(out, guest_mac, 6));
	CHECK(!memcmp(out + 6, "\x06\x01\x23\x45\x67\x01", 6));
	CHECK_EQ(rd16(out + ETH_HDR_LEN + 6), 2);
	CHECK(!memcmp(out + ETH_HDR_LEN + 8, "\x06\x01\x23\x45\x67\x01", 6));
	CHECK_EQ(rd32(out + ETH_HDR_LEN + 14), MMDS_DEFAULT_IPV4);
	CHECK_EQ(rd32(out + ETH_HDR_LEN + 24), GUEST_IP);
	CHECK_EQ(mmds_stack_tx(&p.s, out, 1), 0);
	peer_free(&p);
}

/* Read the whole response (acknowledging each segment) into resp. */
static void read_response(struct peer *p, char *resp, size_t cap, bool *fin)
{
	uint8_t buf[MMDS_FRAME_MAX];
	struct mmds_tcp_seg seg;
	size_t len = 0;
	*fin = false;
	while (recv_seg(p, &seg, buf)) {
		CHECK_EQ(seg.seq, p->ack);
		if (seg.len && len + seg.len < cap) {
			memcpy(resp + len, seg.data, seg.len);
			len += seg.len;
		}
		p->ack = seg.seq + (uint32_t)seg.len + !!(seg.flags & TCP_FIN);
		if (seg.flags & TCP_FIN)
			*fin = true;
		if (seg.len || (seg.flags & TCP_FIN))
			send_seg(p, TCP_ACK, NULL, 0);
	}
	resp[len] = '\0';
}

TEST(stack_tcp_request_response_fin)
{
	struct peer p;
	peer_init(&p, 40001);
	REQUIRE(handshake(&p));
	CHECK_EQ(mmds_tcp_connections(&p.s.tcp), 1);
	const char *req = "GET /latest/meta-data/ami-id HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n";
	send_seg(&p, TCP_ACK | TCP_PSH, req, strlen(req));
	char resp[4096];
	bool fin;
	read_response(&p, resp, sizeof(resp), &fin);
	CHECK_CONTAINS(resp, "HTTP/1.1 200 \r\n");
	CHECK_STR_EQ(body_of(resp), "ami-12345678");
	CHECK(!fin);
	/* A second request on the same connection (keep-alive), split over two segments. */
	send_seg(&p, TCP_ACK, "GET /latest HTTP/1.1\r\n", 22);
	read_response(&p, resp, sizeof(resp), &fin);
	CHECK_STR_EQ(resp, "");
	send_seg(&p, TCP_ACK | TCP_PSH, "\r\n", 2);
	read_response(&p, resp, sizeof(resp), &fin);
	CHECK_STR_EQ(body_of(resp), "meta-data/");
	/* The guest closes: MMDS acknowledges and closes too, then forgets the connection. */
	send_seg(&p, TCP_ACK | TCP_FIN, NULL, 0);
	read_response(&p, resp, sizeof(resp), &fin);
	CHECK(fin);
	CHECK_EQ(mmds_tcp_connections(&p.s.tcp), 0);
	CHECK_EQ(p.m->metrics.connections_created, 1);
	CHECK_EQ(p.m->metrics.connections_destroyed, 1);
	peer_free(&p);
}

/* A response larger than the MSS goes out in several segments; a lost one is sent again. */
TEST(stack_tcp_segments_and_retransmit)
{
	struct peer p;
	peer_init(&p, 40002);
	char *big = malloc(5000);
	REQUIRE(big);
	memset(big, 'x', 4999);
	big[4999] = '\0';
	json_t *d = json_pack("{s:s}", "big", big);
	CHECK_EQ(mmds_put(p.m, d), MMDS_STORE_OK);
	json_decref(d);
	REQUIRE(handshake(&p));
	const char *req = "GET /big HTTP/1.1\r\nConnection: close\r\n\r\n";
	send_seg(&p, TCP_ACK | TCP_PSH, req, strlen(req));
	uint8_t buf[MMDS_FRAME_MAX];
	struct mmds_tcp_seg seg;
	REQUIRE(recv_seg(&p, &seg, buf));    /* the first segment is "lost" */
	CHECK_EQ(seg.len, MMDS_TCP_MSS);
	uint32_t first = seg.seq;
	while (recv_seg(&p, &seg, buf))
		;
	CHECK(mmds_stack_next_timer(&p.s, p.now) > 0);
	p.now += MMDS_TCP_RTO_MS;
	CHECK_EQ(mmds_stack_next_timer(&p.s, p.now), 0);
	REQUIRE(recv_seg(&p, &seg, buf));
	CHECK_EQ(seg.seq, first);            /* go back to the first unacknowledged byte */
	p.ack = first;
	char *resp = malloc(8192);
	REQUIRE(resp);
	bool fin;
	/* Acknowledge from the start: read_response collects from the retransmission on. */
	memcpy(resp, seg.data, seg.len);
	p.ack = seg.seq + (uint32_t)seg.len;
	send_seg(&p, TCP_ACK, NULL, 0);
	read_response(&p, resp + seg.len, 8192 - seg.len, &fin);
	CHECK_CONTAINS(resp, "Content-Length: 4999\r\n");
	CHECK_EQ(strlen(body_of(resp)), 4999);
	CHECK(fin);                          /* Connection: close */
	send_seg(&p, TCP_ACK | TCP_FIN, NULL, 0);
	read_response(&p, resp, 8192, &fin);
	CHECK_EQ(mmds_tcp_connections(&p.s.tcp), 0);
	free(resp);
	free(big);
	peer_free(&p);
}

TEST(stack_drops_bad_checksums)
{
	struct peer p;
	peer_init(&p, 40003);
	uint8_t f[256];
	size_t n = guest_frame(f, p.port, 1000, 0, TCP_SYN, NULL, 0, 1460);
	f[n - 1] ^= 0x55;   /* the TCP checksum covers the MSS option */
	mmds_stack_rx(&p.s, f, n, false, 1);
	uint8_t out[MMDS_FRAME_MAX];
	CHECK_EQ(mmds_stack_tx(&p.s, out, 1), 0);
	CHECK_EQ(p.m->metrics.rx_accepted_err, 1);
	/* With NEEDS_CSUM the guest left the TCP checksum to the device: accepted. */
	mmds_stack_rx(&p.s, f, n, true, 1);
	CHECK(mmds_stack_tx(&p.s, out, 1) > 0);
	/* The IPv4 header checksum is always checked. */
	n = guest_frame(f, 40004, 1000, 0, TCP_SYN, NULL, 0, 1460);
	f[ETH_HDR_LEN + 8] ^= 1;   /* TTL */
	mmds_stack_rx(&p.s, f, n, true, 1);
	CHECK_EQ(mmds_stack_tx(&p.s, out, 1), 0);
	CHECK_EQ(p.m->metrics.rx_accepted_err, 2);
	peer_free(&p);
}

/* Firecracker's endpoint resets a connection whose request outgrows its 2500-byte buffer. */
TEST(stack_oversized_request_resets)
{
	struct peer p;
	peer_init(&p, 40005);
	REQUIRE(handshake(&p));
	char junk[1400];
	memset(junk, 'a', sizeof(junk));
	memcpy(junk, "GET /", 5);
	send_seg(&p, TCP_ACK, junk, sizeof(junk));
	send_seg(&p, TCP_ACK, junk + 5, sizeof(junk) - 5);
	uint8_t buf[MMDS_FRAME_MAX];
	struct mmds_tcp_seg seg;
	bool rst = false;
	while (recv_seg(&p, &seg, buf))
		rst |= (seg.flags & TCP_RST) != 0;
	CHECK(rst);
	CHECK_EQ(mmds_tcp_connections(&p.s.tcp), 0);
	peer_free(&p);
}

TEST(stack_too_many_connections)
{
	struct peer p;
	peer_init(&p, 41000);
	for (unsigned i = 0; i < MMDS_TCP_MAX_CONN; i++) {
		p.port = (uint16_t)(41000 + i);
		p.seq = 1000;
		REQUIRE(handshake(&p));
	}
	CHECK_EQ(mmds_tcp_connections(&p.s.tcp), MMDS_TCP_MAX_CONN);
	uint8_t buf[MMDS_FRAME_MAX];
	struct mmds_tcp_seg seg;
	p.port = 42000;
	p.seq = 5000;
	send_seg(&p, TCP_SYN, NULL, 0);
	REQUIRE(recv_seg(&p, &seg, buf));
	CHECK_EQ(seg.flags, TCP_RST | TCP_ACK);
	CHECK_EQ(seg.ack, 5001);
	/* Once the others have been idle long enough, one of them makes room. */
	p.now += MMDS_TCP_EVICT_MS + 1;
	p.seq = 6000;
	send_seg(&p, TCP_SYN, NULL, 0);
	bool synack = false, rst = false;
	while (recv_seg(&p, &seg, buf)) {
		synack |= seg.flags == (TCP_SYN | TCP_ACK);
		rst |= (seg.flags & TCP_RST) && seg.remote_port != 42000;
	}
	CHECK(synack);
	CHECK(rst);   /* the evicted one is told */
	CHECK_EQ(mmds_tcp_connections(&p.s.tcp), MMDS_TCP_MAX_CONN);
	peer_free(&p);
}

TEST(stack_rst_for_strangers)
{
	struct peer p;
	peer_init(&p, 43000);
	uint8_t buf[MMDS_FRAME_MAX];
	struct mmds_tcp_seg seg;
	p.ack = 777;
	send_seg(&p, TCP_ACK, "x", 1);      /* no such connection */
	REQUIRE(recv_seg(&p, &seg, buf));
	CHECK_EQ(seg.flags, TCP_RST);
	CHECK_EQ(seg.seq, 777);
	send_seg(&p, TCP_RST, NULL, 0);     /* never answered */
	CHECK(!recv_seg(&p, &seg, buf));
	peer_free(&p);
}

TEST(ipv4_address_rules)
{
	uint32_t ip;
	CHECK_EQ(mmds_parse_ipv4("169.254.169.254", &ip), 0);
	CHECK_EQ(ip, MMDS_DEFAULT_IPV4);
	CHECK_EQ(mmds_parse_ipv4("169.254.1.0", &ip), 0);
	CHECK_EQ(mmds_parse_ipv4("169.254.0.1", &ip), -ERANGE);
	CHECK_EQ(mmds_parse_ipv4("169.254.255.1", &ip), -ERANGE);
	CHECK_EQ(mmds_parse_ipv4("10.0.0.1", &ip), -ERANGE);
	CHECK_EQ(mmds_parse_ipv4("169.254.300.1", &ip), -EINVAL);
	CHECK_EQ(mmds_parse_ipv4("foo", &ip), -EINVAL);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
