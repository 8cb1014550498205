/* petrelctl clone and restore (docs/manager.md#clones, #restoring-a-backup):
 *   clone NAME SNAPSHOT N [--prefix P] [--no-start] [--net IFACE=TAP]...
 *   restore NAME BACKUP */
#include "ctl/ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLONE_TIMEOUT_MS 600000

static int post(const char *name, const char *verb, json_t *body, json_t **out)
{
	char path[160], *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	snprintf(path, sizeof(path), "/vms/%s/%s", name, verb);
	int e = text ? ctl_request("POST", path, text, CLONE_TIMEOUT_MS, out) : EXIT_REFUSED;
	free(text);
	return e;
}

int cmd_clone(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: petrelctl clone NAME SNAPSHOT N [--prefix P] [--no-start] [--net IFACE=TAP]\n");
		return EXIT_USAGE;
	}
	char *end;
	long n = strtol(argv[3], &end, 10);
	if (*end || end == argv[3] || n < 1) {
		fprintf(stderr, "petrelctl: clone: N must be a positive number, not '%s'\n", argv[3]);
		return EXIT_USAGE;
	}
	json_t *body = json_pack("{s:s, s:I}", "snapshot", argv[2], "count", (json_int_t)n), *net = NULL;
	for (int i = 4; i < argc; i++) {
		const char *eq = i + 1 < argc ? strchr(argv[i + 1], '=') : NULL;
		if (!strcmp(argv[i], "--no-start")) {
			json_object_set_new(body, "start", json_false());
		} else if (!strcmp(argv[i], "--prefix") && i + 1 < argc) {
			json_object_set_new(body, "prefix", json_string(argv[++i]));
		} else if (!strcmp(argv[i], "--net") && eq) {
			if (!net)
				json_object_set_new(body, "net", net = json_object());
			char iface[64];
			snprintf(iface, sizeof(iface), "%.*s", (int)(eq - argv[i + 1]), argv[i + 1]);
			json_object_set_new(net, iface, json_string(eq + 1));
			i++;
		} else {
			fprintf(stderr, "petrelctl: clone: unknown option or missing value: %s\n", argv[i]);
			json_decref(body);
			return EXIT_USAGE;
		}
	}
	json_t *o = NULL;
	int e = post(argv[1], "clone", body, &o);
	if (e)
		return e;
	if (ctl_json) {
		ctl_print_json(o);
	} else {
		size_t i;
		json_t *vm;
		printf("VM %s: %zu clone(s) of snapshot %s:", argv[1], json_array_size(o), argv[2]);
		json_array_foreach(o, i, vm)
			printf(" %s", json_string_value(json_object_get(vm, "name")));
		printf("\n");
	}
	json_decref(o);
	return 0;
}

int cmd_restore(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: petrelctl restore NAME BACKUP\n");
		return EXIT_USAGE;
	}
	json_t *o = NULL;
	int e = post(argv[1], "restore", json_pack("{s:s}", "backup", argv[2]), &o);
	if (e)
		return e;
	if (ctl_json)
		ctl_print_json(o);
	else
		printf("VM %s restored from backup %s: %s\n", argv[1], argv[2], json_string_value(json_object_get(o, "state")));
	json_decref(o);
	return 0;
}
