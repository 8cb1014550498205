/* petrelctl replica NAME standby|primary|promote|status: replicated VMs (docs/manager.md#replicated-vms).
 * The cluster's resource agent (ocf/) calls these: their command lines and exit statuses stay. */
#include "ctl/ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLICA_TIMEOUT_MS 600000  /* primary: until protected (petreld gives up after 120 s) */

static int usage(void)
{
	fprintf(stderr,
		"usage: petrelctl replica NAME standby --listen tls|tcp:ADDR:PORT [--timeout-ms N]\n"
		"       petrelctl replica NAME primary --to tls|tcp:HOST:PORT [--interval-ms N] [--timeout-ms N]\n"
		"                                      [--on-loss continue|stop]\n"
		"       (tls: uses petreld's --tls-dir certificates; tcp: is plain)\n"
		"       petrelctl replica NAME promote [--by WHO]\n"
		"       petrelctl replica NAME status [--json]\n");
	return EXIT_USAGE;
}

/* --opt VALUE pairs into body as key (a number for the *-ms ones). */
static int options(int argc, char **argv, json_t *body)
{
	static const struct { const char *opt, *key; bool number; } known[] = {
		{ "--listen", "listen_url", false }, { "--to", "peer_url", false },
		{ "--interval-ms", "checkpoint_interval_ms", true }, { "--timeout-ms", "failure_timeout_ms", true },
		{ "--on-loss", "on_standby_loss", false }, { "--by", "by", false },
	};
	for (int i = 0; i < argc; i += 2) {
		size_t k = 0;
		while (k < sizeof(known) / sizeof(known[0]) && strcmp(argv[i], known[k].opt))
			k++;
		if (k == sizeof(known) / sizeof(known[0]) || i + 1 >= argc) {
			fprintf(stderr, "petrelctl: replica: %s %s\n", argv[i], i + 1 >= argc ? "needs a value" : "is no option here");
			return EXIT_USAGE;
		}
		char *end;
		long long n = strtoll(argv[i + 1], &end, 10);
		if (known[k].number && (*end || end == argv[i + 1] || n < 0)) {
			fprintf(stderr, "petrelctl: replica: %s: expected a number, not '%s'\n", argv[i], argv[i + 1]);
			return EXIT_USAGE;
		}
		json_object_set_new(body, known[k].key, known[k].number ? json_integer(n) : json_string(argv[i + 1]));
	}
	return 0;
}

static void print_status(json_t *o)
{
	if (ctl_json) {
		char *t = json_dumps(o, JSON_INDENT(2));
		if (t)
			puts(t);
		free(t);
		return;
	}
	const char *keys[] = { "role", "state", "running", "vm_state", "peer", "checkpoints", "generation", "reason",
			       "failover_ms", "promoted_by", NULL };
	for (const char **k = keys; *k; k++) {
		json_t *v = json_object_get(o, *k);
		if (!v)
			continue;
		char *t = json_dumps(v, JSON_ENCODE_ANY);
		printf("%-12s %s\n", *k, json_is_string(v) ? json_string_value(v) : t ? t : "");
		free(t);
	}
}

int cmd_replica(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	const char *name = argv[1], *verb = argv[2];
	char path[160];
	if (!strcmp(verb, "status")) {
		if (argc > 4 || (argc == 4 && strcmp(argv[3], "--json")))
			return usage();
		if (argc == 4)
			ctl_json = true;
		snprintf(path, sizeof(path), "/vms/%.64s/replica", name);
		json_t *o = NULL;
		int e = ctl_request("GET", path, NULL, 30000, &o);
		if (e == 0)
			print_status(o);
		json_decref(o);
		return e;
	}
	if (strcmp(verb, "standby") && strcmp(verb, "primary") && strcmp(verb, "promote"))
		return usage();
	json_t *body = json_object();
	int e = options(argc - 3, argv + 3, body);
	const char *need = !strcmp(verb, "standby") ? "listen_url" : !strcmp(verb, "primary") ? "peer_url" : NULL;
	if (e == 0 && need && !json_object_get(body, need)) {
		fprintf(stderr, "petrelctl: replica %s needs %s\n", verb, need[0] == 'l' ? "--listen URL" : "--to URL");
		e = EXIT_USAGE;
	}
	if (e == 0 && !need && (json_object_size(body) > 1 || (json_object_size(body) && !json_object_get(body, "by"))))
		e = usage();
	if (e == 0 && need && json_object_get(body, "by"))
		e = usage();
	if (e) {
		json_decref(body);
		return e;
	}
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	snprintf(path, sizeof(path), "/vms/%.64s/replica/%s", name, verb);
	e = ctl_request("POST", path, text, REPLICA_TIMEOUT_MS, NULL);
	free(text);
	if (e == 0 && !ctl_json)
		printf("VM %s: %s\n", name, !strcmp(verb, "standby") ? "waiting standby (external takeover)"
					 : !strcmp(verb, "primary") ? "primary, protected"
								    : "promoted: runs here");
	return e;
}
