/* See token.h. */
#include "mmds/token.h"
#include "util/dlopen.h"
#include "util/log.h"

#include <errno.h>
#include <nettle/base64.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define TAG_LEN 16
#define RAW_LEN (8 + TAG_LEN)

/* nettle is loaded (dlopen) with the first token store, not linked: linking it cost every
 * petrel start about 330 000 instructions of relocation, 40% of `petrel run`'s start-up
 * before a VM exists (docs/performance.md#start-up). Stores are made where
 * loading is allowed (the API thread, or where a VM is built), tokens used later. */
static struct {
	__typeof__(nettle_hmac_sha256_set_key) *hmac_set_key;
	__typeof__(nettle_hmac_sha256_update) *hmac_update;
	__typeof__(nettle_hmac_sha256_digest) *hmac_digest;
	__typeof__(nettle_base64_encode_raw) *b64_encode_raw;
	__typeof__(nettle_base64_decode_init) *b64_decode_init;
	__typeof__(nettle_base64_decode_update) *b64_decode_update;
	__typeof__(nettle_base64_decode_final) *b64_decode_final;
	__typeof__(nettle_memeql_sec) *eq_sec;
} nt;

static int nettle_load(void)
{
	/* the first symbol is set last (dl_load_syms): set means all are */
	const struct dl_sym syms[] = {
		{ "nettle_hmac_sha256_set_key", (void **)&nt.hmac_set_key },
		{ "nettle_hmac_sha256_update", (void **)&nt.hmac_update },
		{ "nettle_hmac_sha256_digest", (void **)&nt.hmac_digest },
		{ "nettle_base64_encode_raw", (void **)&nt.b64_encode_raw },
		{ "nettle_base64_decode_init", (void **)&nt.b64_decode_init },
		{ "nettle_base64_decode_update", (void **)&nt.b64_decode_update },
		{ "nettle_base64_decode_final", (void **)&nt.b64_decode_final },
		{ "nettle_memeql_sec", (void **)&nt.eq_sec },
	};
	char err[256];
	if (dl_load_syms("libnettle.so.8", syms, sizeof(syms) / sizeof(syms[0]), err, sizeof(err)) < 0) {
		log_error("MMDS tokens: %s", err);
		return -ENOTSUP;
	}
	return 0;
}

static int fill_random(void *p, size_t n)
{
	uint8_t *b = p;
	while (n) {
		ssize_t r = getrandom(b, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

int mmds_tokens_init(struct mmds_tokens *t)
{
	memset(t, 0, sizeof(*t));
	int r = nettle_load();
	if (r == 0)
		r = fill_random(t->key, sizeof(t->key));
	if (r == 0)
		r = fill_random(&t->offset, sizeof(t->offset));
	t->offset >>= 2;   /* room for a few centuries of clock before it wraps */
	mmds_tokens_set_instance(t, "");
	return r;
}

void mmds_tokens_set_instance(struct mmds_tokens *t, const char *instance_id)
{
	snprintf(t->aad, sizeof(t->aad), "microvmid=%s", instance_id ? instance_id : "");
}

static void tag_of(const struct mmds_tokens *t, const uint8_t expiry[8], uint8_t tag[TAG_LEN])
{
	struct hmac_sha256_ctx ctx;
	uint8_t digest[SHA256_DIGEST_SIZE];
	nt.hmac_set_key(&ctx, sizeof(t->key), t->key);
	nt.hmac_update(&ctx, strlen(t->aad), (const uint8_t *)t->aad);
	nt.hmac_update(&ctx, 8, expiry);
	nt.hmac_digest(&ctx, sizeof(digest), digest);
	memcpy(tag, digest, TAG_LEN);
}

int mmds_token_new(const struct mmds_tokens *t, uint32_t ttl, uint64_t now_ms,
		   char out[MMDS_TOKEN_LEN + 1])
{
	if (ttl < MMDS_TOKEN_TTL_MIN || ttl > MMDS_TOKEN_TTL_MAX)
		return -EINVAL;
	uint64_t expiry = now_ms + t->offset + (uint64_t)ttl * 1000;
	uint8_t raw[RAW_LEN];
	for (int i = 0; i < 8; i++)
		raw[i] = (uint8_t)(expiry >> (8 * i));
	tag_of(t, raw, raw + 8);
	nt.b64_encode_raw(out, RAW_LEN, raw);
	out[MMDS_TOKEN_LEN] = '\0';
	return 0;
}

bool mmds_token_valid(const struct mmds_tokens *t, const char *tok, size_t len, uint64_t now_ms)
{
	if (len != MMDS_TOKEN_LEN)
		return false;
	uint8_t raw[BASE64_DECODE_LENGTH(MMDS_TOKEN_LEN)];
	size_t n = sizeof(raw);
	struct base64_decode_ctx ctx;
	nt.b64_decode_init(&ctx);
	if (!nt.b64_decode_update(&ctx, &n, raw, len, tok) || !nt.b64_decode_final(&ctx) ||
	    n != RAW_LEN)
		return false;
	uint8_t tag[TAG_LEN];
	tag_of(t, raw, tag);
	if (!nt.eq_sec(tag, raw + 8, TAG_LEN))
		return false;
	uint64_t expiry = 0;
	for (int i = 0; i < 8; i++)
		expiry |= (uint64_t)raw[i] << (8 * i);
	return now_ms + t->offset < expiry;
}
