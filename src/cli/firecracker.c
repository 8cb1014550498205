/* `petrel [--api-sock PATH] [--config-file FILE] ...`: petrel started the way Firecracker is.
 *
 * Without --no-api, the REST API is served on the socket; with --config-file the microVM is
 * configured from the file (exactly as the same PUTs would) and started at once, otherwise it
 * waits for PUT /actions {"action_type": "InstanceStart"}. The guest console is on
 * stdin/stdout, and petrel exits when the guest stops, with the status of `petrel run`. */
#include "api/controller.h"
#include "api/serve.h"
#include "api/version.h"
#include "boot/boot.h"
#include "cli/cli.h"
#include "seccomp/seccomp.h"
#include "util/affinity.h"
#include "util/thread.h"
#include "util/log.h"
#include "util/util.h"
#include "vm/vcpu_hotplug.h"
#include "vm/vm.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define FC_DEFAULT_API_SOCK "/run/petrel.socket"

enum {
	OPT_API_SOCK = 256, OPT_CONFIG_FILE, OPT_NO_API, OPT_ID, OPT_LOG_PATH, OPT_LEVEL,
	OPT_SHOW_LEVEL, OPT_SHOW_ORIGIN, OPT_MODULE, OPT_METRICS_PATH, OPT_BOOT_TIMER,
	OPT_MAX_PAYLOAD, OPT_MMDS_SIZE_LIMIT, OPT_METADATA, OPT_NO_SECCOMP, OPT_SECCOMP_FILTER, OPT_START_TIME_US,
	OPT_START_TIME_CPU_US, OPT_PARENT_CPU_TIME_US, OPT_VERSION, OPT_HELP,
	/* petrel extras, for tests and diagnostics */
	OPT_DEBUG_EXIT, OPT_STATS, OPT_PVM, OPT_VIRTIO_TRANSPORT, OPT_KERNEL_DECOMPRESS,
	OPT_CPU_AFFINITY, OPT_ENABLE_PCI, OPT_EVENT_MONITOR, OPT_INITRD_UNPACK,
};

static const struct option options[] = {
	{ "api-sock", required_argument, NULL, OPT_API_SOCK },
	{ "config-file", required_argument, NULL, OPT_CONFIG_FILE },
	{ "no-api", no_argument, NULL, OPT_NO_API },
	{ "id", required_argument, NULL, OPT_ID },
	{ "log-path", required_argument, NULL, OPT_LOG_PATH },
	{ "level", required_argument, NULL, OPT_LEVEL },
	{ "show-level", no_argument, NULL, OPT_SHOW_LEVEL },
	{ "show-log-origin", no_argument, NULL, OPT_SHOW_ORIGIN },
	{ "module", required_argument, NULL, OPT_MODULE },
	{ "metrics-path", required_argument, NULL, OPT_METRICS_PATH },
	{ "boot-timer", no_argument, NULL, OPT_BOOT_TIMER },
	{ "http-api-max-payload-size", required_argument, NULL, OPT_MAX_PAYLOAD },
	{ "mmds-size-limit", required_argument, NULL, OPT_MMDS_SIZE_LIMIT },
	{ "metadata", required_argument, NULL, OPT_METADATA },
	{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
	{ "seccomp-filter", required_argument, NULL, OPT_SECCOMP_FILTER },
	{ "start-time-us", required_argument, NULL, OPT_START_TIME_US },
	{ "start-time-cpu-us", required_argument, NULL, OPT_START_TIME_CPU_US },
	{ "parent-cpu-time-us", required_argument, NULL, OPT_PARENT_CPU_TIME_US },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "debug-exit", no_argument, NULL, OPT_DEBUG_EXIT },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "pvm", required_argument, NULL, OPT_PVM },
	{ "virtio-transport", required_argument, NULL, OPT_VIRTIO_TRANSPORT },
	{ "kernel-decompress", required_argument, NULL, OPT_KERNEL_DECOMPRESS },
	{ "cpu-affinity", required_argument, NULL, OPT_CPU_AFFINITY },
	{ "enable-pci", no_argument, NULL, OPT_ENABLE_PCI },
	{ "event-monitor", required_argument, NULL, OPT_EVENT_MONITOR },
	{ "initrd-unpack", required_argument, NULL, OPT_INITRD_UNPACK },
	{ NULL, 0, NULL, 0 },
};

struct fc_opts {
	const char *api_sock;
	const char *config_file;
	bool no_api;
	const char *id;
	const char *log_path;
	enum log_level level;
	bool show_level, show_origin;
	const char *module;
	const char *metrics_path;
	const char *event_monitor;  /* --event-monitor PATH|fd=N (docs/events.md) */
	bool boot_timer;
	size_t max_payload;
	size_t mmds_limit;          /* --mmds-size-limit (0: the API payload limit, as Firecracker) */
	const char *metadata;       /* --metadata FILE: the MMDS store at start */
	uint64_t start_us, start_cpu_us, parent_cpu_us;   /* a launcher's --start-time-us, ... */
	bool debug_exit, stats;
	int pvm;
	enum virtio_transport_kind transport;
	bool enable_pci;            /* Firecracker's --enable-pci: --virtio-transport pci */
	unsigned kernel_decompress;
	bool initrd_unpack_off;     /* --initrd-unpack off */
	struct sc_options seccomp;
	const char *cpu_affinity;   /* --cpu-affinity: over the config file's "cpu-affinity" */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: petrel [--api-sock PATH] [--config-file FILE] [--no-api] [options]\n"
		"       petrel run ...      (petrel run --help)\n"
		"\n"
		"Starts like Firecracker: serves Firecracker's REST API on a Unix socket and/or boots the\n"
		"microVM described by a Firecracker --config-file.\n"
		"\n"
		"  --api-sock PATH              API socket (default " FC_DEFAULT_API_SOCK ")\n"
		"  --config-file FILE           configure the microVM from FILE and start it at once\n"
		"  --no-api                     no API server (needs --config-file)\n"
		"  --id ID                      instance id, 1-64 of [A-Za-z0-9-] (default " CTL_DEFAULT_ID ")\n"
		"  --log-path PATH              log to this file or named pipe (default stderr)\n"
		"  --level LEVEL                Error, Warning, Info (default), Debug, Trace, Off\n"
		"  --show-level                 show the level in log lines\n"
		"  --show-log-origin            show the source file and line in log lines\n"
		"  --module PATH                only log from source files under src/PATH (e.g. api)\n"
		"  --metrics-path PATH          write metrics (JSON lines) to this file or named pipe\n"
		"  --event-monitor PATH|fd=N    lifecycle events (JSON lines) to this file, named pipe\n"
		"                               or inherited descriptor (docs/events.md)\n"
		"  --boot-timer                 log the guest boot time when the guest writes 123 to\n"
		"                               MMIO 0xd0020000\n"
		"  --http-api-max-payload-size N  largest request body in bytes (default %d)\n"
		"  --mmds-size-limit N          metadata store limit in bytes (default: the payload size)\n"
		"  --metadata FILE              JSON document the metadata store starts with\n"
		"  --no-seccomp                 no seccomp filters (default: one allow-list per thread)\n"
		"  --seccomp-filter FILE        per-thread filters from FILE (JSON, see docs/security.md)\n"
		"  --enable-pci                 virtio devices on PCI (petrel's default; as\n"
		"                               --virtio-transport pci)\n"
		"  --version                    print the version\n"
		"\n"
		"Also: --debug-exit (test ports 0xf4/0xf5), --stats (exit statistics on stderr at the end),\n"
		"--pvm auto|on|off, --virtio-transport pci|mmio, --kernel-decompress host|host-linux64|guest,\n"
		"--initrd-unpack on|off (who decompresses the initrd: petrel by default),\n"
		"--cpu-affinity [WHO@[CPUS],...] (host CPUs of the vCPU, io and vmm threads)\n"
		"(see petrel run --help).\n"
		"The guest console is on stdin/stdout; petrel exits when the guest stops.\n",
		API_DEFAULT_MAX_PAYLOAD);
}

static bool valid_id(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > CTL_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
	}
	return true;
}

void cli_print_version(void)
{
	printf("Firecracker v%s\n\npetrel %s, implementing Firecracker's API %s\n", FC_COMPAT_VERSION,
	       PETREL_VERSION, FC_API_VERSION);
}

/* 0 ok, 1 printed help/version (exit 0), -1 bad usage (exit 2). */
static int parse_args(int argc, char **argv, struct fc_opts *o)
{
	char *end;
	unsigned long long v;
	optind = 1;
	opterr = 0;
	int opt, idx = 0;
	while ((opt = getopt_long(argc, argv, "h", options, &idx)) != -1) {
		switch (opt) {
		case OPT_API_SOCK: o->api_sock = optarg; break;
		case OPT_CONFIG_FILE: o->config_file = optarg; break;
		case OPT_NO_API: o->no_api = true; break;
		case OPT_ID:
			if (!valid_id(optarg)) {
				log_error("--id: '%s' must be 1 to %d letters, digits or '-'", optarg,
					  CTL_ID_MAX);
				return -1;
			}
			o->id = optarg;
			break;
		case OPT_LOG_PATH: o->log_path = optarg; break;
		case OPT_LEVEL:
			if (log_level_from_name(optarg, &o->level) < 0) {
				log_error("--level: unknown log level '%s' (Error, Warning, Info, Debug, "
					  "Trace, Off)", optarg);
				return -1;
			}
			break;
		case OPT_SHOW_LEVEL: o->show_level = true; break;
		case OPT_SHOW_ORIGIN: o->show_origin = true; break;
		case OPT_MODULE: o->module = optarg; break;
		case OPT_METRICS_PATH: o->metrics_path = optarg; break;
		case OPT_BOOT_TIMER: o->boot_timer = true; break;
		case OPT_MAX_PAYLOAD:
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' || v == 0 ||
			    v > (64u << 20)) {
				log_error("--http-api-max-payload-size: '%s' is not a size between 1 and "
					  "%u bytes", optarg, 64u << 20);
				return -1;
			}
			o->max_payload = (size_t)v;
			break;
		case OPT_MMDS_SIZE_LIMIT:
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' || v == 0 ||
			    v > (64u << 20)) {
				log_error("--mmds-size-limit: '%s' is not a size between 1 and %u bytes",
					  optarg, 64u << 20);
				return -1;
			}
			o->mmds_limit = (size_t)v;
			break;
		case OPT_METADATA: o->metadata = optarg; break;
		case OPT_NO_SECCOMP: o->seccomp.disabled = true; break;
		case OPT_SECCOMP_FILTER: o->seccomp.filter_path = optarg; break;
		case OPT_START_TIME_US:
		case OPT_START_TIME_CPU_US:
		case OPT_PARENT_CPU_TIME_US: {
			/* Firecracker's jailer passes these: the api_server startup metrics */
			uint64_t *dst = opt == OPT_START_TIME_US ? &o->start_us :
					opt == OPT_START_TIME_CPU_US ? &o->start_cpu_us : &o->parent_cpu_us;
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-') {
				log_error("--%s: '%s' is not a number of microseconds",
					  options[idx].name, optarg);
				return -1;
			}
			*dst = v;
			break;
		}
		case OPT_VERSION:
			cli_print_version();
			return 1;
		case OPT_HELP:
		case 'h':
			usage(stdout);
			return 1;
		case OPT_DEBUG_EXIT: o->debug_exit = true; break;
		case OPT_STATS: o->stats = true; break;
		case OPT_CPU_AFFINITY: o->cpu_affinity = optarg; break;
		case OPT_PVM:
			if (cli_parse_pvm(optarg, &o->pvm) < 0)
				return -1;
			break;
		case OPT_KERNEL_DECOMPRESS:
			if (boot_decompress_from_name(optarg, &o->kernel_decompress) < 0)
				return -1;
			break;
		case OPT_INITRD_UNPACK:
			if (initrd_unpack_from_name(optarg, &o->initrd_unpack_off) < 0)
				return -1;
			break;
		case OPT_VIRTIO_TRANSPORT:
			if (virtio_transport_from_name(optarg, &o->transport) < 0) {
				log_error("--virtio-transport: expected pci or mmio, got '%s'", optarg);
				return -1;
			}
			break;
		case OPT_ENABLE_PCI: o->enable_pci = true; break;
		case OPT_EVENT_MONITOR: o->event_monitor = optarg; break;
		default:
			log_error("unknown or incomplete option '%s' (see petrel --help)",
				  argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s' (see petrel --help)", argv[optind]);
		return -1;
	}
	if (o->enable_pci) {
		if (o->transport == VIRTIO_TRANSPORT_MMIO) {
			log_error("--enable-pci contradicts --virtio-transport mmio");
			return -1;
		}
		o->transport = VIRTIO_TRANSPORT_PCI;
	}
	if (o->no_api && !o->config_file) {
		log_error("--no-api needs --config-file (nothing could configure the microVM)");
		return -1;
	}
	return 0;
}

/* Before InstanceStart: wait for the VM to run, or for a signal to stop (sfd: the control
 * signals' signalfd, made before the API serves: once clients hold every descriptor the
 * process may have, it could not be made, and SIGTERM, blocked for it, would go unseen).
 * Returns the VM, or NULL when petrel should exit (*signo says which signal, 0 on error). */
static struct vm *wait_for_start(struct controller *ctl, int sfd, int *signo)
{
	struct vm *vm = NULL;
	*signo = 0;
	while (!(vm = ctl_running_vm(ctl))) {
		int r = cli_wait_readable(ctl->event_fd, sfd);
		if (r != 0) {
			*signo = r > 0 ? r : 0;
			break;
		}
		uint64_t n;
		if (read(ctl->event_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
			log_warn("event read: %s", strerror(errno));
	}
	return vm;
}

/* --metadata FILE: a JSON document for the metadata store, as Firecracker loads it at start
 * (any JSON value, as PUT /mmds takes). The file is untrusted: at most the store's limit plus
 * slack is read, and the store checks the rest (within the limit). */
static int load_metadata(struct controller *ctl, const struct fc_opts *o)
{
	char *text = NULL, err[256];
	size_t len;
	int r = read_whole_file(o->metadata, ctl->mmds_limit + 65536, &text, &len);
	if (r < 0) {
		log_error("--metadata: cannot read '%s': %s", o->metadata,
			  r == -EFBIG ? "larger than the metadata store's limit" : strerror(-r));
		return r;
	}
	json_error_t je;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	free(text);
	if (!doc) {
		log_error("--metadata: '%s' is not JSON: %s (line %d)", o->metadata, je.text, je.line);
		return -EINVAL;
	}
	r = ctl_put_mmds(ctl, doc, false, err, sizeof(err));
	json_decref(doc);
	if (r < 0)
		log_error("--metadata: %s", r == -ENOMEM ? "out of memory" : err);
	return r;
}

static int configure(struct controller *ctl, const struct fc_opts *o)
{
	char err[640];
	struct vm_config *cfg = &ctl->cfg;
	cfg->debug_exit = o->debug_exit;
	cfg->stats = o->stats;
	cfg->pvm_workarounds = o->pvm;
	cfg->virtio_transport = o->transport;
	cfg->kernel_decompress = o->kernel_decompress;
	cfg->initrd_unpack_off = o->initrd_unpack_off;
	ctl->boot_timer_enabled = o->boot_timer;
	ctl->mmds_limit = o->mmds_limit ? o->mmds_limit : o->max_payload;
	if (o->metadata && load_metadata(ctl, o) < 0)
		return -EINVAL;
	if (o->log_path) {
		ctl->logger.configured = true;
		ctl->logger.log_path = strdup(o->log_path);
	}
	ctl->logger.level = o->level;
	ctl->logger.show_level = o->show_level;
	ctl->logger.show_log_origin = o->show_origin;
	ctl->logger.module = o->module ? strdup(o->module) : NULL;
	if (o->metrics_path) {
		json_t *m = json_pack("{s:s}", "metrics_path", o->metrics_path);
		int r = m ? ctl_put_metrics(ctl, m, err, sizeof(err)) : -ENOMEM;
		json_decref(m);
		if (r < 0) {
			log_error("--metrics-path: %s", r == -ENOMEM ? "out of memory" : err);
			return r;
		}
	}
	if (o->config_file) {
		char *text = NULL;
		size_t len;
		int r = read_whole_file(o->config_file, VM_CONFIG_FILE_MAX, &text, &len);
		if (r < 0) {
			log_error("cannot read config file '%s': %s", o->config_file, strerror(-r));
			return r;
		}
		if (strlen(text) != len) {
			free(text);
			log_error("%s: contains a NUL byte", o->config_file);
			return -EINVAL;
		}
		r = ctl_load_config(ctl, text, err, sizeof(err));
		free(text);
		if (r < 0) {
			log_error("%s: %s", o->config_file, err);
			return r;
		}
	}
	/* Host CPUs: before the worker, the API and the VM's threads start. With a config file
	 * the vCPU count is known; over the API it may still change (vm_start warns). */
	if (o->cpu_affinity && !cfg->cpu_affinity && !(cfg->cpu_affinity = calloc(1, sizeof(*cfg->cpu_affinity))))
		return -ENOMEM;
	if (o->cpu_affinity && cpu_affinity_from_cli(o->cpu_affinity, cfg->cpu_affinity, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -EINVAL;
	}
	if (affinity_set(cfg->cpu_affinity, o->config_file ? vcpu_hotplug_possible(cfg) : 0, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -EINVAL;
	}
	return 0;
}

int cli_firecracker(int argc, char **argv)
{
	struct fc_opts o = { .api_sock = FC_DEFAULT_API_SOCK, .level = LOG_INFO,
			     .max_payload = API_DEFAULT_MAX_PAYLOAD, .pvm = -1 };
	int r = parse_args(argc, argv, &o);
	if (r)
		return r > 0 ? 0 : 2;

	/* Firecracker's logger defaults: level Info, no level or origin in the lines. */
	log_set_id(o.id ? o.id : CTL_DEFAULT_ID);
	log_set_level(o.level);
	log_set_format(o.show_level, o.show_origin);
	log_set_module(o.module);
	if (o.log_path && (r = log_set_path(o.log_path)) < 0) {
		log_error("--log-path: cannot open '%s': %s", o.log_path, strerror(-r));
		return 2;
	}
	/* Firecracker's first line: what runs, in the form its clients parse (docs/api.md#version) */
	log_info("Running Firecracker v%s (petrel %s)", FC_COMPAT_VERSION, PETREL_VERSION);
	if (o.event_monitor && cli_event_monitor_open(o.event_monitor, o.id ? o.id : CTL_DEFAULT_ID) < 0)
		return 2;

	/* The console loop takes these through a signalfd; every thread started from here on
	 * (API server, worker, vCPUs) inherits the mask. */
	cli_block_signals();
	/* Filters before anything untrusted is read and before any thread exists. */
	if (seccomp_start(&o.seccomp) < 0)
		return o.seccomp.filter_path ? 2 : 1;

	static struct controller ctl;
	if ((r = ctl_init(&ctl, o.id)) < 0) {
		log_error("cannot set up: %s", strerror(-r));
		return 1;
	}
	int status = 2, sfd = -1;
	struct api_server *srv = NULL;
	if (configure(&ctl, &o) < 0)
		goto out;
	status = 1;
	if ((r = ctl_start_worker(&ctl)) < 0) {
		log_error("cannot start the controller thread: %s", strerror(-r));
		goto out;
	}
	if (o.config_file) {
		/* As Firecracker: with a config file the API serves a running microVM, never one
		 * still "Not started". */
		char err[640];
		if (ctl_start_vm(&ctl, err, sizeof(err)) < 0 && !ctl_running_vm(&ctl)) {
			log_error("%s", err);
			goto out;
		}
	}
	if ((sfd = cli_control_signalfd()) < 0)
		goto out;
	if (!o.no_api && api_server_start(&srv, &ctl, o.api_sock, o.max_payload) < 0)
		goto out;
	if (!o.no_api)
		ctl_note_startup(&ctl, o.start_us, o.start_cpu_us, o.parent_cpu_us);

	int signo;
	struct vm *vm = wait_for_start(&ctl, sfd, &signo);
	if (!vm) {
		/* A start the worker ran while the signal came in may have left a running VM:
		 * with the worker stopped none is in progress any more, and one that started is
		 * told to stop, else ctl_finish would join a guest that never stops. */
		ctl_stop_worker(&ctl);
		if (ctl.vm && signo)
			vm_request_stop(ctl.vm, VM_STOP_USER, 0, "stopped by signal %d", signo);
		if (signo)
			fprintf(stderr, "petrel: stopped by signal %d %s the microVM started\n", signo,
				ctl.vm ? "as" : "before");
		ctl_finish(&ctl); /* the last metrics line, as at every exit */
		status = signo ? 0 : 1;
		goto out;
	}
	console_loop(vm, sfd);
	status = ctl_finish(&ctl);
	cli_report_stop(vm, o.stats, ctl.cfg.mem_mib, stderr);
out:
	ctl_stop_worker(&ctl);
	api_server_stop(srv);
	ctl_free(&ctl);
	if (sfd >= 0)
		close(sfd);
	return status;
}
