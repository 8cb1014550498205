/* libFuzzer target: the bodies of petreld's replica verbs (POST /vms/NAME/replica/{standby,
 * primary,promote}, src/manager/replica_args.c), untrusted text from its API. The first byte
 * picks the verb (a wrong one too); the rest is the body. Each is accepted as a JSON object
 * whose fields the worker's PUT /replication then takes, or refused with -EINVAL and a message. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "manager/replica.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const verbs[] = { "standby", "primary", "promote", "demote" };
	if (size < 1)
		return 0;
	const char *verb = verbs[data[0] % 4];
	char *text = (char *)fuzz_dup(data + 1, size - 1);
	char err[512];
	err[0] = 0;
	json_t *o = NULL;
	int r = replica_parse(verb, text, size - 1, &o, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
	if (r == 0) {
		FUZZ_CHECK(json_is_object(o));
		FUZZ_CHECK(strcmp(verb, "demote") != 0);
		if (!strcmp(verb, "standby"))
			FUZZ_CHECK(json_is_string(json_object_get(o, "listen_url")));
		if (!strcmp(verb, "primary"))
			FUZZ_CHECK(json_is_string(json_object_get(o, "peer_url")));
		if (!strcmp(verb, "promote"))
			FUZZ_CHECK(json_object_size(o) == 0);
		json_t *t = json_object_get(o, "failure_timeout_ms");
		FUZZ_CHECK(!t || (json_integer_value(t) >= 10 && json_integer_value(t) <= 600000));
		json_decref(o);
	} else {
		FUZZ_CHECK(o == NULL && err[0] != 0);
	}
	free(text);
	return 0;
}
