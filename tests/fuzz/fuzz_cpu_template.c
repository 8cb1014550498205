/* libFuzzer target: cpu_template_parse_json() (Firecracker custom CPU templates), then
 * applying the result to a CPUID table and appending it to a named template. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <linux/kvm.h>

#include "config/cpu_template.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *json = malloc(size + 1);
	if (!json)
		abort();
	memcpy(json, data, size);
	json[size] = 0;
	struct cpu_template t;
	memset(&t, 0, sizeof(t));
	char err[256];
	err[0] = 0;
	int r = cpu_template_parse_json(json, &t, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
	FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
	if (r == 0) {
		FUZZ_CHECK(t.nmods == 0 || t.mods != NULL);
		for (size_t i = 0; i < t.nmods; i++) {
			FUZZ_CHECK(t.mods[i].reg <= CPUID_EDX);
			FUZZ_CHECK((t.mods[i].value & ~t.mods[i].mask) == 0);
		}
		struct kvm_cpuid_entry2 e[4];
		memset(e, 0, sizeof(e));
		e[0].function = 0x1;
		e[1].function = 0x7;
		e[2].function = 0xd;
		e[2].index = 1;
		e[3].function = 0x80000001;
		for (int i = 0; i < 4; i++)
			e[i].eax = e[i].ebx = e[i].ecx = e[i].edx = 0xa5a5a5a5;
		cpu_template_apply(&t, e, 4);
		struct cpu_template named;
		memset(&named, 0, sizeof(named));
		if (cpu_template_named("T2", &named) == 0) {
			r = cpu_template_append(&named, &t);
			FUZZ_CHECK(r == 0 || r == -ENOMEM);
			cpu_template_apply(&named, e, 4);
		}
		cpu_template_free(&named);
	}
	cpu_template_free(&t);
	free(json);
	return 0;
}
