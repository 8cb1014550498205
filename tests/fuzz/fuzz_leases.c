/* libFuzzer target: dnsmasq's lease file as petreld reads it (src/manager/net/leases.c). The host
 * names in it come from guests' DHCP requests: untrusted. Every lease kept has a host name of
 * 1..63 of [A-Za-z0-9-] or none, and no more than LEASES_MAX are kept. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manager/net/leases.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lease *l = NULL;
	size_t n = 99;
	char err[256];
	err[0] = 0;
	int r = leases_parse((const char *)data, size, &l, &n, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -ENOMEM);
	FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
	if (r == 0) {
		FUZZ_CHECK(n <= LEASES_MAX);
		FUZZ_CHECK((n == 0) == (l == NULL));
		for (size_t i = 0; i < n; i++) {
			size_t hl = strnlen(l[i].hostname, sizeof(l[i].hostname));
			FUZZ_CHECK(hl < sizeof(l[i].hostname));
			FUZZ_CHECK(strspn(l[i].hostname, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == hl);
			FUZZ_CHECK(l[i].expiry >= 0);
		}
	}
	free(l);
	return 0;
}
