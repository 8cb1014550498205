/* petrelctl guest NAME VERB: a VM's guest agent through petreld (docs/guest-agent.md). */
#include "ctl/ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GUEST_TIMEOUT_MS 60000   /* petreld's own wait for the worker is 30 s */

static const struct {
	const char *verb, *method, *path, *body;
} verbs[] = {
	{ "ping", "GET", "ping", NULL },
	{ "info", "GET", "info", NULL },
	{ "interfaces", "GET", "interfaces", NULL },
	{ "freeze", "PUT", "fsfreeze", "{\"action\":\"freeze\"}" },
	{ "thaw", "PUT", "fsfreeze", "{\"action\":\"thaw\"}" },
	{ "fsfreeze-status", "PUT", "fsfreeze", "{\"action\":\"status\"}" },
	{ "fstrim", "PUT", "fstrim", "{}" },
	{ "set-time", "PUT", "time", "{}" },
	{ "shutdown", "PUT", "shutdown", "{\"mode\":\"powerdown\"}" },
	{ "reboot", "PUT", "shutdown", "{\"mode\":\"reboot\"}" },
	{ "halt", "PUT", "shutdown", "{\"mode\":\"halt\"}" },
};

static int usage(void)
{
	fprintf(stderr, "usage: petrelctl guest NAME ping|info|interfaces|freeze|thaw|fsfreeze-status|fstrim|set-time|\n"
			"                           shutdown|reboot|halt\n");
	return EXIT_USAGE;
}

/* interfaces as a table: name, MAC, addresses */
static void print_interfaces(json_t *o)
{
	json_t *it, *a;
	size_t i, j;
	printf(" %-16s %-18s %s\n", "Interface", "MAC", "Addresses");
	json_array_foreach(json_object_get(o, "interfaces"), i, it) {
		printf(" %-16s %-18s ", json_string_value(json_object_get(it, "name")) ?: "?",
		       json_string_value(json_object_get(it, "mac")) ?: "-");
		json_array_foreach(json_object_get(it, "addresses"), j, a)
			printf("%s%s/%lld", j ? "," : "", json_string_value(json_object_get(a, "address")) ?: "?",
			       (long long)json_integer_value(json_object_get(a, "prefix")));
		printf("\n");
	}
}

int cmd_guest(int argc, char **argv)
{
	if (argc != 3)
		return usage();
	size_t i = 0, n = sizeof(verbs) / sizeof(verbs[0]);
	while (i < n && strcmp(argv[2], verbs[i].verb))
		i++;
	if (i == n)
		return usage();
	char path[160];
	snprintf(path, sizeof(path), "/vms/%.64s/guest/%s", argv[1], verbs[i].path);
	json_t *o = NULL;
	int e = ctl_request(verbs[i].method, path, verbs[i].body, GUEST_TIMEOUT_MS, &o);
	if (e == 0) {
		if (!ctl_json && !strcmp(verbs[i].verb, "interfaces"))
			print_interfaces(o);
		else if (o && json_object_size(o))
			ctl_print_json(o);
		else if (!ctl_json)
			printf("VM %s: guest %s done\n", argv[1], verbs[i].verb);
	}
	json_decref(o);
	return e;
}
