/* `petrel run`: boot one VM from command-line options and/or a Firecracker-format JSON file. */
#include "cli/cli.h"
#include "ha/replication.h"
#include "migration/migration.h"
#include "seccomp/seccomp.h"
#include "snapshot/snapshot.h"
#include "util/affinity.h"
#include "util/log.h"
#include "util/util.h"
#include "vm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum {
	OPT_KERNEL = 256, OPT_PMEM, OPT_INITRD, OPT_CMDLINE, OPT_CPUS, OPT_MEM, OPT_CONFIG, OPT_STATS,
	OPT_DEBUG_EXIT, OPT_CPU_TEMPLATE, OPT_CPU_CONFIG, OPT_SMT, OPT_PVM, OPT_LEVEL, OPT_HELP,
	OPT_DISK, OPT_RNG, OPT_VIRTIO_TRANSPORT, OPT_VIRTIO_MMIO_CMDLINE, OPT_NET, OPT_VSOCK,
	OPT_RESTORE, OPT_MEM_FILE, OPT_CLOCK_REALTIME, OPT_LAZY, OPT_UFFD, OPT_INCOMING, OPT_STANDBY,
	OPT_NO_VMGENID,
	OPT_KERNEL_DECOMPRESS, OPT_HUGE_PAGES, OPT_CPU_AFFINITY,
};

static const struct option options[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "huge-pages", required_argument, NULL, OPT_HUGE_PAGES },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "debug-exit", no_argument, NULL, OPT_DEBUG_EXIT },
	{ "cpu-template", required_argument, NULL, OPT_CPU_TEMPLATE },
	{ "cpu-config", required_argument, NULL, OPT_CPU_CONFIG },
	{ "smt", no_argument, NULL, OPT_SMT },
	{ "pvm", required_argument, NULL, OPT_PVM },
	{ "level", required_argument, NULL, OPT_LEVEL },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "rng", optional_argument, NULL, OPT_RNG },
	{ "net", required_argument, NULL, OPT_NET },
	{ "vsock", required_argument, NULL, OPT_VSOCK },
	{ "pmem", required_argument, NULL, OPT_PMEM },
	{ "virtio-transport", required_argument, NULL, OPT_VIRTIO_TRANSPORT },
	{ "virtio-mmio-cmdline", no_argument, NULL, OPT_VIRTIO_MMIO_CMDLINE },
	{ "no-vmgenid", no_argument, NULL, OPT_NO_VMGENID },
	{ "restore", required_argument, NULL, OPT_RESTORE },
	{ "mem-file", required_argument, NULL, OPT_MEM_FILE },
	{ "clock-realtime", no_argument, NULL, OPT_CLOCK_REALTIME },
	{ "lazy", no_argument, NULL, OPT_LAZY },
	{ "uffd", required_argument, NULL, OPT_UFFD },
	{ "incoming", required_argument, NULL, OPT_INCOMING },
	{ "standby", required_argument, NULL, OPT_STANDBY },
	{ "kernel-decompress", required_argument, NULL, OPT_KERNEL_DECOMPRESS },
	{ "cpu-affinity", required_argument, NULL, OPT_CPU_AFFINITY },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: petrel run --kernel PATH [--initrd PATH] [--cmdline STR] [--cpus N] [--mem MIB]\n"
		"       petrel run --config vm.json [options to override it]\n"
		"       petrel run --restore STATE (--mem-file MEM [--lazy] | --uffd SOCKET) [--clock-realtime]\n"
		"                  [--stats] [--level L]\n"
		"       petrel run --incoming tcp:ADDR:PORT|unix:PATH [--stats] [--level L]\n"
		"       petrel run --standby tcp:ADDR:PORT|unix:PATH [--stats] [--level L]\n"
		"\n"
		"  --kernel PATH        bzImage or ELF vmlinux with a PVH note\n"
		"  --initrd PATH        initial ramdisk\n"
		"  --cmdline STR        kernel command line (default \"" VM_DEFAULT_CMDLINE "\")\n"
		"  --cpus N             vCPUs, 1-%d (default 1)\n"
		"  --mem MIB            guest memory in MiB (default 128)\n"
		"  --huge-pages None|Transparent|2M  back guest memory with huge pages (default None)\n"
		"  --config FILE        Firecracker --config-file JSON (boot-source, machine-config, cpu-config)\n"
		"  --smt                two threads per core in the CPU topology\n"
		"  --cpu-template NAME  hide CPU features: None, T2, T2S, C3, T2CL, T2A\n"
		"  --cpu-config FILE    custom CPU template JSON (Firecracker format)\n"
		"  --stats              print exit statistics when the VM stops\n"
		"  --level LEVEL        log level: Error, Warning, Info, Debug (default Warning)\n"
		"  --pvm auto|on|off    PVM-host workarounds (default auto: on when kvm_pvm is loaded)\n"
		"  --debug-exit         enable the test ports 0xf4 (exit with status) and 0xf5 (null)\n"
		"  --disk PATH[,ro][,id=NAME][,direct][,root][,cache=unsafe|writeback][,io=sync|async][,poll=USEC][,transport=pci|mmio]\n"
		"                       virtio-blk disk on a raw image (repeatable; default cache=writeback, io=async)\n"
		"  --rng[=transport=pci|mmio]  virtio-rng entropy device fed by the host's getrandom()\n"
		"  --net tap=NAME[,mac=MAC][,id=ID][,mtu=N][,transport=pci|mmio]\n"
		"                       virtio-net on the host tap device NAME (repeatable)\n"
		"  --vsock cid=N,uds=PATH[,transport=pci|mmio]\n"
		"                       virtio-vsock: host connects to PATH and writes \"CONNECT <port>\\n\";\n"
		"                       guest connections to host port P go to PATH_P\n"
		"  --pmem PATH[,ro][,root][,id=NAME][,transport=pci|mmio]\n"
		"                       virtio-pmem: the file mapped into the guest as /dev/pmemN (repeatable;\n"
		"                       root adds root=/dev/pmemN to the kernel command line; docs/pmem.md)\n"
		"  --virtio-transport pci|mmio  default transport of virtio devices (default pci)\n"
		"  --virtio-mmio-cmdline  also announce virtio-mmio devices on the kernel command line\n"
		"  --no-vmgenid         no VM generation ID device (ACPI VMGENCTR, renewed on snapshot loads)\n"
		"  --kernel-decompress host|host-linux64|guest  who decompresses a bzImage (default host:\n"
		"                       petrel, then the kernel's PVH or 64-bit entry; guest: the kernel)\n"
		"  --cpu-affinity [WHO@[CPUS],...]  host CPUs of vCPU threads (WHO a vCPU number), the I/O\n"
		"                       thread (io) and the other threads (vmm), e.g. 0@[2],1@[3],io@[4];\n"
		"                       also with --restore, --incoming and --standby (docs/user-guide.md)\n"
		"\n"
		"The serial console is on stdin/stdout; on a terminal, Ctrl-A x stops the VM.\n"
		"Exit status: 0 when the guest powers off or resets, non-zero with a reason on errors.\n",
		VM_MAX_VCPUS);
}

static int parse_uint(const char *opt, const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-' || v > max) {
		log_error("--%s: '%s' is not a number between 0 and %llu", opt, s, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int replace(char **dst, const char *src)
{
	free(*dst);
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

/* --cpu-affinity: entries added to *a (made when NULL). */
static int parse_affinity(struct cpu_affinity **a, const char *arg)
{
	char msg[256];
	if (!*a && !(*a = calloc(1, sizeof(**a))))
		return -ENOMEM;
	if (cpu_affinity_from_cli(arg, *a, msg, sizeof(msg)) < 0) {
		log_error("%s", msg);
		return -EINVAL;
	}
	return 0;
}

static int apply_option(struct vm_config *cfg, int opt, const char *arg)
{
	unsigned long long v;
	switch (opt) {
	case OPT_KERNEL: return replace(&cfg->kernel_path, arg);
	case OPT_INITRD: return replace(&cfg->initrd_path, arg);
	case OPT_CMDLINE: return replace(&cfg->cmdline, arg);
	case OPT_CPU_TEMPLATE: return replace(&cfg->cpu_template, arg);
	case OPT_CPU_CONFIG: return replace(&cfg->cpu_config_path, arg);
	case OPT_CPUS:
		if (parse_uint("cpus", arg, UINT_MAX, &v) < 0)
			return -EINVAL;
		cfg->vcpus = (unsigned)v;
		return 0;
	case OPT_MEM:
		if (parse_uint("mem", arg, 1ull << 40, &v) < 0)
			return -EINVAL;
		cfg->mem_mib = v;
		return 0;
	case OPT_HUGE_PAGES:
		if (guest_mem_backing_from_name(arg, &cfg->huge_pages) < 0) {
			log_error("--huge-pages: expected None, Transparent or 2M (got '%s')", arg);
			return -EINVAL;
		}
		return 0;
	case OPT_STATS: cfg->stats = true; return 0;
	case OPT_DEBUG_EXIT: cfg->debug_exit = true; return 0;
	case OPT_SMT: cfg->smt = true; return 0;
	case OPT_PVM:
		return cli_parse_pvm(arg, &cfg->pvm_workarounds);
	case OPT_DISK: {
		char msg[256];
		struct drive_config d;
		if (drive_config_from_cli(arg, cfg->ndrives, &d, msg, sizeof(msg)) < 0) {
			log_error("%s", msg);
			return -EINVAL;
		}
		if (!d.has_cache_type) {
			d.cache_type = DRIVE_CACHE_WRITEBACK; /* flushes reach the host file */
			d.has_cache_type = true;
		}
		int r = vm_config_add_drive(cfg, &d, msg, sizeof(msg));
		drive_config_free(&d);
		if (r < 0) {
			log_error("--disk %s: %s", arg, msg);
			return -EINVAL;
		}
		return 0;
	}
	case OPT_RNG: {
		char msg[256];
		struct entropy_config e;
		if (entropy_config_from_cli(arg, &e, msg, sizeof(msg)) < 0) {
			log_error("%s", msg);
			return -EINVAL;
		}
		cfg->entropy = e;
		cfg->has_entropy = true;
		return 0;
	}
	case OPT_NET: {
		char msg[256];
		struct net_config n;
		if (net_config_from_cli(arg, cfg->nnets, &n, msg, sizeof(msg)) < 0) {
			log_error("%s", msg);
			return -EINVAL;
		}
		int r = vm_config_add_net(cfg, &n, msg, sizeof(msg));
		if (r < 0) {
			net_config_free(&n);
			log_error("--net %s: %s", arg, msg);
			return -EINVAL;
		}
		return 0;
	}
	case OPT_VSOCK: {
		char msg[256];
		struct vsock_config vs;
		if (vsock_config_from_cli(arg, &vs, msg, sizeof(msg)) < 0) {
			log_error("%s", msg);
			return -EINVAL;
		}
		vsock_config_free(&cfg->vsock);
		cfg->vsock = vs;
		cfg->has_vsock = true;
		return 0;
	}
	case OPT_PMEM: {
		char msg[256];
		struct pmem_config p;
		if (pmem_config_from_cli(arg, cfg->npmem, &p, msg, sizeof(msg)) < 0) {
			log_error("%s", msg);
			return -EINVAL;
		}
		int r = vm_config_add_pmem(cfg, &p, msg, sizeof(msg));
		pmem_config_free(&p);
		if (r < 0) {
			log_error("--pmem %s: %s", arg, msg);
			return -EINVAL;
		}
		return 0;
	}
	case OPT_VIRTIO_TRANSPORT:
		if (virtio_transport_from_name(arg, &cfg->virtio_transport) < 0) {
			log_error("--virtio-transport: expected pci or mmio, not '%s'", arg);
			return -EINVAL;
		}
		return 0;
	case OPT_VIRTIO_MMIO_CMDLINE: cfg->virtio_mmio_cmdline = true; return 0;
	case OPT_NO_VMGENID: cfg->no_vmgenid = true; return 0;
	case OPT_KERNEL_DECOMPRESS:
		return boot_decompress_from_name(arg, &cfg->kernel_decompress);
	case OPT_CPU_AFFINITY:
		return parse_affinity(&cfg->cpu_affinity, arg);
	case OPT_LEVEL: {
		enum log_level l;
		if (log_level_from_name(arg, &l) < 0) {
			log_error("--level: unknown log level '%s'", arg);
			return -EINVAL;
		}
		log_set_level(l);
		return 0;
	}
	default:
		return -EINVAL;
	}
}

/* The JSON file is read first; every other option then overrides what it says. */
static int parse_args(int argc, char **argv, struct vm_config *cfg)
{
	char err[512];
	for (int i = 1; i < argc; i++) {
		const char *path = NULL;
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			path = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			path = argv[i] + 9;
		if (path && vm_config_load_file(path, cfg, err, sizeof(err)) < 0) {
			log_error("%s", err);
			return -EINVAL;
		}
	}
	optind = 1;
	opterr = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		if (opt == 'h' || opt == OPT_HELP) {
			usage(stdout);
			return 1;
		}
		if (opt == '?') {
			log_error("unknown or incomplete option '%s' (see petrel run --help)", argv[optind - 1]);
			return -EINVAL;
		}
		if (opt == OPT_CONFIG)
			continue;
		if (apply_option(cfg, opt, optarg) < 0)
			return -EINVAL;
	}
	if (optind < argc) {
		log_error("unexpected argument '%s' (see petrel run --help)", argv[optind]);
		return -EINVAL;
	}
	if (vm_config_validate(cfg, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -EINVAL;
	}
	return 0;
}

/* --restore and --incoming: the machine comes from the snapshot or the migration source;
 * only a few options make sense with them. */
static int restore_args(int argc, char **argv, struct snapshot_load_opts *o, const char **incoming,
			const char **standby, bool *stats, struct cpu_affinity **aff, bool *found)
{
	*found = false;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--restore") || !strncmp(argv[i], "--restore=", 10) ||
		    !strcmp(argv[i], "--incoming") || !strncmp(argv[i], "--incoming=", 11) ||
		    !strcmp(argv[i], "--standby") || !strncmp(argv[i], "--standby=", 10))
			*found = true;
	if (!*found)
		return 0;
	optind = 1;
	opterr = 0;
	int opt;
	const char *uffd = NULL;
	*standby = NULL;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_RESTORE: o->state_path = optarg; break;
		case OPT_MEM_FILE: o->mem_path = optarg; break;
		case OPT_CLOCK_REALTIME: o->clock_realtime = true; break;
		case OPT_LAZY: o->backend = SNAP_MEM_LAZY; break;
		case OPT_UFFD: uffd = optarg; break;
		case OPT_INCOMING: *incoming = optarg; break;
		case OPT_STANDBY: *standby = optarg; break;
		case OPT_STATS: *stats = true; break;
		case OPT_CPU_AFFINITY:
			/* host placement is this petrel's, never the snapshot's or the source's */
			if (parse_affinity(aff, optarg) < 0)
				return -EINVAL;
			break;
		case OPT_LEVEL:
			if (apply_option(NULL, opt, optarg) < 0)
				return -EINVAL;
			break;
		default:
			log_error("'%s' does not go with --restore or --incoming: the machine comes from the "
				  "snapshot or the migration", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (*incoming || *standby) {
		if (o->state_path || o->mem_path || uffd || (*incoming && *standby)) {
			log_error("--incoming and --standby take the VM from another petrel: one of them, and no --restore, "
				  "--mem-file or --uffd");
			return -EINVAL;
		}
		return 0;
	}
	if (!o->mem_path == !uffd || (uffd && o->backend == SNAP_MEM_LAZY)) {
		log_error("--restore needs --mem-file MEM (the snapshot's memory file, optionally --lazy) "
			  "or --uffd SOCKET (an external page-fault handler), not both");
		return -EINVAL;
	}
	if (uffd) {
		o->mem_path = uffd;
		o->backend = SNAP_MEM_UFFD;
	}
	return 0;
}

static void print_stats(struct vm *vm, const struct vm_config *cfg)
{
	struct exit_stats st;
	vm_exit_stats(vm, &st);
	exit_stats_print(&st, now_ns() - vm->start_ns, stderr);
	fprintf(stderr, "  guest memory resident: %llu KiB of %llu MiB\n",
		(unsigned long long)(guest_mem_resident(&vm->mem) >> 10), (unsigned long long)cfg->mem_mib);
}

static void report_stop(const struct vm *vm)
{
	if (!vm->stopping)
		return;
	if (vm->stop_reason == VM_STOP_ERROR)
		log_error("%s", vm->stop_msg);
	else
		fprintf(stderr, "petrel: %s\n", vm->stop_msg);
}

/* A VM that arrived from another petrel (a migration, a takeover) runs like any other. */
static int run_arrived(struct vm *vm, struct vm_config *cfg, bool stats)
{
	cfg->stats = stats;
	console_loop(vm);
	int status = vm_join(vm);
	report_stop(vm);
	if (stats)
		print_stats(vm, cfg);
	vm_destroy(vm);
	return status;
}

static void incoming_done(void *opaque, struct migration *m, int e)
{
	int fd = *(int *)opaque;
	char c = e ? 1 : 0;
	if (write(fd, &c, 1) < 0)
		log_error("cannot report the migration's end: %s", strerror(errno));
}

/* --incoming: wait for one migration, then run the VM it brought like any other. */
static int run_incoming(const char *url, bool stats)
{
	cli_block_signals();
	static struct vm vm;
	static struct vm_config cfg;
	vm_config_init(&cfg);
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return 1;
	struct mig_receive_opts o = { .url = url, .console_out_fd = STDOUT_FILENO };
	struct migration *m = NULL;
	char err[512] = "", ok = 1;
	if (migration_receive_start(&vm, &cfg, &o, incoming_done, &pfd[1], &m, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 1;
	}
	fprintf(stderr, "petrel: waiting for a migration on %s\n", url);
	if (read(pfd[0], &ok, 1) != 1)
		ok = 1;
	struct mig_status st;
	migration_status(m, &st);
	int status = 1;
	if (ok == 0) {
		fprintf(stderr, "petrel: migrated in from %s (downtime %.2f ms)\n", st.peer, st.downtime_ms);
		status = run_arrived(&vm, &cfg, stats);
	} else {
		log_error("migration from %s failed: %s", st.peer, st.reason);
	}
	migration_free(m);
	close(pfd[0]);
	close(pfd[1]);
	vm_config_free(&cfg);
	return status;
}

static void standby_event(void *opaque, struct replication *r, enum repl_state st)
{
	int fd = *(int *)opaque;
	char c = st == REPL_ACTIVE ? 0 : 1;
	if ((st == REPL_ACTIVE || st == REPL_STOPPED) && write(fd, &c, 1) < 0)
		log_error("cannot report the replication's end: %s", strerror(errno));
}

/* --standby: a replication standby; when the primary dies the VM runs here like any other. */
static int run_standby(const char *url, bool stats)
{
	cli_block_signals();
	static struct vm vm;
	static struct vm_config cfg;
	vm_config_init(&cfg);
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return 1;
	struct repl_standby_opts o = { .listen_url = url, .failure_timeout_ms = 1000, .console_out_fd = STDOUT_FILENO };
	struct replication *r = NULL;
	char err[512] = "", active = 1;
	if (replication_standby_start(&vm, &cfg, &o, standby_event, &pfd[1], &r, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 1;
	}
	fprintf(stderr, "petrel: standby for a primary on %s\n", url);
	if (read(pfd[0], &active, 1) != 1)
		active = 1;
	struct repl_status st;
	replication_status(r, &st);
	int status = 1;
	if (active == 0) {
		fprintf(stderr, "petrel: the primary died (%s): the VM runs here\n", st.reason);
		status = run_arrived(&vm, &cfg, stats);
	} else {
		fprintf(stderr, "petrel: replication ended: %s\n", st.reason);
		status = 0;
	}
	replication_free(r);
	close(pfd[0]);
	close(pfd[1]);
	vm_config_free(&cfg);
	return status;
}

int cli_run(int argc, char **argv)
{
	struct vm_config cfg;
	struct snapshot_load_opts ro = { 0 };
	const char *incoming = NULL, *standby = NULL;
	bool restore, stats = false;
	struct sc_options sc = { 0 };
	struct cpu_affinity *aff = NULL;   /* --cpu-affinity with --restore/--incoming/--standby */
	char err[512];
	int r;
	if (seccomp_take_args(&argc, argv, &sc) < 0)
		return 2;
	if (seccomp_start(&sc) < 0)   /* before any file is read or thread started */
		return sc.filter_path ? 2 : 1;
	r = restore_args(argc, argv, &ro, &incoming, &standby, &stats, &aff, &restore);
	/* the VM's vCPU count comes with it: checked when its threads start */
	if (r == 0 && (incoming || standby) && (r = affinity_set(aff, 0, err, sizeof(err))) < 0)
		log_error("%s", err);
	if (r < 0) {
		free(aff);
		return 2;
	}
	if (incoming || standby) {
		free(aff);
		return incoming ? run_incoming(incoming, stats) : run_standby(standby, stats);
	}
	if (restore) {
		r = snapshot_read_config(&ro, &cfg, err, sizeof(err));
		if (r < 0) {
			log_error("%s: %s", ro.state_path, err);
			free(aff);
			return 2;
		}
		cfg.stats = stats;
		cfg.cpu_affinity = aff;   /* cfg owns it now */
	} else {
		vm_config_init(&cfg);
		r = parse_args(argc, argv, &cfg);
	}
	/* Checked against the host and the vCPU count, main moved to the vmm set, before any of
	 * the VM's threads exist. */
	if (r == 0 && (r = affinity_set(cfg.cpu_affinity, vcpu_hotplug_possible(&cfg), err, sizeof(err))) < 0)
		log_error("%s", err);
	if (r != 0) {
		vm_config_free(&cfg);
		return r > 0 ? 0 : 2;
	}
	/* Signals are taken by the console loop through a signalfd; vCPU threads inherit
	 * this mask and unblock only their kick signal. */
	cli_block_signals();

	static struct vm vm; /* large (vCPU array); one per process */
	int status;
	if (restore && snapshot_load(&vm, &cfg, &ro, STDOUT_FILENO, err, sizeof(err)) < 0) {
		log_error("%s: %s", ro.state_path, err);
		status = 1;
	} else if (!restore && vm_create(&vm, &cfg, STDOUT_FILENO) < 0) {
		status = 1;
	} else if (vm_start(&vm) < 0) {
		status = vm_join(&vm);
	} else {
		console_loop(&vm);
		status = vm_join(&vm);
	}
	report_stop(&vm);
	if (cfg.stats && vm.nvcpus)
		print_stats(&vm, &cfg);
	vm_destroy(&vm);
	vm_config_free(&cfg);
	return status;
}

int cli_snapshot(int argc, char **argv)
{
	char err[512] = "";
	if (argc == 3 && !strcmp(argv[1], "info")) {
		if (snapshot_info(argv[2], stdout, err, sizeof(err)) < 0) {
			fprintf(stderr, "petrel: %s\n", err);
			return 1;
		}
		return 0;
	}
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "merge")) {
		const char *mem = argc == 6 ? argv[3] : NULL;
		const char *out_state = argv[argc - 2], *out_mem = argv[argc - 1];
		if (snapshot_merge(argv[2], mem, out_state, out_mem, err, sizeof(err)) < 0) {
			fprintf(stderr, "petrel: %s\n", err);
			return 1;
		}
		printf("merged %s into %s and %s\n", argv[2], out_state, out_mem);
		return 0;
	}
	fprintf(stderr, "usage: petrel snapshot info STATE\n"
			"       petrel snapshot merge STATE [MEM] OUT_STATE OUT_MEM\n");
	return 2;
}
