/* libFuzzer target: a line of a worker's events file as petreld reads it
 * (src/manager/worker_events.c, worker_event_parse): written by a jailed worker, so untrusted.
 * Each line is either an event petreld forwards (a guest's reset with a count) or nothing. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "manager/worker_events.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = (char *)fuzz_dup(data, size);  /* no NUL: the parser takes a length */
	struct worker_event ev;
	int r = worker_event_parse(line, size, &ev);
	FUZZ_CHECK(r == 0 || r == 1);
	FUZZ_CHECK(memchr(ev.event, 0, sizeof(ev.event)) && memchr(ev.message, 0, sizeof(ev.message)));
	if (r == 1)
		FUZZ_CHECK(!strcmp(ev.event, "reset") && ev.count <= (unsigned long long)INT64_MAX);
	else
		FUZZ_CHECK(ev.event[0] == 0 && ev.count == 0);
	free(line);
	return 0;
}
