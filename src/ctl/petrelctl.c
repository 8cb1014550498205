/* petrelctl: petreld's command line, with virsh's habits (docs/manager.md#petrelctl).
 * Human output by default, --json for scripts. Exit statuses: 0 done; 1 petreld refused or
 * failed (its reason on stderr); 2 usage; 3 petreld cannot be reached; 4 no such VM. */
#include "ctl/ctl.h"
#include "http/client.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define VERB_TIMEOUT_MS 600000
#define DEFINITION_MAX_BYTES (1 << 20) /* petreld's own limit (DEF_MAX_BYTES) */

/* One command (kvmtool's kvm-cmd.c is the model): its name; how many words follow it (-1: any,
 * the command reads them itself); what runs it: fn, given its row (arg: what the row hands
 * it), or run, a command in a file of its own; its lines in the usage text (NULL: another
 * row's line names it). argv[0] is the command's name. The table, commands[], is below them. */
struct ctl_cmd {
	const char *name;
	int nargs;
	int (*fn)(const struct ctl_cmd *c, int argc, char **argv);
	int (*run)(int argc, char **argv);
	const char *arg;
	const char *usage;
};

static void usage(FILE *f);

static int cmd_list(const struct ctl_cmd *c, int argc, char **argv)
{
	bool all = argc > 1 && !strcmp(argv[1], "--all");
	json_t *a = NULL;
	/* The table needs only a VM's name, state, pid and resources: ask for just that (at
	 * 1000 VMs the full objects are ~200 KB, most of the command's time to parse). */
	const char *path = ctl_json ? "/vms" : all ? "/list" : "/list/running";
	int e = ctl_request("GET", path, NULL, 10000, &a);
	if (e)
		return e;
	size_t i;
	json_t *vm;
	if (ctl_json) {
		json_t *sel = json_array();
		json_array_foreach(a, i, vm)
			if (all || json_object_get(vm, "pid"))
				json_array_append(sel, vm);
		ctl_print_json(sel);
		json_decref(sel);
		json_decref(a);
		return 0;
	}
	printf(" %-8s %-24s %-10s %-16s %s\n", "Pid", "Name", "State", "Addresses", "Resources");
	printf("----------------------------------------------------------------------------------\n");
	json_array_foreach(a, i, vm) {
		json_t *pid = json_object_get(vm, "pid");
		if (!all && !pid)
			continue;
		char pids[16] = "-";
		if (pid)
			snprintf(pids, sizeof(pids), "%lld", (long long)json_integer_value(pid));
		char *res = json_dumps(json_object_get(vm, "resources"), JSON_COMPACT);
		/* its interfaces' addresses on host networks, then those its guest agent reports that
		 * are not among them (marked "(agent)") */
		char addrs[256] = "";
		size_t k, off = 0;
		json_t *ip, *net = json_object_get(vm, "addresses");
		json_array_foreach(net, k, ip)
			if (json_is_string(ip) && off < sizeof(addrs))
				off += (size_t)snprintf(addrs + off, sizeof(addrs) - off, "%s%s", off ? "," : "",
							json_string_value(ip));
		json_array_foreach(json_object_get(vm, "guest_addresses"), k, ip) {
			size_t j;
			json_t *seen;
			bool dup = false;
			json_array_foreach(net, j, seen)
				dup = dup || json_equal(seen, ip);
			if (json_is_string(ip) && !dup && off < sizeof(addrs))
				off += (size_t)snprintf(addrs + off, sizeof(addrs) - off, "%s%s(agent)", off ? "," : "",
							json_string_value(ip));
		}
		printf(" %-8s %-24s %-10s %-16s %s\n", pids, json_string_value(json_object_get(vm, "name")),
		       json_string_value(json_object_get(vm, "state")), off ? addrs : "-", res && strcmp(res, "{}") ? res : "");
		free(res);
	}
	json_decref(a);
	return 0;
}

static int cmd_info(const struct ctl_cmd *c, int argc, char **argv)
{
	const char *name = argv[1];
	char path[128];
	snprintf(path, sizeof(path), "/vms/%s", name);
	json_t *o = NULL;
	int e = ctl_request("GET", path, NULL, 10000, &o);
	if (e)
		return e;
	if (ctl_json) {
		ctl_print_json(o);
	} else {
		const char *key;
		json_t *v;
		json_object_foreach(o, key, v) {
			char *t = json_is_string(v) ? strdup(json_string_value(v)) : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			printf("%-16s %s\n", key, t ? t : "");
			free(t);
		}
	}
	json_decref(o);
	return 0;
}

/* The definition file at path (at most DEFINITION_MAX_BYTES) into *text, malloc'd. */
static int read_definition(const char *path, char **text, char *err, size_t errlen)
{
	size_t len;
	int r = read_whole_file(path, DEFINITION_MAX_BYTES, text, &len);
	if (r == -EINVAL || r == -EFBIG)
		return error_set(err, errlen, -EINVAL, "%s: not a regular file of at most %d bytes", path,
				 DEFINITION_MAX_BYTES);
	if (r < 0)
		return error_set(err, errlen, r, "%s: %s", path, strerror(-r));
	return 0;
}

static int cmd_define(const struct ctl_cmd *c, int argc, char **argv)
{
	const char *file = argv[1];
	char err[512], *text = NULL;
	if (read_definition(file, &text, err, sizeof(err)) < 0) {
		fprintf(stderr, "petrelctl: %s\n", err);
		return EXIT_REFUSED;
	}
	json_t *o = NULL;
	int e = ctl_request("POST", "/vms", text, 30000, &o);
	free(text);
	if (e)
		return e;
	if (ctl_json)
		ctl_print_json(o);
	else
		printf("VM %s defined from %s\n", json_string_value(json_object_get(o, "name")), file);
	json_decref(o);
	return 0;
}

/* method on /vms/NAME[/sub]: "VM NAME done", or the answer when done is NULL. */
static int simple(const char *method, const char *name, const char *sub, const char *done)
{
	char path[160];
	snprintf(path, sizeof(path), "/vms/%s%s%s", name, sub ? "/" : "", sub ? sub : "");
	json_t *o = NULL;
	int e = ctl_request(method, path, NULL, VERB_TIMEOUT_MS, &o);
	if (e)
		return e;
	if (ctl_json)
		ctl_print_json(o ? o : json_null());
	else if (done)
		printf("VM %s %s\n", name, done);
	else
		ctl_print_json(o);
	json_decref(o);
	return 0;
}

/* start, shutdown, ...: POST /vms/NAME/VERB; arg says what it did. */
static int cmd_verb(const struct ctl_cmd *c, int argc, char **argv)
{
	return simple("POST", argv[1], c->name, c->arg);
}

static int cmd_undefine(const struct ctl_cmd *c, int argc, char **argv)
{
	return simple("DELETE", argv[1], NULL, "undefined");
}

/* GET /vms/NAME/arg, printed. */
static int cmd_get(const struct ctl_cmd *c, int argc, char **argv)
{
	return simple("GET", argv[1], c->arg, NULL);
}

/* setvcpus, setmem: arg is the machine's field. */
static int cmd_machine(const struct ctl_cmd *c, int argc, char **argv)
{
	const char *name = argv[1], *key = c->arg, *value = argv[2];
	char *end, path[160];
	long long v = strtoll(value, &end, 10);
	if (*end || end == value || v < 1) {
		fprintf(stderr, "petrelctl: expected a positive number, not '%s'\n", value);
		return EXIT_USAGE;
	}
	json_t *o = NULL;
	snprintf(path, sizeof(path), "/vms/%s/machine", name);
	int e = ctl_request_json("PATCH", path, json_pack("{s:I}", key, (json_int_t)v), VERB_TIMEOUT_MS, &o);
	if (!e && ctl_json)
		ctl_print_json(o);
	else if (!e)
		printf("VM %s: %s set to %lld\n", name, key, v);
	json_decref(o);
	return e;
}

/* snapshot-create, -revert, -delete: arg is which. */
/* NAME THING [--consistency C]: the body {"name": THING, "consistency": C} of a snapshot or
 * backup, or NULL (usage printed) when the arguments are not that. */
static json_t *consistency_body(int argc, char **argv)
{
	if (!(argc == 3 || (argc == 5 && !strcmp(argv[3], "--consistency")))) {
		usage(stderr);
		return NULL;
	}
	json_t *body = json_pack("{s:s}", "name", argv[2]);
	if (argc == 5)
		json_object_set_new(body, "consistency", json_string(argv[4]));
	return body;
}

static int cmd_snapshot(const struct ctl_cmd *c, int argc, char **argv)
{
	const char *what = c->arg, *name = argv[1], *snap = argv[2];
	char path[256];
	json_t *o = NULL, *body;
	int e;
	if (strcmp(what, "create") && argc != 3) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(what, "create")) {
		if (!(body = consistency_body(argc, argv)))
			return EXIT_USAGE;
		snprintf(path, sizeof(path), "/vms/%s/snapshots", name);
		e = ctl_request_json("POST", path, body, VERB_TIMEOUT_MS, &o);
	} else if (!strcmp(what, "revert")) {
		snprintf(path, sizeof(path), "/vms/%s/snapshots/%s/revert", name, snap);
		e = ctl_request("POST", path, NULL, VERB_TIMEOUT_MS, &o);
	} else {
		snprintf(path, sizeof(path), "/vms/%s/snapshots/%s", name, snap);
		e = ctl_request("DELETE", path, NULL, VERB_TIMEOUT_MS, &o);
	}
	if (!e && ctl_json)
		ctl_print_json(o ? o : json_null());
	else if (!e)
		printf("VM %s: snapshot %s %sd\n", name, snap, !strcmp(what, "revert") ? "reverte" : what);
	json_decref(o);
	return e;
}

/* backup NAME BACKUP [--consistency C] [--incremental]: an incremental member over the VM's
 * last backup of the verb's chain (docs/backups.md#incremental-backups). */
static int cmd_backup(const struct ctl_cmd *c, int argc, char **argv)
{
	bool incremental = argc > 3 && !strcmp(argv[argc - 1], "--incremental");
	json_t *o = NULL, *body = consistency_body(argc - incremental, argv);
	if (!body)
		return EXIT_USAGE;
	if (incremental)
		json_object_set_new(body, "mode", json_string("incremental"));
	const char *name = argv[1], *backup = argv[2];
	char path[160];
	snprintf(path, sizeof(path), "/vms/%s/backup", name);
	int e = ctl_request_json("POST", path, body, VERB_TIMEOUT_MS, &o);
	if (!e && ctl_json)
		ctl_print_json(o ? o : json_null());
	else if (!e)
		printf("VM %s: backup %s made\n", name, backup);
	json_decref(o);
	return e;
}

static int cmd_set_resources(const struct ctl_cmd *c, int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *name = argv[1];
	json_t *body = json_object();
	for (int i = 2; i < argc; i += 2) {
		if (i + 1 >= argc) {
			fprintf(stderr, "petrelctl: %s needs a value\n", argv[i]);
			return EXIT_USAGE;
		}
		const char *v = argv[i + 1];
		char *end;
		long long n = strtoll(v, &end, 10);
		if (!strcmp(argv[i], "--cpuset"))
			json_object_set_new(body, "cpuset", json_string(v));
		else if (*end || end == v) {
			fprintf(stderr, "petrelctl: %s: expected a number, not '%s'\n", argv[i], v);
			return EXIT_USAGE;
		} else if (!strcmp(argv[i], "--cpu-weight"))
			json_object_set_new(body, "cpu_weight", json_integer(n));
		else if (!strcmp(argv[i], "--cpu-quota"))
			json_object_set_new(body, "cpu_quota_pct", json_integer(n));
		else if (!strcmp(argv[i], "--memory-limit"))
			json_object_set_new(body, "memory_limit_mib", json_integer(n));
		else {
			fprintf(stderr, "petrelctl: unknown option %s\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	char *text = json_dumps(body, JSON_COMPACT), path[128];
	json_decref(body);
	snprintf(path, sizeof(path), "/vms/%s/resources", name);
	json_t *o = NULL;
	int e = ctl_request("PUT", path, text, 30000, &o);
	free(text);
	if (e)
		return e;
	if (ctl_json) {
		ctl_print_json(o);
	} else {
		char *r = json_dumps(json_object_get(o, "resources"), JSON_COMPACT);
		printf("VM %s resources: %s\n", name, r ? r : "{}");
		free(r);
	}
	json_decref(o);
	return 0;
}

static void print_event(const char *line)
{
	if (ctl_json) {
		puts(line);
		fflush(stdout);
		return;
	}
	json_t *o = json_loads(line, 0, NULL);
	if (!o)
		return;
	time_t t = (time_t)json_integer_value(json_object_get(o, "time"));
	struct tm tm;
	char stamp[32];
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
	/* a VM's event names the VM, a host network's the network */
	const char *who = json_string_value(json_object_get(o, "vm")), *what = json_string_value(json_object_get(o, "event"));
	if (!who)
		who = json_string_value(json_object_get(o, "network"));
	printf("%s  %-20s %s", stamp, who ? who : "", what ? what : "");
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v) {
		if (!strcmp(key, "time") || !strcmp(key, "vm") || !strcmp(key, "network") || !strcmp(key, "event"))
			continue;
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		printf(" %s=%s", key, s ? s : "");
		free(s);
	}
	printf("\n");
	fflush(stdout);
	json_decref(o);
}

static int cmd_events(const struct ctl_cmd *c, int argc, char **argv)
{
	int fd = uhttp_connect(ctl_sock_path);
	if (fd < 0) {
		fprintf(stderr, "petrelctl: cannot reach petreld at %s: %s\n", ctl_sock_path, strerror(-fd));
		return EXIT_UNREACHABLE;
	}
	const char *req = "GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n";
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0)
		return EXIT_UNREACHABLE;
	char buf[65536];
	size_t len = 0;
	bool head = true;
	for (;;) {
		ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		char *p = buf;
		if (head) {
			char *end = strstr(buf, "\r\n\r\n");
			if (!end)
				continue;
			if (strncmp(buf, "HTTP/1.1 200", 12)) {
				fprintf(stderr, "petrelctl: petreld refused the event stream\n");
				return EXIT_REFUSED;
			}
			head = false;
			p = end + 4;
		}
		char *nl;
		while ((nl = strchr(p, '\n'))) {
			*nl = '\0';
			print_event(p);
			p = nl + 1;
		}
		len = strlen(p);
		memmove(buf, p, len);
		if (len == sizeof(buf) - 1)
			len = 0; /* a line longer than the buffer: dropped */
	}
	close(fd);
	return 0;
}

static const struct ctl_cmd commands[] = {
	{ "list", -1, cmd_list, NULL, NULL,
	  "  list [--all]                 running VMs (--all: every defined one)\n" },
	{ "info", 1, cmd_info, NULL, NULL,
	  "  info NAME                    one VM: state, worker, resources, cgroup values\n" },
	{ "define", 1, cmd_define, NULL, NULL,
	  "  define FILE                  define (or redefine) a VM from its definition file\n" },
	{ "undefine", 1, cmd_undefine, NULL, NULL,
	  "  undefine NAME                remove a VM's definition (not while it runs)\n" },
	{ "dumpdef", 1, cmd_get, NULL, "definition",
	  "  dumpdef NAME                 print a VM's definition\n" },
	{ "start", 1, cmd_verb, NULL, "started",
	  "  start|shutdown|destroy|reboot|pause|resume NAME\n" },
	{ "shutdown", 1, cmd_verb, NULL, "is shut down", NULL },
	{ "destroy", 1, cmd_verb, NULL, "destroyed", NULL },
	{ "reboot", 1, cmd_verb, NULL, "rebooted", NULL },
	{ "pause", 1, cmd_verb, NULL, "paused", NULL },
	{ "resume", 1, cmd_verb, NULL, "resumed", NULL },
	{ "set-resources", -1, cmd_set_resources, NULL, NULL,
	  "  set-resources NAME [--cpu-weight N] [--cpu-quota PCT] [--cpuset LIST] [--memory-limit MIB]\n" },
	{ "setvcpus", 2, cmd_machine, NULL, "vcpu_count",
	  "  setvcpus NAME N              vCPUs of a running VM (vCPU hot-plug)\n" },
	{ "setmem", 2, cmd_machine, NULL, "memory_mib",
	  "  setmem NAME MIB              memory of a running VM (virtio-mem or the balloon)\n" },
	{ "snapshot-create", -1, cmd_snapshot, NULL, "create",
	  "  snapshot-create NAME SNAP [--consistency auto|filesystem|crash]\n"
	  "                               pause, snapshot (memory and devices), resume\n" },
	{ "snapshot-list", 1, cmd_get, NULL, "snapshots",
	  "  snapshot-list NAME           its snapshots\n" },
	{ "backup", -1, cmd_backup, NULL, NULL,
	  "  backup NAME BACKUP [--consistency auto|filesystem|crash] [--incremental]\n"
	  "                               a backup of the running VM with copies of its disks (filesystem:\n"
	  "                               its file systems frozen by the guest agent meanwhile)\n" },
	{ "backup-list", -1, NULL, cmd_backup_job, NULL,
	  "  backup-list NAME             its backups (its own and its jobs'), with their chains\n" },
	{ "backup-verify", -1, NULL, cmd_backup_job, NULL,
	  "  backup-verify NAME BACKUP    check the backup's files (and its chain's) against their checksums\n" },
	{ "backup-job-define", -1, NULL, cmd_backup_job, NULL,
	  "  backup-job-define FILE | backup-job-list | backup-job-run ID | backup-job-remove ID\n"
	  "                               backups on a calendar, pruned (docs/backups.md)\n" },
	{ "backup-job-list", -1, NULL, cmd_backup_job, NULL, NULL },
	{ "backup-job-run", -1, NULL, cmd_backup_job, NULL, NULL },
	{ "backup-job-remove", -1, NULL, cmd_backup_job, NULL, NULL },
	{ "snapshot-revert", -1, cmd_snapshot, NULL, "revert",
	  "  snapshot-revert NAME SNAP    replace the VM's worker by one restored from SNAP\n" },
	{ "snapshot-delete", -1, cmd_snapshot, NULL, "delete",
	  "  snapshot-delete NAME SNAP\n" },
	{ "clone", -1, NULL, cmd_clone, NULL,
	  "  clone NAME SNAP N [--prefix P] [--no-start] [--net IFACE=TAP]\n"
	  "                               N new VMs from SNAP on copy-on-write disks, started\n" },
	{ "define-from-image", -1, NULL, cmd_image, NULL,
	  "  define-from-image NAME --image IMG [--cpus N] [--memory MIB] [--disk-size GIB]\n"
	  "      [--network NET | --tap TAP] [--user USER] [--ssh-key FILE]... [--password-hash H]\n"
	  "      [--cloud-init FILE] [--count N] [--boot disk|seabios|ovmf] [--start]\n"
	  "                               VM(s) on copy-on-write disks of an image, cloud-init's identity each\n" },
	{ "image-list", -1, NULL, cmd_image, NULL,
	  "  image-list | image-import NAME FILE [--move] | image-remove NAME\n"
	  "                               the image store (docs/manager.md#images)\n" },
	{ "image-import", -1, NULL, cmd_image, NULL, NULL },
	{ "image-remove", -1, NULL, cmd_image, NULL, NULL },
	{ "restore", -1, NULL, cmd_restore, NULL,
	  "  restore NAME BACKUP          the backup's disks back, the VM running from its state\n" },
	{ "events", -1, cmd_events, NULL, NULL,
	  "  events                       follow the event stream (Ctrl-C to stop)\n" },
	{ "console", 1, NULL, cmd_console, NULL,
	  "  console NAME                 the VM's serial console: its output (recent first), and what is\n"
	  "                               typed goes to the guest; Ctrl-] detaches\n" },
	{ "vnc", -1, NULL, cmd_vnc, NULL,
	  "  vnc NAME [--port P]          the VM's screen for a local VNC viewer on 127.0.0.1:P (5900;\n"
	  "                               0: any free port, printed), through petreld\n" },
	{ "top", -1, NULL, cmd_top, NULL,
	  "  top [--delay S] [--iterations N]  every running VM's CPU, memory and I/O, refreshed\n" },
	{ "web-user", -1, NULL, cmd_web_user, NULL,
	  "  web-user [--users FILE] NAME admin|readonly  add a web page user (password on stdin)\n" },
	{ "migrate", -1, NULL, cmd_migrate, NULL,
	  "  migrate NAME --to HOST[:PORT] [--downtime-ms N] [--timeout-s N]\n"
	  "                               live-migrate to HOST's petreld (TLS, port 7443); the VM and its\n"
	  "                               definition leave this host\n" },
	{ "replica", -1, NULL, cmd_replica, NULL,
	  "  replica NAME standby --listen URL | primary --to URL | promote | status [--json]\n"
	  "                               replicated VMs, failover decided by a cluster (replica.c)\n" },
	{ "guest", -1, NULL, cmd_guest, NULL,
	  "  guest NAME ping|info|interfaces|freeze|thaw|fsfreeze-status|fstrim|set-time|shutdown|reboot|halt\n"
	  "                               the VM's guest agent (docs/guest-agent.md)\n" },
	{ "net-define", -1, NULL, cmd_net, NULL,
	  "  net-define FILE | net-undefine NAME | net-list | net-info NAME\n"
	  "  net-start NAME | net-destroy NAME | net-autostart NAME [--disable]\n"
	  "                               host networks: bridges, NAT, DHCP (docs/networks.md)\n" },
	{ "net-undefine", -1, NULL, cmd_net, NULL, NULL },
	{ "net-list", -1, NULL, cmd_net, NULL, NULL },
	{ "net-info", -1, NULL, cmd_net, NULL, NULL },
	{ "net-start", -1, NULL, cmd_net, NULL, NULL },
	{ "net-destroy", -1, NULL, cmd_net, NULL, NULL },
	{ "net-autostart", -1, NULL, cmd_net, NULL, NULL },
};

static void usage(FILE *f)
{
	fputs("usage: petrelctl [--socket PATH] [--json] COMMAND [ARGS]\n\n", f);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (commands[i].usage)
			fputs(commands[i].usage, f);
	fputs("\nThe socket is $PETRELD_SOCKET or /run/petreld/petreld.sock. Exit status: 0 done,\n"
	      "1 refused or failed, 2 usage, 3 petreld unreachable, 4 no such VM.\n", f);
}

static const struct ctl_cmd *find_command(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	ctl_arena_init();
	const char *env = getenv("PETRELD_SOCKET");
	if (env && *env)
		ctl_sock_path = env;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--json"))
			ctl_json = true;
		else if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			ctl_sock_path = argv[++i];
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "petrelctl: unknown option %s\n\n", argv[i]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const struct ctl_cmd *c = find_command(argv[i]);
	int n = argc - i;
	char **a = argv + i;
	if (!c) {
		fprintf(stderr, "petrelctl: unknown command '%s'\n\n", argv[i]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (c->nargs >= 0 && n != c->nargs + 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	return c->run ? c->run(n, a) : c->fn(c, n, a);
}
