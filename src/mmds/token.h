/* MMDS V2 session tokens (PUT /latest/api/token, then X-metadata-token on every GET).
 *
 * A token carries its own expiry and a MAC over it, so nothing is kept per token (a guest
 * cannot fill a table by asking for tokens): base64 of 8 bytes of expiry (milliseconds on a
 * clock offset by a random amount, so it says nothing about the host's uptime) and the first
 * 16 bytes of HMAC-SHA256 (nettle) under a 256-bit key from getrandom() that lives only in
 * this process, over "microvmid=<instance id>" and the expiry. Tokens are therefore invalid
 * in any other petrel process (a restored snapshot, a migration's destination), as
 * Firecracker's are. A token is valid while now < expiry.
 */
#ifndef PETREL_MMDS_TOKEN_H
#define PETREL_MMDS_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MMDS_TOKEN_TTL_MIN 1
#define MMDS_TOKEN_TTL_MAX 21600
#define MMDS_TOKEN_LEN 32          /* base64 of 24 bytes */
#define MMDS_TOKEN_LEN_LIMIT 70    /* longer header values are refused without decoding */

struct mmds_tokens {
	uint8_t key[32];
	uint64_t offset;           /* added to the clock */
	char aad[96];              /* "microvmid=<id>" */
};

/* A new key. 0 or -errno (getrandom failed). */
int mmds_tokens_init(struct mmds_tokens *t);
void mmds_tokens_set_instance(struct mmds_tokens *t, const char *instance_id);
/* A token valid for ttl seconds from now_ms into out (MMDS_TOKEN_LEN chars and a NUL).
 * -EINVAL when ttl is outside MMDS_TOKEN_TTL_MIN..MMDS_TOKEN_TTL_MAX. */
int mmds_token_new(const struct mmds_tokens *t, uint32_t ttl, uint64_t now_ms,
		   char out[MMDS_TOKEN_LEN + 1]);
bool mmds_token_valid(const struct mmds_tokens *t, const char *tok, size_t len, uint64_t now_ms);

#endif
