/* libFuzzer target: --seccomp-filter documents (sc_policy_parse_json), then compiling each
 * kind's list to BPF as petrel does at start. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "seccomp/seccomp.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sc_policy p;
	memset(&p, 0, sizeof(p));
	char err[512];
	err[0] = 0;
	int r = sc_policy_parse_json(&p, (const char *)data, size, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
	FUZZ_CHECK(r == 0 || err[0]);
	for (int k = 0; r == 0 && k < SC_KIND_MAX; k++) {
		if (!p.from_file[k])
			continue;
		void *bpf = NULL;
		size_t len = 0;
		int e = seccomp_compile(&p.kinds[k], &bpf, &len);
		FUZZ_CHECK(e == 0);   /* a document the parser takes always compiles */
		FUZZ_CHECK(e < 0 || (bpf && len % 8 == 0));
		free(bpf);
	}
	sc_policy_free(&p);
	return 0;
}
