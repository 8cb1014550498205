/* libFuzzer target: the bodies of petreld's migration between hosts (src/manager/peer/peer.c), which
 * come from the network: POST /vms/NAME/migrate {"to", "downtime_ms", "timeout_s"} (with its
 * "HOST[:PORT]" target form) and POST /migrations/incoming {"definition", "timeout_s", "networks"} from
 * another host's petreld; and a line of a source worker's events file, which the worker
 * writes (peer_event_figures). Each accepts or refuses with -EINVAL and a message; what it accepts
 * is in range. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "manager/peer/peer.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

static bool host_ok(const char *h)
{
	size_t n = strlen(h);
	if (!n || n > 255)
		return false;
	for (const char *p = h; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:_", *p))
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = (char *)fuzz_dup(data, size);
	char err[512] = "";
	struct peer_migrate_req req;
	int r = peer_migrate_parse(text, size, &req, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
	if (r == 0) {
		FUZZ_CHECK(host_ok(req.host));
		FUZZ_CHECK(req.port >= 1 && req.port <= 65535);
		FUZZ_CHECK(req.downtime_ms >= 1 && req.downtime_ms <= 600000);
		FUZZ_CHECK(req.timeout_s >= 1 && req.timeout_s <= 86400);
	} else {
		FUZZ_CHECK(err[0] != 0);
	}
	/* the whole input as a target (a C string: JSON gave it so) */
	char host[256], *to = malloc(size + 1);
	unsigned port = 0;
	memcpy(to, data, size);
	to[size] = '\0';
	err[0] = 0;
	r = peer_parse_target(to, host, &port, err, sizeof(err));
	free(to);
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	FUZZ_CHECK(r < 0 || (host_ok(host) && port >= 1 && port <= 65535));
	FUZZ_CHECK(r == 0 || err[0] != 0);
	struct vm_def def;
	unsigned timeout_s = 0;
	err[0] = 0;
	json_t *nets = NULL, *leases = NULL;
	r = peer_incoming_parse(text, size, &def, &timeout_s, &nets, &leases, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	if (r == 0) {
		FUZZ_CHECK(mgr_vm_name_ok(def.name));
		FUZZ_CHECK(timeout_s >= 1 && timeout_s <= 3600);
		FUZZ_CHECK(!nets || json_is_object(nets));
		FUZZ_CHECK(!leases || (json_is_array(leases) && json_array_size(leases) <= 256));
		def_free(&def);
		json_decref(nets);
		json_decref(leases);
	} else {
		FUZZ_CHECK(err[0] != 0 && !nets && !leases);
	}
	/* the whole input as a line of a source worker's events file (migrate.c's figures; a C
	 * string: getline gave it so) */
	char *line = malloc(size + 1);
	memcpy(line, data, size);
	line[size] = '\0';
	json_t *fig = peer_event_figures(line);
	free(line);
	if (fig) {
		FUZZ_CHECK(json_real_value(json_object_get(fig, "downtime_ms")) >= 0);
		json_t *total = json_object_get(fig, "total_ms");
		FUZZ_CHECK(!total || json_real_value(total) >= 0);
		json_decref(fig);
	}
	free(text);
	return 0;
}
