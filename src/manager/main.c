/* petreld: the host service (docs/manager.md). Options, start-up (definitions, re-adoption of
 * running workers, autostart), the API, then supervision until SIGTERM or SIGINT. Stopping
 * petreld leaves every VM running: the next petreld adopts them again. */
#include "manager/backup_jobs.h"
#include "manager/guest.h"
#include "manager/definitions.h"
#include "manager/defs.h"
#include "manager/events.h"
#include "manager/mgr.h"
#include "manager/net/net_service.h"
#include "manager/peer/peer.h"
#include "manager/service.h"
#include "manager/web/web.h"
#include "manager/worker_events.h"
#include "config/firmware_config.h"
#include "http/server.h"
#include "util/tls.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

struct manager *the_manager;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: petreld [options]\n"
		"\n"
		"Keeps this host's VMs: definitions in --defs-dir, one petrel worker per running VM.\n"
		"\n"
		"  --foreground           stay in the foreground (systemd, tests)\n"
		"  --state-dir DIR        run state, logs, worker sockets (default /run/petreld)\n"
		"  --defs-dir DIR         definitions, <name>.json (default /etc/petreld/vms)\n"
		"  --socket PATH          the API socket (default <state dir>/petreld.sock)\n"
		"  --socket-group NAME    who besides root may use it (mode 0660; default petrel, if it exists;\n"
		"                         a cluster's haclient: docs/cluster.md#promotion-on-fencing)\n"
		"  --petrel PATH          the worker binary (default: petrel beside petreld)\n"
		"  --jailer PATH          petrel-jailer (default: beside petreld)\n"
		"  --no-jailer            run workers as petreld's user without a jail (development)\n"
		"  --snapshot-dir DIR     snapshots, <vm>/<name>/ (default /var/lib/petreld/snapshots)\n"
		"  --image-dir DIR        the image store, NAME.qcow2|raw + NAME.json (default\n"
		"                         /var/lib/petreld/images; on the jail base's file system)\n"
		"  --backup-jobs-dir DIR  backup jobs, ID.json and ID.state (default <defs dir>/../backup-jobs)\n"
		"  --test-clock FILE      tests: backup schedules and retention take the time (seconds since\n"
		"                         the epoch) from FILE instead of the clock\n"
		"  --jail-base DIR        the jailer's --chroot-base-dir (default /srv/jailer)\n"
		"  --ovmf-vars-template FILE  a UEFI VM's variables file is made from it (default\n"
		"                         " FIRMWARE_OVMF_VARS_TEMPLATE ")\n"
		"  --cgroup-version 1|2   the hierarchy for partitioning (default: 2 on a unified host, else 1)\n"
		"  --cgroup-parent NAME   workers' cgroups are <hierarchy>/NAME/<vm> (default petreld)\n"
		"  --shutdown-timeout S   seconds between Ctrl-Alt-Del and destroy (default 30)\n"
		"  --api-timeout MS       a worker's API call, once the worker makes no progress (default 5000)\n"
		"  --api-timeout-max MS   ... and while it keeps working (default 300000)\n"
		"  --listen-tcp ADDR:PORT also serve the API on TCP, TLS only (with --tls-dir; port 7443 is usual)\n"
		"  --tls-dir DIR          ca.pem, cert.pem, key.pem: this host's certificate and the CA its\n"
		"                         peers' must be signed by (scripts/pki.sh makes them)\n"
		"  --web                  serve the web page (" PETREL_WEB_DIR ") at /ui/\n"
		"  --web-dir DIR          serve the web page from DIR\n"
		"  --users FILE           web page logins, name:role:hash lines (petrelctl web-user)\n"
		"  --web-login            browsers log in even on the Unix socket\n"
		"  --web-host NAME        a Host name browsers may use on the Unix socket (besides loopback)\n"
		"  --version, --help\n");
}

static char *beside_self(const char *name)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return NULL;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	*slash = '\0';
	char *out = NULL;
	if (asprintf(&out, "%s/%s", self, name) < 0)
		return NULL;
	return out;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return mkdir(buf, mode) < 0 && errno != EEXIST ? -errno : 0;
}

static int default_cgroup_version(void)
{
	/* A unified host has cgroup.controllers at the top of /sys/fs/cgroup. */
	return access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ? 2 : 1;
}

/* One definition of the directory (defs_each_json); one that does not parse is logged and left alone. */
static bool load_one(const char *name, void *arg)
{
	struct manager *m = arg;
	char err[512];
	struct mgr_vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return false;
	vm->pidfd = -1;
	vm->last_exit = -1;
	if (mgr_load_definition(m, name, &vm->def, err, sizeof(err)) < 0) {
		fprintf(stderr, "petreld: skipping definition %s.json: %s\n", name, err);
		free(vm);
		return true;
	}
	vm->next = m->vms;
	m->vms = vm;
	return true;
}

static void on_signal(int sig)
{
	if (the_manager) {
		the_manager->quitting = true;
		uint64_t one = 1;
		if (write(the_manager->wake, &one, sizeof(one)) < 0) {
			/* awake anyway */
		}
	}
}

int main(int argc, char **argv)
{
	static struct manager m = {
		.state_dir = "/run/petreld", .defs_dir = "/etc/petreld/vms", .jail_base = "/srv/jailer", .snapshot_dir = "/var/lib/petreld/snapshots",
		.image_dir = "/var/lib/petreld/images",
		.vars_template = FIRMWARE_OVMF_VARS_TEMPLATE,
		.shutdown_timeout_s = 30, .cgroup_parent = "petreld", .api_timeout_ms = 5000,
		.api_timeout_max_ms = 300000,
	};
	enum { O_FG = 256, O_STATE, O_DEFS, O_SOCK, O_PETREL, O_JAILER, O_NOJAIL, O_JBASE, O_CGV, O_STO, O_ATO, O_CGP, O_SNAP,
	       O_VER, O_HELP, O_WEB, O_IMAGES, O_WEBDIR, O_USERS, O_WEBLOGIN, O_WEBHOST, O_LTCP, O_TLSDIR, O_ATOMAX, O_VARS, O_BJOBS, O_TCLOCK,
	       O_SOCKGRP };
	static const struct option opts[] = {
		{ "foreground", no_argument, NULL, O_FG }, { "state-dir", required_argument, NULL, O_STATE },
		{ "defs-dir", required_argument, NULL, O_DEFS }, { "socket", required_argument, NULL, O_SOCK },
		{ "socket-group", required_argument, NULL, O_SOCKGRP },
		{ "petrel", required_argument, NULL, O_PETREL }, { "jailer", required_argument, NULL, O_JAILER },
		{ "no-jailer", no_argument, NULL, O_NOJAIL }, { "jail-base", required_argument, NULL, O_JBASE },
		{ "cgroup-version", required_argument, NULL, O_CGV },
		{ "cgroup-parent", required_argument, NULL, O_CGP },
		{ "snapshot-dir", required_argument, NULL, O_SNAP }, { "image-dir", required_argument, NULL, O_IMAGES },
		{ "ovmf-vars-template", required_argument, NULL, O_VARS },
		{ "backup-jobs-dir", required_argument, NULL, O_BJOBS }, { "test-clock", required_argument, NULL, O_TCLOCK },
		{ "shutdown-timeout", required_argument, NULL, O_STO },
		{ "api-timeout", required_argument, NULL, O_ATO },
		{ "api-timeout-max", required_argument, NULL, O_ATOMAX }, { "version", no_argument, NULL, O_VER },
		{ "help", no_argument, NULL, O_HELP }, { "web", no_argument, NULL, O_WEB },
		{ "web-dir", required_argument, NULL, O_WEBDIR }, { "users", required_argument, NULL, O_USERS },
		{ "web-login", no_argument, NULL, O_WEBLOGIN }, { "web-host", required_argument, NULL, O_WEBHOST },
		{ "listen-tcp", required_argument, NULL, O_LTCP }, { "tls-dir", required_argument, NULL, O_TLSDIR },
		{ NULL, 0, NULL, 0 },
	};
	bool foreground = false, no_jailer = false;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_FG: foreground = true; break;
		case O_STATE: m.state_dir = optarg; break;
		case O_DEFS: m.defs_dir = optarg; break;
		case O_SOCK: m.socket_path = optarg; break;
		case O_SOCKGRP: m.socket_group = optarg; break;
		case O_PETREL: m.petrel = optarg; break;
		case O_JAILER: m.jailer = optarg; break;
		case O_NOJAIL: no_jailer = true; break;
		case O_JBASE: m.jail_base = optarg; break;
		case O_CGV:
			m.cgroup_version = atoi(optarg);
			if (m.cgroup_version != 1 && m.cgroup_version != 2) {
				fprintf(stderr, "petreld: --cgroup-version: 1 or 2\n");
				return 2;
			}
			break;
		case O_CGP: m.cgroup_parent = optarg; break;
		case O_SNAP: m.snapshot_dir = optarg; break;
		case O_IMAGES: m.image_dir = optarg; break;
		case O_VARS: m.vars_template = optarg; break;
		case O_BJOBS: m.backup_jobs_dir = optarg; break;
		case O_TCLOCK: m.test_clock = optarg; break;
		case O_STO: m.shutdown_timeout_s = (unsigned)atoi(optarg); break;
		case O_ATO: m.api_timeout_ms = (unsigned)atoi(optarg); break;
		case O_ATOMAX: m.api_timeout_max_ms = (unsigned)atoi(optarg); break;
		case O_LTCP: m.listen_tcp = optarg; break;
		case O_TLSDIR: m.tls_dir = optarg; break;
		case O_VER: printf("petreld %s\n", PETREL_VERSION); return 0;
		case O_HELP: usage(stdout); return 0;
		case O_WEB: web_cfg.dir = PETREL_WEB_DIR; break;
		case O_WEBDIR: web_cfg.dir = optarg; break;
		case O_USERS: web_cfg.users = optarg; break;
		case O_WEBLOGIN: web_cfg.login_always = true; break;
		case O_WEBHOST:
			if (web_cfg.nhosts == sizeof(web_cfg.hosts) / sizeof(web_cfg.hosts[0])) {
				fprintf(stderr, "petreld: --web-host: at most %zu\n", sizeof(web_cfg.hosts) / sizeof(web_cfg.hosts[0]));
				return 2;
			}
			web_cfg.hosts[web_cfg.nhosts++] = optarg;
			break;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "petreld: unexpected argument '%s'\n\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!m.petrel)
		m.petrel = beside_self("petrel");
	if (no_jailer)
		m.jailer = NULL;
	else if (!m.jailer)
		m.jailer = beside_self("petrel-jailer");
	if (!m.cgroup_version)
		m.cgroup_version = default_cgroup_version();
	char *sock = NULL;
	if (!m.socket_path && asprintf(&sock, "%s/petreld.sock", m.state_dir) > 0)
		m.socket_path = sock;
	if (!m.petrel || access(m.petrel, X_OK) < 0 || (m.jailer && access(m.jailer, X_OK) < 0)) {
		fprintf(stderr, "petreld: cannot run the worker %s or the jailer %s\n", m.petrel ? m.petrel : "?",
			m.jailer ? m.jailer : "(none)");
		return 1;
	}
	const char *sub[] = { "", "/run", "/logs", "/sock" };
	for (size_t i = 0; i < 4; i++) {
		char d[PATH_MAX];
		snprintf(d, sizeof(d), "%s%s", m.state_dir, sub[i]);
		if (mkdir_p(d, 0750) < 0) {
			fprintf(stderr, "petreld: cannot create %s: %m\n", d);
			return 1;
		}
	}
	if (mkdir_p(m.defs_dir, 0750) < 0) {
		fprintf(stderr, "petreld: cannot create %s: %m\n", m.defs_dir);
		return 1;
	}
	char *jobs_dir = NULL;
	if (!m.backup_jobs_dir && asprintf(&jobs_dir, "%s/../backup-jobs", m.defs_dir) > 0)
		m.backup_jobs_dir = jobs_dir;
	if (m.test_clock && access(m.test_clock, R_OK) < 0) {
		fprintf(stderr, "petreld: --test-clock %s: %m\n", m.test_clock);
		return 1;
	}
	if (!foreground && daemon(0, 0) < 0) {
		fprintf(stderr, "petreld: daemon: %m\n");
		return 1;
	}
	pthread_mutex_init(&m.lock, NULL);
	m.wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	the_manager = &m;
	events_init(&m);
	if (worker_events_init(&m) < 0)
		fprintf(stderr, "petreld: no inotify (%m): the workers' events (a guest's reset) are read only as "
			"their workers end\n");
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	defs_each_json(m.defs_dir, load_one, &m);
	backup_jobs_load(&m);
	adopt_all(&m);
	net_service_start(&m);   /* the networks, adopted or autostarted, before any VM starts */
	struct api_server *srv = NULL;
	int e, tcp = -1;
	char err[512];
	/* Listening on TCP before the Unix socket answers: who sees petreld up may connect. */
	if (m.listen_tcp && (tcp = peer_listen_open(&m, err, sizeof(err))) < 0) {
		fprintf(stderr, "petreld: cannot listen on TCP %s: %s\n", m.listen_tcp, err);
		return 1;
	}
	/* --tls-dir alone: this host migrates VMs out (a client), it takes none in */
	if (m.tls_dir && !m.tls && tls_creds_load(m.tls_dir, &m.tls, err, sizeof(err)) < 0) {
		fprintf(stderr, "petreld: --tls-dir: %s\n", err);
		return 1;
	}
	mode_t old = umask(0117); /* the socket is born 0660 */
	e = mgr_api_start(&m, &srv);
	umask(old);
	if (e < 0) {
		fprintf(stderr, "petreld: cannot serve the API on %s: %s\n", m.socket_path, strerror(-e));
		return 1;
	}
	if (tcp >= 0) {
		if ((e = peer_listen_serve(&m, tcp, srv, err, sizeof(err))) < 0) {
			fprintf(stderr, "petreld: cannot serve TCP %s: %s\n", m.listen_tcp, err);
			unlink(m.socket_path);
			return 1;
		}
		fprintf(stderr, "petreld: serving TLS on %s (certificates %s)\n", m.listen_tcp, m.tls_dir);
	}
	fprintf(stderr, "petreld: serving %s (definitions %s, %s)\n", m.socket_path, m.defs_dir,
		m.jailer ? "jailed workers" : "workers without the jailer");
	supervise_autostart(&m);
	if (backup_jobs_start(&m) < 0)
		fprintf(stderr, "petreld: no thread for the backup jobs: none runs on its schedule\n");
	if (guest_watch_start(&m) < 0)
		fprintf(stderr, "petreld: no thread for the guest agents' addresses: they are not shown\n");
	supervise_loop(&m);
	/* The VMs keep running; verbs in progress are cut short with the process (the server is
	 * not stopped: a verb's thread may still answer through it). */
	unlink(m.socket_path);
	fprintf(stderr, "petreld: stopped; the VMs keep running\n");
	_exit(0);
}
