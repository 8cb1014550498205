/* See token.h. */
#include "mmds/token.h"

#include <errno.h>
#include <nettle/base64.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define TAG_LEN 16
#define RAW_LEN (8 + TAG_LEN)

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
	int r = fill_random(t->key, sizeof(t->key));
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
	hmac_sha256_set_key(&ctx, sizeof(t->key), t->key);
	hmac_sha256_update(&ctx, strlen(t->aad), (const uint8_t *)t->aad);
	hmac_sha256_update(&ctx, 8, expiry);
	hmac_sha256_digest(&ctx, sizeof(digest), digest);
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
	base64_encode_raw(out, RAW_LEN, raw);
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
	base64_decode_init(&ctx);
	if (!base64_decode_update(&ctx, &n, raw, len, tok) || !base64_decode_final(&ctx) ||
	    n != RAW_LEN)
		return false;
	uint8_t tag[TAG_LEN];
	tag_of(t, raw, tag);
	if (!memeql_sec(tag, raw + 8, TAG_LEN))
		return false;
	uint64_t expiry = 0;
	for (int i = 0; i < 8; i++)
		expiry |= (uint64_t)raw[i] << (8 * i);
	return now_ms + t->offset < expiry;
}
