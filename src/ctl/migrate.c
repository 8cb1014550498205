/* petrelctl migrate NAME --to HOST[:PORT] [--downtime-ms N] [--timeout-s N]: live-migrate a
 * running VM to the petreld on HOST (its TLS listener, port 7443 by default; petreld's
 * POST /vms/NAME/migrate, docs/manager.md#migration-between-hosts). Exit 0 once the VM runs
 * on HOST and this host no longer has it; 1 if it failed (the VM keeps running here). */
#include "ctl/ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_migrate(int argc, char **argv)
{
	const char *name = NULL, *to = NULL;
	long downtime = 300, timeout = 600;
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		char *end = NULL;
		if (!strcmp(o, "--to") && i + 1 < argc)
			to = argv[++i];
		else if (!strcmp(o, "--downtime-ms") && i + 1 < argc)
			downtime = strtol(argv[++i], &end, 10);
		else if (!strcmp(o, "--timeout-s") && i + 1 < argc)
			timeout = strtol(argv[++i], &end, 10);
		else if (o[0] != '-' && !name)
			name = o;
		else
			end = (char *)"bad";
		if (end && *end) {
			fprintf(stderr, "petrelctl: migrate: unexpected or bad '%s'\n", o);
			return EXIT_USAGE;
		}
	}
	if (!name || !to || downtime < 1 || downtime > 600000 || timeout < 1 || timeout > 86400) {
		fprintf(stderr, "usage: petrelctl migrate NAME --to HOST[:PORT] [--downtime-ms N] [--timeout-s N]\n");
		return EXIT_USAGE;
	}
	json_t *b = json_pack("{s:s, s:i, s:i}", "to", to, "downtime_ms", (int)downtime, "timeout_s", (int)timeout);
	char *body = json_dumps(b, JSON_COMPACT), path[128];
	json_decref(b);
	snprintf(path, sizeof(path), "/vms/%.64s/migrate", name);
	json_t *out = NULL;
	int e = ctl_request("POST", path, body, (unsigned)(timeout + 90) * 1000, &out);
	free(body);
	if (e)
		return e;
	if (ctl_json) {
		char *t = json_dumps(out, JSON_INDENT(2));
		if (t)
			puts(t);
		free(t);
	} else {
		json_t *d = json_object_get(out, "downtime_ms");
		printf("%s migrated to %s", name, json_string_value(json_object_get(out, "migrated_to")));
		if (json_is_number(d))
			printf(" (downtime %.1f ms)", json_number_value(d));
		printf("\n");
	}
	json_decref(out);
	return 0;
}
