/* libFuzzer target: the CPU placement parsers (src/config/cpu_affinity_config.c and the
 * cpulists of src/util/affinity.c) on arbitrary input. Byte 0 picks the parser: the
 * --cpu-affinity option, the "cpu-affinity" JSON section, or a bare cpulist. Each must accept
 * or refuse with a message, never read past its input, leave its output alone on refusal, and
 * what it accepts must come back the same through the JSON form (or the cpulist's text). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/cpu_affinity_config.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

/* JSON form and back: the same placement. */
static void round_trip(const struct cpu_affinity *a)
{
	json_t *j = cpu_affinity_to_json(a);
	FUZZ_CHECK(j != NULL);
	struct cpu_affinity *b = calloc(1, sizeof(*b));
	char err[256];
	FUZZ_CHECK(b && cpu_affinity_from_json(j, "cpu-affinity", b, err, sizeof(err)) == 0);
	FUZZ_CHECK(!memcmp(a, b, sizeof(*a)));
	free(b);
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 4096)
		return 0;
	char *arg = malloc(size);
	if (!arg)
		abort();
	memcpy(arg, data + 1, size - 1);
	arg[size - 1] = 0;
	char err[256] = "";
	struct cpu_affinity *a = calloc(1, sizeof(*a)), *before = malloc(sizeof(*a));
	if (!a || !before)
		abort();
	switch (data[0] % 3) {
	case 0:
		*before = *a;
		if (cpu_affinity_from_cli(arg, a, err, sizeof(err)) == 0)
			round_trip(a);
		else
			FUZZ_CHECK(err[0] && !memcmp(before, a, sizeof(*a)));
		break;
	case 1: {
		json_t *j = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
		if (!j)
			break;
		memset(a, 0x5a, sizeof(*a));
		*before = *a;
		if (cpu_affinity_from_json(j, "cpu-affinity", a, err, sizeof(err)) == 0)
			round_trip(a);
		else
			FUZZ_CHECK(err[0] && !memcmp(before, a, sizeof(*a)));
		json_decref(j);
		break;
	}
	default: {
		/* exactly the input's bytes, so a read past them is caught */
		char *list = (char *)fuzz_dup(data + 1, size - 1);
		cpu_set_t s, t;
		if (cpulist_parse(list, size - 1, &s, err, sizeof(err)) == 0) {
			char text[8192];
			cpulist_format(&s, text, sizeof(text));
			FUZZ_CHECK(cpulist_parse(text, strlen(text), &t, err, sizeof(err)) == 0 && CPU_EQUAL(&s, &t));
		} else {
			FUZZ_CHECK(err[0]);
		}
		free(list);
		break;
	}
	}
	free(before);
	free(a);
	free(arg);
	return 0;
}
