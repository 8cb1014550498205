/* libFuzzer target: the guest agent's answers as the worker reads them (src/agent/agent_json.c).
 * The bytes are what a guest writes to its agent port: cut into lines (the 0xFF sentinel, the
 * line limit), each line read as an answer, and every answer's value given to every typed
 * reader. Every value a reader keeps must be what it promises: printable text, addresses that
 * parse, prefixes in range; an error always says why. */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_json.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

static void check_text(json_t *v)
{
	const char *s = json_string_value(v);
	FUZZ_CHECK(s != NULL);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		FUZZ_CHECK(*p >= 0x20 && *p != 0x7f);
}

static void check_interfaces(json_t *out)
{
	size_t i, k;
	json_t *ifc, *a;
	FUZZ_CHECK(json_is_array(out));
	json_array_foreach(out, i, ifc) {
		check_text(json_object_get(ifc, "name"));
		json_t *mac = json_object_get(ifc, "mac");
		FUZZ_CHECK(!mac || strlen(json_string_value(mac)) == 17);
		json_array_foreach(json_object_get(ifc, "addresses"), k, a) {
			const char *type = json_string_value(json_object_get(a, "type"));
			int af = !strcmp(type, "ipv4") ? AF_INET : AF_INET6;
			unsigned char bin[16];
			FUZZ_CHECK(inet_pton(af, json_string_value(json_object_get(a, "address")), bin) == 1);
			json_int_t p = json_integer_value(json_object_get(a, "prefix"));
			FUZZ_CHECK(p >= 0 && p <= (af == AF_INET ? 32 : 128));
		}
	}
}

static void read_all(json_t *ret)
{
	char err[256];
	json_t *out;
	int64_t id;
	unsigned n;
	bool frozen;
	err[0] = 0;
	if (agent_read_sync(ret, &id, err, sizeof(err)) < 0)
		FUZZ_CHECK(err[0]);
	agent_read_empty(ret, "guest-ping", err, sizeof(err));
	if (agent_read_count(ret, "guest-fsfreeze-freeze", &n, err, sizeof(err)) == 0)
		FUZZ_CHECK(n <= 65535);
	agent_read_freeze_status(ret, &frozen, err, sizeof(err));
	if (agent_read_info(ret, &out, err, sizeof(err)) == 0) {
		check_text(json_object_get(out, "version"));
		json_decref(out);
	} else {
		FUZZ_CHECK(out == NULL);
	}
	if (agent_read_interfaces(ret, &out, err, sizeof(err)) == 0) {
		check_interfaces(out);
		json_decref(out);
	} else {
		FUZZ_CHECK(out == NULL && err[0]);
	}
	if (agent_read_fstrim(ret, &out, err, sizeof(err)) == 0)
		json_decref(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_rx rx = { 0 };
	/* in two pushes split at the first byte's value, as reads would cut it */
	size_t cut = size ? data[0] % (size + 1) : 0;
	int r = agent_rx_push(&rx, data, cut);
	FUZZ_CHECK(r == 0 || r == -EMSGSIZE || r == -ENOMEM);
	if (size && data[0] & 1)
		agent_rx_sentinel(&rx);
	r = agent_rx_push(&rx, data + cut, size - cut);
	FUZZ_CHECK(r == 0 || r == -EMSGSIZE || r == -ENOMEM);
	char *line;
	size_t len;
	while (agent_rx_line(&rx, &line, &len) == 1) {
		FUZZ_CHECK(strlen(line) <= len && len <= AGENT_LINE_MAX);
		json_t *ret;
		char err[256];
		err[0] = 0;
		r = agent_reply_parse(line, len, &ret, err, sizeof(err));
		FUZZ_CHECK(r == 0 || r == -EPROTO || r == -EREMOTEIO);
		FUZZ_CHECK((r == 0) == (ret != NULL));
		FUZZ_CHECK(r == 0 || err[0]);
		if (ret)
			read_all(ret);
		json_decref(ret);
		free(line);
	}
	agent_rx_free(&rx);
	return 0;
}
