/* MMDS without a VM: the data store (JSON merge patch, put and patch, lookups and their text
 * and JSON formats, the size limit) and the compact JSON text. Behaviour follows Firecracker's
 * docs/mmds/mmds-user-guide.md and its src/vmm/src/mmds tests (named in each test's comment). */
#include "unit.h"
#include "mmds_text.h"

#include "mmds/store.h"
#include "mmds/text.h"

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

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
