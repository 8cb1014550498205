/* libFuzzer target: the command line's device options (--disk, --net, --vsock, --rng:
 * src/config/devices_cli.c; --pmem: src/config/pmem_config.c) on arbitrary strings. Byte 0 picks the parser, the rest is the
 * option's argument. Each must accept or refuse with a message, never read past the string,
 * and what it accepts must turn into JSON (drive_config_to_json, ...) that the JSON parser
 * takes back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/devices_config.h"
#include "config/pmem_config.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 4096)
		return 0;
	char *arg = malloc(size);
	if (!arg)
		abort();
	memcpy(arg, data + 1, size - 1);
	arg[size - 1] = 0; /* strings from argv end at the first NUL */
	char err[256] = "";
	switch (data[0] % 5) {
	case 0: {
		struct drive_config d;
		if (drive_config_from_cli(arg, 1, &d, err, sizeof(err)) == 0) {
			json_t *j = drive_config_to_json(&d);
			FUZZ_CHECK(j != NULL);
			struct drive_config back;
			char e2[256];
			json_object_set_new(j, "is_root_device", json_false());
			FUZZ_CHECK(drive_config_from_json(j, "d", &back, e2, sizeof(e2)) == 0);
			FUZZ_CHECK(!strcmp(back.path_on_host, d.path_on_host) && back.format == d.format);
			drive_config_free(&back);
			json_decref(j);
			drive_config_free(&d);
		} else {
			FUZZ_CHECK(err[0]);
		}
		break;
	}
	case 1: {
		struct net_config n;
		if (net_config_from_cli(arg, 1, &n, err, sizeof(err)) == 0) {
			FUZZ_CHECK(!n.has_mac || !(n.guest_mac[0] & 1)); /* never a multicast MAC */
			json_t *j = net_config_to_json(&n);
			FUZZ_CHECK(j != NULL);
			json_decref(j);
			net_config_free(&n);
		} else {
			FUZZ_CHECK(err[0]);
		}
		break;
	}
	case 2: {
		struct vsock_config v;
		if (vsock_config_from_cli(arg, &v, err, sizeof(err)) == 0)
			vsock_config_free(&v);
		else
			FUZZ_CHECK(err[0]);
		break;
	}
	case 4: {
		struct pmem_config p;
		if (pmem_config_from_cli(arg, 1, &p, err, sizeof(err)) == 0) {
			json_t *j = pmem_config_to_json(&p);
			FUZZ_CHECK(j != NULL);
			struct pmem_config back;
			char e2[256];
			FUZZ_CHECK(pmem_config_from_json(j, "p", &back, e2, sizeof(e2)) == 0);
			FUZZ_CHECK(!strcmp(back.path_on_host, p.path_on_host) && !strcmp(back.id, p.id) &&
				   back.read_only == p.read_only && back.root_device == p.root_device);
			pmem_config_free(&back);
			json_decref(j);
			pmem_config_free(&p);
		} else {
			FUZZ_CHECK(err[0]);
		}
		break;
	}
	default: {
		struct entropy_config e;
		if (entropy_config_from_cli(arg, &e, err, sizeof(err)) == 0)
			entropy_config_free(&e);
		else
			FUZZ_CHECK(err[0]);
		break;
	}
	}
	free(arg);
	return 0;
}
