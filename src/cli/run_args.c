/* `petrel run`'s command line: the options that define a VM, and those of a VM restored,
 * received or replicated instead of booted. */
#include "boot/boot.h"
#include "cli/cli.h"
#include "cli/run_args.h"
#include "util/log.h"
#include "util/util.h"
#include "vm/vm.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	OPT_KERNEL = 256, OPT_FIRMWARE, OPT_FROM_DISK, OPT_FIRMWARE_VARS, OPT_PMEM, OPT_INITRD, OPT_CMDLINE, OPT_CPUS, OPT_MEM, OPT_CONFIG, OPT_STATS,
	OPT_DEBUG_EXIT, OPT_CPU_TEMPLATE, OPT_CPU_CONFIG, OPT_SMT, OPT_PVM, OPT_LEVEL, OPT_HELP,
	OPT_DISK, OPT_RNG, OPT_VIRTIO_TRANSPORT, OPT_VIRTIO_MMIO_CMDLINE, OPT_NET, OPT_VSOCK,
	OPT_RESTORE, OPT_MEM_FILE, OPT_CLOCK_REALTIME, OPT_LAZY, OPT_UFFD, OPT_INCOMING, OPT_STANDBY,
	OPT_NEXT_STANDBY, OPT_TAKEOVER,
	OPT_NO_VMGENID,
	OPT_NO_REBOOT,
	OPT_KERNEL_DECOMPRESS, OPT_HUGE_PAGES, OPT_CPU_AFFINITY, OPT_INITRD_UNPACK,
	OPT_FS,
};

static const struct option options[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "firmware", required_argument, NULL, OPT_FIRMWARE },
	{ "firmware-vars", required_argument, NULL, OPT_FIRMWARE_VARS },
	{ "from-disk", no_argument, NULL, OPT_FROM_DISK },
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
	{ "fs", required_argument, NULL, OPT_FS },
	{ "virtio-transport", required_argument, NULL, OPT_VIRTIO_TRANSPORT },
	{ "virtio-mmio-cmdline", no_argument, NULL, OPT_VIRTIO_MMIO_CMDLINE },
	{ "no-vmgenid", no_argument, NULL, OPT_NO_VMGENID },
	{ "no-reboot", no_argument, NULL, OPT_NO_REBOOT },
	{ "restore", required_argument, NULL, OPT_RESTORE },
	{ "mem-file", required_argument, NULL, OPT_MEM_FILE },
	{ "clock-realtime", no_argument, NULL, OPT_CLOCK_REALTIME },
	{ "lazy", no_argument, NULL, OPT_LAZY },
	{ "uffd", required_argument, NULL, OPT_UFFD },
	{ "incoming", required_argument, NULL, OPT_INCOMING },
	{ "standby", required_argument, NULL, OPT_STANDBY },
	{ "next-standby", required_argument, NULL, OPT_NEXT_STANDBY },
	{ "takeover", required_argument, NULL, OPT_TAKEOVER },
	{ "kernel-decompress", required_argument, NULL, OPT_KERNEL_DECOMPRESS },
	{ "cpu-affinity", required_argument, NULL, OPT_CPU_AFFINITY },
	{ "initrd-unpack", required_argument, NULL, OPT_INITRD_UNPACK },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: petrel run --kernel PATH [--initrd PATH] [--cmdline STR] [--cpus N] [--mem MIB]\n"
		"       petrel run --firmware seabios|ovmf|PATH [--firmware-vars PATH] --disk IMAGE[,boot=N]...\n"
		"                  [--cpus N] [--mem MIB]\n"
		"       petrel run --from-disk --disk IMAGE[,root]... [--cmdline STR] [--cpus N] [--mem MIB]\n"
		"       petrel run --config vm.json [options to override it]\n"
		"       petrel run --restore STATE (--mem-file MEM [--lazy] | --uffd SOCKET) [--clock-realtime]\n"
		"                  [--stats] [--level L]\n"
		"       petrel run --incoming tcp:ADDR:PORT|unix:PATH [--stats] [--level L]\n"
		"       petrel run --standby tcp:ADDR:PORT|unix:PATH [--next-standby URL] [--takeover auto|external]\n"
		"                  [--stats] [--level L]\n"
		"\n"
		"  --kernel PATH        bzImage or ELF vmlinux with a PVH note\n"
		"  --firmware seabios|ovmf|PATH  boot from the disks through a firmware instead of a kernel\n"
		"                       (seabios, ovmf: Debian's; docs/firmware.md)\n"
		"  --firmware-vars PATH a UEFI firmware's variables file (made from OVMF's template when absent)\n"
		"  --from-disk          boot the kernel, initrd and command line on the boot disk (the root\n"
		"                       drive, else the first): grub.cfg's default entry or /vmlinuz; --cmdline\n"
		"                       is appended to the entry's (docs/images.md)\n"
		"  --initrd PATH        initial ramdisk\n"
		"  --cmdline STR        kernel command line (default \"" VM_DEFAULT_CMDLINE "\")\n"
		"  --cpus N             vCPUs, 1-%d (default 1)\n"
		"  --mem MIB            guest memory in MiB (default 128)\n"
		"  --huge-pages None|Transparent|2M  back guest memory with huge pages (default None)\n"
		"  --config FILE        Firecracker --config-file JSON (boot-source, machine-config, cpu-config)\n"
		"  --smt                two threads per core in the CPU topology\n"
		"  --cpu-template NAME  hide CPU features: None, T2, T2S, C3, T2CL, T2A\n"
		"  --cpu-config FILE    custom CPU template JSON (Firecracker format)\n"
		"  --stats              print exit statistics (and a UEFI firmware's vars writes) when the VM stops\n"
		"  --event-monitor PATH|fd=N  lifecycle events, JSON lines (docs/events.md)\n"
		"  --level LEVEL        log level: Error, Warning, Info, Debug (default Warning)\n"
		"  --pvm auto|on|off    PVM-host workarounds (default auto: on when kvm_pvm is loaded)\n"
		"  --debug-exit         enable the test ports 0xf4 (exit with status) and 0xf5 (null)\n"
		"  --disk PATH[,ro][,id=NAME][,direct][,root][,cache=unsafe|writeback][,io=sync|async][,poll=USEC][,transport=pci|mmio][,boot=N]\n"
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
		"  --fs SOCKET,tag=TAG[,id=NAME][,queue_size=N][,num_request_queues=N][,transport=pci|mmio]\n"
		"                       virtio-fs: a host directory served by the vhost-user back end on SOCKET\n"
		"                       (virtiofsd); the guest mounts it with mount -t virtiofs TAG DIR (docs/virtio-fs.md)\n"
		"  --virtio-transport pci|mmio  default transport of virtio devices (default pci)\n"
		"  --virtio-mmio-cmdline  also announce virtio-mmio devices on the kernel command line\n"
		"  --no-vmgenid         no VM generation ID device (ACPI VMGENCTR, renewed on snapshot loads)\n"
		"  --no-reboot          a guest reset (reboot) ends the VM instead of booting it again\n"
		"  --kernel-decompress host|host-linux64|guest  who decompresses a bzImage (default host:\n"
		"                       petrel, then the kernel's PVH or 64-bit entry; guest: the kernel)\n"
		"  --initrd-unpack on|off  decompress the initrd's compressed archives on the host before\n"
		"                       the guest starts (default on; off: the kernel does it)\n"
		"  --cpu-affinity [WHO@[CPUS],...]  host CPUs of vCPU threads (WHO a vCPU number), the I/O\n"
		"                       thread (io) and the other threads (vmm), e.g. 0@[2],1@[3],io@[4];\n"
		"                       also with --restore, --incoming and --standby (docs/user-guide.md)\n"
		"  --next-standby URL   with --standby: once this standby has taken over, it replicates the\n"
		"                       VM to the standby listening at URL (docs/high-availability.md)\n"
		"  --takeover external  with --standby: never take over by itself; when the primary is lost,\n"
		"                       wait until promoted by the signal SIGRTMIN (kill -s RTMIN PID)\n"
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
	case OPT_FIRMWARE: return replace(&cfg->firmware, arg);
	case OPT_FIRMWARE_VARS: return replace(&cfg->firmware_vars, arg);
	case OPT_FROM_DISK: cfg->from_disk = true; return 0;
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
	case OPT_FS: {
		char msg[320];
		struct fs_config c;
		if (fs_config_from_cli(arg, cfg->nfs, &c, msg, sizeof(msg)) < 0) {
			log_error("%s", msg);
			return -EINVAL;
		}
		int r = vm_config_put_fs(cfg, &c, msg, sizeof(msg));
		fs_config_free(&c);
		if (r < 0) {
			log_error("--fs %s: %s", arg, msg);
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
	case OPT_NO_REBOOT: cfg->no_reboot = true; return 0;
	case OPT_KERNEL_DECOMPRESS:
		return boot_decompress_from_name(arg, &cfg->kernel_decompress);
	case OPT_CPU_AFFINITY:
		return parse_affinity(&cfg->cpu_affinity, arg);
	case OPT_INITRD_UNPACK:
		return initrd_unpack_from_name(arg, &cfg->initrd_unpack_off);
	case OPT_LEVEL: {
		enum log_level l;
		if (log_level_from_name(arg, &l) < 0) {
			log_error("--level: unknown log level '%s'", arg);
			return -EINVAL;
		}
		log_set_level(l);
		return 0;
	}
	case OPT_NEXT_STANDBY:
	case OPT_TAKEOVER:
		log_error("--next-standby and --takeover go with --standby only");
		return -EINVAL;
	default:
		return -EINVAL;
	}
}

/* The JSON file is read first; every other option then overrides what it says. */
int run_parse_args(int argc, char **argv, struct vm_config *cfg)
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
int run_restore_args(int argc, char **argv, struct snapshot_load_opts *o, struct run_from *from, bool *stats,
		     struct cpu_affinity **aff, bool *found)
{
	const char **incoming = &from->incoming, **standby = &from->standby;
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
		case OPT_NEXT_STANDBY: from->next_standby = optarg; break;
		case OPT_TAKEOVER: from->takeover = optarg; break;
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
	if ((from->next_standby || from->takeover) && !*standby) {
		log_error("--next-standby and --takeover go with --standby only");
		return -EINVAL;
	}
	if (from->takeover && strcmp(from->takeover, "auto") && strcmp(from->takeover, "external")) {
		log_error("--takeover: expected auto or external, not '%s'", from->takeover);
		return -EINVAL;
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
