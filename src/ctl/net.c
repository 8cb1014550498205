/* petrelctl net-*: petreld's host networks (docs/networks.md): net-define FILE, net-undefine,
 * net-list, net-info, net-start, net-destroy, net-autostart NAME [--disable]. */
#include "ctl/ctl.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NET_TIMEOUT_MS 30000

static int usage(void)
{
	fprintf(stderr, "usage: petrelctl net-define FILE | net-list | net-info NAME | net-start NAME |\n"
			"       net-destroy NAME | net-undefine NAME | net-autostart NAME [--disable]\n");
	return EXIT_USAGE;
}

static int net_define(const char *file)
{
	json_t *o = NULL;
	int e = ctl_post_file("/networks", file, NET_TIMEOUT_MS, &o);
	if (!e && ctl_json)
		ctl_print_json(o);
	else if (!e)
		printf("network %s defined from %s\n", json_string_value(json_object_get(o, "name")), file);
	json_decref(o);
	return e;
}

static int net_list(void)
{
	json_t *a = NULL, *n;
	size_t i;
	int e = ctl_list("/networks", NET_TIMEOUT_MS, &a);
	if (e || !a)
		return e;
	printf(" %-20s %-9s %-16s %-8s %-9s %-18s %s\n", "Name", "Kind", "Bridge", "Active", "Autostart", "Subnet", "VMs");
	printf("-------------------------------------------------------------------------------------\n");
	json_array_foreach(a, i, n)
		printf(" %-20s %-9s %-16s %-8s %-9s %-18s %lld\n", json_string_value(json_object_get(n, "name")),
		       json_string_value(json_object_get(n, "kind")), json_string_value(json_object_get(n, "bridge")),
		       json_is_true(json_object_get(n, "active")) ? "yes" : "no",
		       json_is_true(json_object_get(n, "autostart")) ? "yes" : "no",
		       json_string_value(json_object_get(n, "subnet")), (long long)json_integer_value(json_object_get(n, "vms")));
	json_decref(a);
	return 0;
}

/* method on /networks/NAME[/sub] with body (taken): the answer printed when print, else done. */
static int net_simple(const char *method, const char *name, const char *sub, json_t *body, bool print,
		      const char *done)
{
	char path[128];
	snprintf(path, sizeof(path), "/networks/%s%s%s", name, sub ? "/" : "", sub ? sub : "");
	json_t *o = NULL;
	int e = ctl_request_json(method, path, body, NET_TIMEOUT_MS, &o);
	if (!e && (print || ctl_json))
		ctl_print_json(o);
	else if (!e)
		printf("network %s %s\n", name, done);
	json_decref(o);
	return e;
}

int cmd_net(int argc, char **argv)
{
	const char *cmd = argv[0] + 4;   /* after "net-" */
	if (!strcmp(cmd, "list"))
		return argc == 1 ? net_list() : usage();
	if (!strcmp(cmd, "autostart") && (argc == 2 || (argc == 3 && !strcmp(argv[2], "--disable"))))
		return net_simple("PUT", argv[1], "autostart", json_pack("{s:b}", "autostart", argc == 2), false,
				  argc == 2 ? "starts with petreld" : "does not start with petreld");
	if (argc != 2)
		return usage();
	if (!strcmp(cmd, "define"))
		return net_define(argv[1]);
	if (!strcmp(cmd, "info"))
		return net_simple("GET", argv[1], NULL, NULL, true, NULL);
	if (!strcmp(cmd, "undefine"))
		return net_simple("DELETE", argv[1], NULL, NULL, false, "undefined");
	if (!strcmp(cmd, "start") || !strcmp(cmd, "destroy"))
		return net_simple("POST", argv[1], cmd, NULL, false, !strcmp(cmd, "start") ? "started" : "destroyed");
	return usage();
}
