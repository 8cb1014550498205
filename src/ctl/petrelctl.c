/* petrelctl: petreld's command line, with virsh's habits (docs/manager.md#petrelctl).
 * Human output by default, --json for scripts. Exit statuses: 0 done; 1 petreld refused or
 * failed (its reason on stderr); 2 usage; 3 petreld cannot be reached; 4 no such VM. */
#include "ctl/ctl.h"
#include "manager/manager.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define VERB_TIMEOUT_MS 600000

const char *ctl_sock_path = "/run/petreld/petreld.sock";
bool ctl_json;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: petrelctl [--socket PATH] [--json] COMMAND [ARGS]\n"
		"\n"
		"  list [--all]                 running VMs (--all: every defined one)\n"
		"  info NAME                    one VM: state, worker, resources, cgroup values\n"
		"  define FILE                  define (or redefine) a VM from its definition file\n"
		"  undefine NAME                remove a VM's definition (not while it runs)\n"
		"  dumpdef NAME                 print a VM's definition\n"
		"  start|shutdown|destroy|reboot|pause|resume NAME\n"
		"  set-resources NAME [--cpu-weight N] [--cpu-quota PCT] [--cpuset LIST] [--memory-limit MIB]\n"
		"  setvcpus NAME N              vCPUs of a running VM (vCPU hot-plug)\n"
		"  setmem NAME MIB              memory of a running VM (virtio-mem or the balloon)\n"
		"  snapshot-create NAME SNAP    pause, snapshot (memory and devices), resume\n"
		"  snapshot-list NAME           its snapshots\n"
		"  backup NAME BACKUP           a backup of the running VM with copies of its disks\n"
		"  backup-list NAME             its backups\n"
		"  snapshot-revert NAME SNAP    replace the VM's worker by one restored from SNAP\n"
		"  snapshot-delete NAME SNAP\n"
		"  clone NAME SNAP N [--prefix P] [--no-start] [--net IFACE=TAP]\n"
		"                               N new VMs from SNAP on copy-on-write disks, started\n"
		"  restore NAME BACKUP          the backup's disks back, the VM running from its state\n"
		"  events                       follow the event stream (Ctrl-C to stop)\n"
		"  console NAME                 the VM's serial console: its output (recent first), and what is\n"
		"                               typed goes to the guest; Ctrl-] detaches\n"
		"  top [--delay S] [--iterations N]  every running VM's CPU, memory and I/O, refreshed\n"
		"  web-user [--users FILE] NAME admin|readonly  add a web page user (password on stdin)\n"
		"  migrate NAME --to HOST[:PORT] [--downtime-ms N] [--timeout-s N]\n"
		"                               live-migrate to HOST's petreld (TLS, port 7443); the VM and its\n"
		"                               definition leave this host\n"
		"  replica NAME standby --listen URL | primary --to URL | promote | status [--json]\n"
		"                               replicated VMs, failover decided by a cluster (replica.c)\n"
		"\n"
		"The socket is $PETRELD_SOCKET or /run/petreld/petreld.sock. Exit status: 0 done,\n"
		"1 refused or failed, 2 usage, 3 petreld unreachable, 4 no such VM.\n");
}

/* One request; prints petreld's fault and returns the exit status on failure. */
int ctl_request(const char *method, const char *path, const char *body, unsigned timeout_ms, json_t **out)
{
	char *reply = NULL;
	int st = uhttp_request(ctl_sock_path, method, path, body, timeout_ms, &reply);
	if (st < 0) {
		fprintf(stderr, "petrelctl: cannot reach petreld at %s: %s\n", ctl_sock_path, strerror(-st));
		return EXIT_UNREACHABLE;
	}
	if (reply)
		ctl_arena_for(strlen(reply));
	json_t *o = reply ? json_loads(reply, 0, NULL) : NULL;
	free(reply);
	if (st >= 400) {
		const char *msg = json_string_value(json_object_get(o, "fault_message"));
		fprintf(stderr, "petrelctl: %s\n", msg ? msg : "request failed");
		json_decref(o);
		return st == 404 && !strncmp(path, "/vms/", 5) ? EXIT_NO_VM : EXIT_REFUSED;
	}
	if (out)
		*out = o;
	else
		json_decref(o);
	return 0;
}

static void print_json(json_t *o)
{
	char *t = json_dumps(o, JSON_INDENT(2) | JSON_ENCODE_ANY);
	if (t)
		puts(t);
	free(t);
}

static int cmd_list(bool all)
{
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
		print_json(sel);
		json_decref(sel);
		json_decref(a);
		return 0;
	}
	printf(" %-8s %-24s %-10s %s\n", "Pid", "Name", "State", "Resources");
	printf("-----------------------------------------------------------------\n");
	json_array_foreach(a, i, vm) {
		json_t *pid = json_object_get(vm, "pid");
		if (!all && !pid)
			continue;
		char pids[16] = "-";
		if (pid)
			snprintf(pids, sizeof(pids), "%lld", (long long)json_integer_value(pid));
		char *res = json_dumps(json_object_get(vm, "resources"), JSON_COMPACT);
		printf(" %-8s %-24s %-10s %s\n", pids, json_string_value(json_object_get(vm, "name")),
		       json_string_value(json_object_get(vm, "state")), res && strcmp(res, "{}") ? res : "");
		free(res);
	}
	json_decref(a);
	return 0;
}

static int cmd_info(const char *name)
{
	char path[128];
	snprintf(path, sizeof(path), "/vms/%s", name);
	json_t *o = NULL;
	int e = ctl_request("GET", path, NULL, 10000, &o);
	if (e)
		return e;
	if (ctl_json) {
		print_json(o);
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

static int cmd_define(const char *file)
{
	char err[512], *text = NULL;
	int n = defs_read(".", file, &text, err, sizeof(err));
	if (n < 0 && file[0] == '/')
		n = defs_read("", file, &text, err, sizeof(err));
	if (n < 0) {
		fprintf(stderr, "petrelctl: %s\n", err);
		return EXIT_REFUSED;
	}
	json_t *o = NULL;
	int e = ctl_request("POST", "/vms", text, 30000, &o);
	free(text);
	if (e)
		return e;
	if (ctl_json)
		print_json(o);
	else
		printf("VM %s defined from %s\n", json_string_value(json_object_get(o, "name")), file);
	json_decref(o);
	return 0;
}

static int cmd_simple(const char *method, const char *name, const char *sub, const char *done)
{
	char path[160];
	snprintf(path, sizeof(path), "/vms/%s%s%s", name, sub ? "/" : "", sub ? sub : "");
	json_t *o = NULL;
	int e = ctl_request(method, path, NULL, VERB_TIMEOUT_MS, &o);
	if (e)
		return e;
	if (ctl_json)
		print_json(o ? o : json_null());
	else if (done)
		printf("VM %s %s\n", name, done);
	else
		print_json(o);
	json_decref(o);
	return 0;
}

/* ctl_request with a JSON body (taken). */
static int request_json(const char *method, const char *path, json_t *body, json_t **out)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	int e = ctl_request(method, path, text, VERB_TIMEOUT_MS, out);
	free(text);
	return e;
}

static int cmd_machine(const char *name, const char *key, const char *value)
{
	char *end, path[160];
	long long v = strtoll(value, &end, 10);
	if (*end || end == value || v < 1) {
		fprintf(stderr, "petrelctl: expected a positive number, not '%s'\n", value);
		return EXIT_USAGE;
	}
	json_t *o = NULL;
	snprintf(path, sizeof(path), "/vms/%s/machine", name);
	int e = request_json("PATCH", path, json_pack("{s:I}", key, (json_int_t)v), &o);
	if (!e && ctl_json)
		print_json(o);
	else if (!e)
		printf("VM %s: %s set to %lld\n", name, key, v);
	json_decref(o);
	return e;
}

static int cmd_snapshot(const char *what, const char *name, const char *snap)
{
	char path[256];
	json_t *o = NULL;
	int e;
	if (!strcmp(what, "create")) {
		snprintf(path, sizeof(path), "/vms/%s/snapshots", name);
		e = request_json("POST", path, json_pack("{s:s}", "name", snap), &o);
	} else if (!strcmp(what, "revert")) {
		snprintf(path, sizeof(path), "/vms/%s/snapshots/%s/revert", name, snap);
		e = ctl_request("POST", path, NULL, VERB_TIMEOUT_MS, &o);
	} else if (!strcmp(what, "delete")) {
		snprintf(path, sizeof(path), "/vms/%s/snapshots/%s", name, snap);
		e = ctl_request("DELETE", path, NULL, VERB_TIMEOUT_MS, &o);
	} else {
		fprintf(stderr, "petrelctl: unknown command 'snapshot-%s'\n", what);
		return EXIT_USAGE;
	}
	if (!e && ctl_json)
		print_json(o ? o : json_null());
	else if (!e)
		printf("VM %s: snapshot %s %sd\n", name, snap, !strcmp(what, "revert") ? "reverte" : what);
	json_decref(o);
	return e;
}

static int cmd_backup(const char *name, const char *backup)
{
	char path[160];
	json_t *o = NULL;
	snprintf(path, sizeof(path), "/vms/%s/backup", name);
	int e = request_json("POST", path, json_pack("{s:s}", "name", backup), &o);
	if (!e && ctl_json)
		print_json(o ? o : json_null());
	else if (!e)
		printf("VM %s: backup %s made\n", name, backup);
	json_decref(o);
	return e;
}

static int cmd_set_resources(int argc, char **argv)
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
		print_json(o);
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
	printf("%s  %-20s %s", stamp, json_string_value(json_object_get(o, "vm")),
	       json_string_value(json_object_get(o, "event")));
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v) {
		if (!strcmp(key, "time") || !strcmp(key, "vm") || !strcmp(key, "event"))
			continue;
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		printf(" %s=%s", key, s ? s : "");
		free(s);
	}
	printf("\n");
	fflush(stdout);
	json_decref(o);
}

static int cmd_events(void)
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
	const char *cmd = argv[i];
	int n = argc - i;
	char **a = argv + i;
	if (!strcmp(cmd, "list"))
		return cmd_list(n > 1 && !strcmp(a[1], "--all"));
	if (!strcmp(cmd, "events"))
		return cmd_events();
	if (!strcmp(cmd, "top"))
		return cmd_top(n, a);
	if (!strcmp(cmd, "clone") || !strcmp(cmd, "restore"))
		return cmd[1] == 'l' ? cmd_clone(n, a) : cmd_restore(n, a);
	if (!strcmp(cmd, "web-user"))
		return cmd_web_user(n, a);
	if (!strcmp(cmd, "set-resources"))
		return cmd_set_resources(n, a);
	if (!strcmp(cmd, "migrate"))
		return cmd_migrate(n, a);
	if (!strcmp(cmd, "replica"))
		return cmd_replica(n, a);
	if (n == 3 && (!strcmp(cmd, "setvcpus") || !strcmp(cmd, "setmem")))
		return cmd_machine(a[1], cmd[3] == 'v' ? "vcpu_count" : "memory_mib", a[2]);
	if (n == 3 && !strncmp(cmd, "snapshot-", 9))
		return cmd_snapshot(cmd + 9, a[1], a[2]);
	if (n == 2 && !strcmp(cmd, "snapshot-list"))
		return cmd_simple("GET", a[1], "snapshots", NULL);
	if (n == 3 && !strcmp(cmd, "backup"))
		return cmd_backup(a[1], a[2]);
	if (n == 2 && !strcmp(cmd, "backup-list"))
		return cmd_simple("GET", a[1], "backups", NULL);
	if (n != 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	static const struct { const char *cmd, *done; } verbs[] = {
		{ "start", "started" }, { "shutdown", "is shut down" }, { "destroy", "destroyed" },
		{ "reboot", "rebooted" }, { "pause", "paused" }, { "resume", "resumed" },
	};
	if (!strcmp(cmd, "console"))
		return cmd_console(a[1]);
	if (!strcmp(cmd, "info"))
		return cmd_info(a[1]);
	if (!strcmp(cmd, "define"))
		return cmd_define(a[1]);
	if (!strcmp(cmd, "undefine"))
		return cmd_simple("DELETE", a[1], NULL, "undefined");
	if (!strcmp(cmd, "dumpdef"))
		return cmd_simple("GET", a[1], "definition", NULL);
	for (size_t k = 0; k < sizeof(verbs) / sizeof(verbs[0]); k++)
		if (!strcmp(cmd, verbs[k].cmd))
			return cmd_simple("POST", a[1], verbs[k].cmd, verbs[k].done);
	fprintf(stderr, "petrelctl: unknown command '%s'\n\n", cmd);
	usage(stderr);
	return EXIT_USAGE;
}
