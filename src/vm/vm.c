#include "vm/vm_internal.h"
#include "arch/x86/acpi.h"
#include "arch/x86/boot_cpu.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "devices/legacy/pvpanic.h"
#include "diskboot/diskboot.h"
#include "vm/vm_firmware.h"
#include "util/affinity.h"
#include "util/event_monitor.h"
#include "util/log.h"
#include "util/thread.h"
#include "util/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

/* A device's or a vCPU's request: a guest reset resets the machine (vm_reset.c), unless
 * machine-config's reboot says "stop" (--no-reboot); everything else stops the VM. */
static void power_cb(void *opaque, enum vm_stop_reason reason, int code, const char *why)
{
	struct vm *vm = opaque;
	if (reason == VM_STOP_RESET && !vm->cfg->no_reboot)
		vm_request_reset(vm, why);
	else
		vm_request_stop(vm, reason, code, "%s", why);
}

struct power_ctl vm_power_ctl(struct vm *vm)
{
	return (struct power_ctl){ power_cb, vm };
}

struct vcpu_env *vm_vcpu_env(struct vm *vm)
{
	struct vcpu_env *e = &vm->vcpu_env;
	if (!e->kvm)
		*e = (struct vcpu_env){
			.kvm = &vm->kvm, .mem = &vm->mem, .pio = &vm->pio, .mmio = &vm->mmio,
			.cpuid = vm->cpuid, .cpuid_opts = &vm->cpuid_opts,
			.xsave_layout = &vm->xsave_layout, .pvm = vm->pvm,
			.pvm_syscall = &vm->pvm_syscall, .pvm_idle = &vm->pvm_idle,
			.lock = &vm->lock, .cond = &vm->cond, .parked = &vm->parked,
			.pause_requested = &vm->pause_requested, .reset_requested = &vm->reset.requested,
			.stopping = &vm->stopping,
			.first_run_ns = &vm->first_run_ns,
			.stop = { power_cb, vm },
		};
	return e;
}

int vm_vcpu_create(struct vm *vm, unsigned id)
{
	int err = vcpu_create(&vm->vcpus[id], vm_vcpu_env(vm), id);
	/* its creation state, for a reset: once per slot (a hot-plug retried sets up the same);
	 * 0.3 ms for the first vCPU (the MSR list), 0.06 ms for each other on a PVM host */
	if (!err && !vm->cfg->no_reboot && !vm->reset.vcpu[id])
		err = vm_reset_capture_vcpu(vm, id);
	return err;
}

/* What a PVM host needs on the kernel command line.
 * - PVM's ring-0 emulator cannot run the SIMD arithmetic that Linux's crypto and checksum
 *   code uses in kernel_fpu_begin() sections (seen: movd/paddq in the SSSE3 BLAKE2s/ChaCha
 *   code), and PVM passes most host CPUID bits through whatever KVM_SET_CPUID2 says, so the
 *   kernel is told with clearcpuid= (Linux's X86_FEATURE numbers, word * 32 + bit):
 *   PCLMULQDQ (4*32+1), SSSE3 (4*32+9), CX16 (4*32+13), SSE4.1 (4*32+19), SSE4.2 (4*32+20),
 *   AES (4*32+25), AVX2 (9*32+5), SHA-NI (9*32+29), GFNI (16*32+8), VAES (16*32+9),
 *   VPCLMULQDQ (16*32+10). AVX and AVX-512F stay: without them the kernel would not save
 *   those registers, and guest user space uses them natively (PVM runs it under the host's
 *   XCR0 whatever the guest sets).
 * - XSAVE stays on for the same reason; petrel runs xsave/xrstor itself (emulate_xsave.c)
 *   in the standard form, so XSAVEC (10*32+1), XGETBV1 (10*32+2) and XSAVES (10*32+3) go, as
 *   they do in petrel's CPUID, and XSAVEOPT (10*32+0) too (PVM shows the kernel the host's
 *   leaf 0xD.1 regardless: measured, a kernel without this used xsaveopt, which petrel runs
 *   as xsave anyway).
 * - nowatchdog: with ring 0 ~1000x slower, the soft/hard lockup detectors' 10-20 s limits
 *   are crossed by ordinary kernel work, and each report (a stack dump through the emulated
 *   UART) takes longer than the limit itself, so the guest can spend all its time reporting.
 *   The RCU stall detector (21 s) likewise. */
#define PVM_CMDLINE " nowatchdog rcupdate.rcu_cpu_stall_suppress=1 cryptomgr.notests clearcpuid=129,137,141,147,148,153,293,317,320,321,322,323,520,521,522"

/* The kernel's command line: boot_args (or the default), or with a boot from the disk the
 * entry's with boot_args appended; then PVM's and a root pmem device's. */
static char *build_cmdline(const struct vm_config *cfg, bool pvm, const char *from_disk)
{
	const char *base = cfg->cmdline ? cfg->cmdline : VM_DEFAULT_CMDLINE;
	char *s = NULL, root[64];
	pmem_root_cmdline(cfg, root, sizeof(root)); /* a root pmem device, as Firecracker: last wins */
	if (from_disk && asprintf(&s, "%s%s%s%s%s", from_disk, from_disk[0] && cfg->cmdline ? " " : "",
				  cfg->cmdline ? cfg->cmdline : "", pvm ? PVM_CMDLINE : "", root) < 0)
		return NULL;
	if (!from_disk && asprintf(&s, "%s%s%s", base, pvm ? PVM_CMDLINE : "", root) < 0)
		return NULL;
	return s;
}

static int setup_devices(struct vm *vm, int console_out_fd)
{
	struct power_ctl power = { power_cb, vm };
	struct bus *pio = &vm->pio;
	int err = 0;
	serial_init(&vm->serial, console_out_fd, (struct irq_line){ &vm->kvm, SERIAL_COM1_IRQ });
	int berr = serial_buffer_output(&vm->serial, &vm->devs.io);
	if (berr < 0) /* it works without: a poll and a write per byte */
		log_warn("serial: cannot buffer console output: %s", strerror(-berr));
	i8042_init(&vm->i8042, (struct irq_line){ &vm->kvm, I8042_KBD_IRQ }, power);
	vm->devs.acpi.i8042 = true;   /* the DSDT's PNP0303: SeaBIOS looks for it */
	if (vm->cfg->has_display) { /* a screen comes with a PS/2 mouse (docs/display.md) */
		i8042_add_mouse(&vm->i8042, (struct irq_line){ &vm->kvm, I8042_AUX_IRQ });
		vm->devs.acpi.i8042_mouse = true;
	}
	rtc_init(&vm->rtc, guest_mem_low_end(&vm->mem), guest_mem_ram_size(&vm->mem) - guest_mem_low_end(&vm->mem));
	vm->debug.power = power;

	err = err ?: bus_register(pio, SERIAL_COM1_BASE, 8, "serial", serial_io_read, serial_io_write, &vm->serial);
	err = err ?: bus_register(pio, I8042_DATA_PORT, 1, "i8042-data", i8042_data_read, i8042_data_write, &vm->i8042);
	err = err ?: bus_register(pio, I8042_CMD_PORT, 1, "i8042-cmd", i8042_cmd_read, i8042_cmd_write, &vm->i8042);
	err = err ?: bus_register(pio, RTC_INDEX_PORT, 2, "rtc", rtc_io_read, rtc_io_write, &vm->rtc);
	/* with a firmware, PIIX4's PMBA places it (vm_firmware_chipset) */
	if (!vm->cfg->firmware)
		err = err ?: bus_register(pio, ACPI_PM_BASE, ACPI_PM_LEN, "acpi-pm", acpi_pm_read, acpi_pm_write, &vm->pm);
	err = err ?: bus_register(pio, PVPANIC_PORT, 1, "pvpanic", pvpanic_read, pvpanic_write, NULL);
	if (vm->cfg->debug_exit)
		err = err ?: bus_register(pio, DEBUG_EXIT_PORT, 2, "debug-exit", debug_port_read, debug_port_write, &vm->debug);
	return err;
}

static int setup_cpu_template(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	char msg[256];
	int err;
	memset(&vm->tmpl, 0, sizeof(vm->tmpl));
	if (cfg->cpu_template && strcmp(cfg->cpu_template, "None") != 0) {
		err = cpu_template_named(cfg->cpu_template, &vm->tmpl);
		if (err < 0) {
			log_error("unknown CPU template '%s'", cfg->cpu_template);
			return err;
		}
	}
	const char *srcs[2] = { cfg->cpu_config_json, NULL };
	for (int i = 0; i < 2; i++) {
		struct cpu_template extra;
		if (i == 0 && !cfg->cpu_config_json)
			continue;
		if (i == 1 && !cfg->cpu_config_path)
			continue;
		err = i == 0 ? cpu_template_parse_json(srcs[0], &extra, msg, sizeof(msg))
			     : cpu_template_load_file(cfg->cpu_config_path, &extra, msg, sizeof(msg));
		if (err < 0) {
			log_error("custom CPU template: %s", msg);
			return err;
		}
		err = cpu_template_append(&vm->tmpl, &extra);
		cpu_template_free(&extra);
		if (err < 0)
			return err;
	}
	return 0;
}

/* Everything but the guest's contents: KVM, memory (anonymous, or mapped from a snapshot's
 * memory file when mem_fd >= 0), devices, CPUID and vCPUs. */
static int create_machine(struct vm *vm, const struct vm_config *cfg, int console_out_fd, int mem_fd)
{
	/* *vm comes zero-filled (vm.h): clearing its 142 KiB here wrote 36 pages at every start,
	 * most of them device slots (virtio, routes, handlers) this VM never uses. */
	vm->cfg = cfg;
	vm->start_ns = now_ns();
	pthread_mutex_init(&vm->lock, NULL);
	pthread_mutex_init(&vm->pause_hold, NULL);
	pthread_cond_init(&vm->cond, NULL);
	vm->kvm.fd = vm->kvm.vm_fd = -1;
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_efd < 0)
		return -errno;
	bus_init(&vm->pio, "port I/O");
	bus_init(&vm->mmio, "MMIO");

	/* A short huge-page pool is the user's to fix: say so before anything else is built. */
	char why[320];
	if (mem_fd < 0 && guest_mem_backing_check(cfg->huge_pages, cfg->mem_mib << 20, why, sizeof(why)) < 0) {
		log_error("%s", why);
		return -EINVAL;
	}
	int err = kvm_open(&vm->kvm);
	if (err < 0)
		return err;
	vm->pvm = cfg->pvm_workarounds < 0 ? vm->kvm.pvm : cfg->pvm_workarounds > 0;
	if (vm->pvm && !cfg->firmware)
		log_info("PVM host detected: hiding CX16, adding \"%s\" to the command line, emulating instructions the host rejects", &PVM_CMDLINE[1]);
	else if (vm->pvm) /* the boot loader on the disk writes the kernel's command line */
		log_info("PVM host detected: hiding CX16, emulating instructions the host rejects; a Linux booted by the "
			 "firmware needs \"%s\" in its boot loader's command line (docs/firmware.md)", &PVM_CMDLINE[1]);

	if (vm->pvm)
		pvm_syscall_init(&vm->pvm_syscall, &vm->kvm); /* failure is logged; boot goes on */
	/* Memory before the in-kernel irqchip: registering a 256 MiB slot took 0.09 ms before it
	 * and 7-15 ms after it on this PVM host (measured). */
	/* a virtio-fs back end maps guest RAM itself: memfd memory (docs/virtio-fs.md) */
	if (cfg->nfs && mem_fd < 0)
		err = guest_mem_init_shared(&vm->mem, &vm->kvm, cfg->mem_mib << 20, LAYOUT_MMIO_HOLE,
					    cfg->track_dirty_pages, cfg->huge_pages);
	else
		err = guest_mem_init_from(&vm->mem, &vm->kvm, cfg->mem_mib << 20, LAYOUT_MMIO_HOLE, mem_fd,
					  cfg->track_dirty_pages, cfg->huge_pages);
	if (err < 0)
		return err;
	{
		const struct guest_region *last = &vm->mem.regions[vm->mem.nregions - 1];
		devmem_init(&vm->devmem, last->gpa + last->size);
	}
	/* virtio-mem's region right after RAM: its bytes follow RAM's in a memory file */
	if (cfg->has_memory_hotplug &&
	    (err = virtio_mem_map_region(&vm->mem, &vm->kvm, &vm->devmem,
					 (uint64_t)cfg->memory_hotplug.total_size_mib << 20,
					 (uint64_t)cfg->memory_hotplug.block_size_mib << 20, mem_fd)) < 0)
		return err;
	err = kvm_create_irqchip(&vm->kvm);
	if (err < 0)
		return err;
	err = cfg->no_reboot ? 0 : vm_reset_capture_chips(vm);
	if (err < 0)
		return err;
	/* before the PCI bus: a firmware's chipset (PIIX4) places the ACPI PM block */
	acpi_pm_init(&vm->pm, vm_power_ctl(vm));
	err = vm_devices_create(vm);
	if (err < 0)
		return err;
	err = setup_devices(vm, console_out_fd);
	if (err < 0)
		return err;
	err = setup_cpu_template(vm);
	if (err < 0)
		return err;
	/* topology over every possible vCPU: a hot-added one is a core of the same package */
	vm->cpuid_opts = (struct cpuid_opts){ .ncpus = vcpu_hotplug_possible(cfg), .smt = cfg->smt, .pvm = vm->pvm,
					      .tmpl = &vm->tmpl };
	err = cpuid_prepare(&vm->kvm, &vm->cpuid_opts, &vm->cpuid);
	if (err < 0)
		return err;
	cpuid_xsave_layout(vm->cpuid, &vm->xsave_layout);
	for (unsigned i = 0; i < cfg->vcpus; i++) {
		err = vm_vcpu_create(vm, i);
		if (err < 0)
			return err;
		vm->nvcpus++;
	}
	return cfg->firmware ? vm_firmware_create(vm) : 0;
}

/* The vCPUs the boot's MADT enables: those present (vCPU hot-plug adds the lowest absent one
 * and removes the highest, so they are the first ones), else the definition's count. */
static unsigned boot_vcpus(struct vm *vm)
{
	unsigned present = vm->cfg->vcpus, target;
	if (vcpu_hotplug_on(vm))
		vcpu_hotplug_counts(vm, &present, &target);
	return present;
}

int vm_boot_load(struct vm *vm, bool fresh)
{
	const struct vm_config *cfg = vm->cfg;
	free(vm->cmdline);
	if (cfg->firmware) /* the vCPUs are at the reset vector: the firmware boots from the disks */
		return vm_firmware_power_on(vm, boot_vcpus(vm));
	_cleanup_(diskboot_free) struct diskboot db = { 0 };
	const char *drive = NULL;
	uint64_t t0 = now_ns();
	int err = cfg->from_disk ? vm_diskboot_read(vm, &db, &drive) : 0;
	if (err < 0)
		return err;
	vm->cmdline = build_cmdline(cfg, vm->pvm, cfg->from_disk ? db.cmdline : NULL);
	if (!vm->cmdline)
		return -ENOMEM;
	if (cfg->virtio_mmio_cmdline && vm->devs.cmdline_extra[0]) {
		char *s = NULL;
		if (asprintf(&s, "%s%s", vm->cmdline, vm->devs.cmdline_extra) < 0)
			return -ENOMEM;
		free(vm->cmdline);
		vm->cmdline = s;
	}
	uint64_t rsdp;
	vm->devs.acpi.pvpanic_port = PVPANIC_PORT; /* registered in setup_devices */
	err = acpi_build_devices(&vm->mem, boot_vcpus(vm), &vm->devs.acpi, fresh, &rsdp);
	if (err < 0) {
		log_error("cannot build ACPI tables: %s", strerror(-err));
		return err;
	}
	struct e820_entry e820[E820_MAX];
	int n = e820_build(&vm->mem, e820);
	if (cfg->from_disk) {
		struct boot_images img = { (char *)db.kernel, db.kernel_len, (char *)db.initrd, db.initrd_len, "the disk's kernel",
					   "the disk's initrd" };
		err = boot_load_images(&vm->mem, &img, vm->cmdline, e820, n, rsdp, (enum boot_decompress)cfg->kernel_decompress,
				       !cfg->initrd_unpack_off, &vm->boot);
		db.initrd = (uint8_t *)img.initrd; /* maybe decompressed: freed with db */
		db.initrd_len = img.ilen;
		if (err == 0)
			log_info("boot from disk: drive %s %s cmdline '%s' (%.1f ms)", drive, db.what, vm->cmdline,
				 (double)(now_ns() - t0) / 1e6);
	} else {
		err = boot_load(&vm->mem, cfg->kernel_path, cfg->initrd_path, vm->cmdline, e820, n, rsdp,
				(enum boot_decompress)cfg->kernel_decompress, !cfg->initrd_unpack_off, &vm->boot);
	}
	if (err < 0)
		return err;
	err = x86_boot_tables(&vm->mem, vm->boot.mode);
	if (err < 0)
		return err;
	/* The ID's page is the ACPI area's, which the build cleared: the ID (new at vm_create, the
	 * same at a reset) goes there again, after the tables. */
	if (vm->devs.genid.present && (err = vmgenid_reset(&vm->devs.genid)) < 0) {
		log_error("cannot write the VM generation ID: %s", strerror(-err));
		return err;
	}
	return x86_boot_regs(vm->vcpus[0].fd, &vm->boot); /* APs wait in KVM for INIT/SIPI */
}

int vm_create(struct vm *vm, const struct vm_config *cfg, int console_out_fd)
{
	event_emit("vm", "booting", "{s:i,s:I,s:s?,s:s?}", "vcpus", (int)cfg->vcpus, "mem_size_mib",
		   (json_int_t)cfg->mem_mib, "kernel", cfg->kernel_path, "firmware", cfg->firmware);
	int err = create_machine(vm, cfg, console_out_fd, -1);
	if (err < 0)
		return err;
	if (vm->devs.genid.present && (err = vmgenid_new_id(&vm->devs.genid, false)) < 0) {
		log_error("cannot write the VM generation ID: %s", strerror(-err));
		return err;
	}
	return vm_boot_load(vm, true);   /* guest memory just mapped: nothing written yet */
}

int vm_create_restored(struct vm *vm, const struct vm_config *cfg, int console_out_fd, int mem_fd)
{
	int err = create_machine(vm, cfg, console_out_fd, mem_fd);
	if (err == 0)
		vm->restored = true;
	return err;
}

static void poke_vcpu(void *opaque, unsigned id)
{
	struct vm *vm = opaque;
	if (id < vm->nvcpus)
		vcpu_kick(&vm->vcpus[id]);
}

int vm_start(struct vm *vm)
{
	int ioerr = vm_devices_start(vm);
	if (ioerr < 0) {
		vm_request_stop(vm, VM_STOP_ERROR, 1, "cannot start the I/O thread: %s", strerror(-ioerr));
		return ioerr;
	}
	/* A placement made before the vCPU count was known (a snapshot's, a migration's VM). */
	for (unsigned i = vcpu_hotplug_possible(vm->cfg); i < AFFINITY_MAX_VCPUS; i++) /* hot-plug's too */
		if (affinity_names_vcpu(i))
			log_warn("cpu-affinity: vCPU %u: the VM has %u vCPUs; ignored", i, vcpu_hotplug_possible(vm->cfg));
	/* The kicker first: each vCPU thread registers itself with it as it starts. */
	if (vm->pvm)
		pvm_idle_start(&vm->pvm_idle, &vm->kvm, &vm->devs.io, vm->nvcpus, poke_vcpu, vm);
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		/* each on its own host CPUs when the placement names it (util/affinity.h) */
		int err = -thread_start_on(&v->thread, SC_VCPU, "fc_vcpu", affinity_for_vcpu(i), vcpu_thread, v);
		if (err) {
			vm_request_stop(vm, VM_STOP_ERROR, 1, "cannot start vCPU thread: %s", strerror(err));
			return -err;
		}
		vcpu_set_started(v, true);
	}
	event_emit("vm", "started", "{s:i,s:b}", "vcpus", (int)vm->nvcpus, "restored", vm->restored);
	return 0;
}

int vm_join(struct vm *vm)
{
	/* The idle kicker first: it signals vCPU threads it sees started, and one joined
	 * meanwhile would be gone (the vCPUs leave on their own stop kicks). */
	pvm_idle_stop(&vm->pvm_idle);
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		if (vcpu_started(&vm->vcpus[i])) {
			pthread_join(vm->vcpus[i].thread, NULL);
			vcpu_set_started(&vm->vcpus[i], false);
		}
	}
	vm_reset_join(vm); /* a reset under way finishes first */
	serial_flush(&vm->serial, true); /* the guest's last words before anything said about its end */
	/* Each instruction emulated for the host was logged when first seen; now its count. */
	struct exit_stats st;
	vm_exit_stats(vm, &st);
	for (int i = 0; i < EMU_STAT_MAX && st.emu_name[i]; i++)
		log_info("emulated '%s' for the host %llu times", st.emu_name[i],
			 (unsigned long long)st.emu_count[i]);
	switch (vm->stop_reason) {
	case VM_STOP_POWEROFF:
	case VM_STOP_RESET:
	case VM_STOP_USER:
		return 0;
	case VM_STOP_DEBUG_EXIT:
		return vm->stop_code & 0xff;
	default:
		return vm->stop_code ? vm->stop_code : 1;
	}
}

void vm_exit_stats(struct vm *vm, struct exit_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < vm->nvcpus; i++)
		exit_stats_merge(out, &vm->vcpus[i].stats);
}

void vm_destroy(struct vm *vm)
{
	pvm_idle_stop(&vm->pvm_idle);
	vm_reset_join(vm);
	serial_destroy(&vm->serial); /* its flush timer is on the I/O thread */
	vm_devices_destroy(vm); /* the I/O thread stops before memory and KVM go away */
	vm_firmware_destroy(vm);
	/* every slot: one past nvcpus may hold a vCPU whose set-up failed (vcpu_create) */
	for (unsigned i = 0; i < VM_MAX_VCPUS; i++)
		vcpu_release(&vm->vcpus[i], &vm->vcpu_env);
	vm->nvcpus = 0;
	free(vm->cpuid);
	vm->cpuid = NULL;
	cpu_template_free(&vm->tmpl);
	free(vm->cmdline);
	vm->cmdline = NULL;
	free(vm->snap_parent);
	vm->snap_parent = NULL;
	vm_reset_free(vm);
	guest_mem_free(&vm->mem);
	kvm_close(&vm->kvm);
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	vm->stop_efd = -1;
}
