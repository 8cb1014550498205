/* The definition of struct vm: for src/vm's own files (and the white-box unit tests) only.
 * Every other layer sees an opaque struct vm and uses the verbs of vm/vm.h; scripts/check-layers.py
 * fails on an include of this header or on a `vm->` outside src/vm. */
#ifndef PETREL_VM_VM_INTERNAL_H
#define PETREL_VM_VM_INTERNAL_H

#include "arch/x86/cpuid.h"
#include "arch/x86/emulate.h"
#include "arch/x86/pvm_idle.h"
#include "arch/x86/pvm_syscall.h"
#include "boot/boot.h"
#include "config/cpu_template.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/debug_port.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/rtc.h"
#include "memory/devmem.h"
#include "vm/vm_devices.h"
#include "vm/vm_reset.h"
#include "vm/vm.h"

struct vm {
	const struct vm_config *cfg;
	struct kvm kvm;
	struct guest_mem mem;
	struct devmem devmem;         /* device memory above RAM (pmem, virtio-mem) */
	struct bus pio, mmio;
	struct vcpu vcpus[VM_MAX_VCPUS];
	unsigned nvcpus;
	struct vcpu_env vcpu_env;     /* what the vCPUs see of this VM (vm_vcpu_env) */
	bool pvm;                     /* PVM host workarounds active */
	struct pvm_syscall pvm_syscall;
	struct pvm_idle pvm_idle;
	struct cpu_template tmpl;
	struct cpuid_opts cpuid_opts;
	struct kvm_cpuid2 *cpuid;
	struct emu_xsave_layout xsave_layout; /* from cpuid, for the PVM XSAVE emulation */
	struct boot_info boot;
	char *cmdline;                /* what the kernel gets */

	struct serial serial;
	struct i8042 i8042;
	struct rtc rtc;
	struct acpi_pm pm;
	struct debug_port debug;
	struct vm_devices devs;       /* I/O thread, PCI bus, virtio devices (vm_devices.c) */
	struct vm_firmware *fw;       /* a firmware-booted VM's chipset, image and fw_cfg (vm_firmware.c), else NULL */

	pthread_mutex_t lock;
	pthread_cond_t cond;          /* pause/resume handshakes, under lock */
	/* vm_pause_exclusive's: held by whoever pauses the VM for a moment and may resume it (a
	 * replication checkpoint, a migration's switch until its outcome) and by a user's pause or
	 * resume (PATCH /vm): a user's pause never lands inside such a moment only to be undone by
	 * its resume, nor a user's resume in the middle of it. */
	pthread_mutex_t pause_hold;
	bool pause_requested;
	unsigned parked;              /* vCPUs waiting in vcpu_park() */
	bool devices_paused;          /* vm_devices_pause done by vm_pause */
	bool stopping;
	enum vm_stop_reason stop_reason;
	int stop_code;
	char stop_msg[512];
	int stop_efd;                 /* eventfd, readable once the VM is stopping */
	uint64_t start_ns;
	uint64_t first_run_ns;        /* a vCPU's first KVM_RUN (migration's downtime ends there) */
	bool restored;                /* built from a snapshot (vm_create_restored) */
	struct vm_reset reset;        /* the guest's resets (vm_reset.c) */
	/* The last snapshot written or loaded (the parent of a Diff): its state file and id. */
	char *snap_parent;
	uint8_t snap_parent_id[16];
};

/* vm.c: the power requests of the VM's devices (a guest's poweroff, reset) go here. */
struct power_ctl vm_power_ctl(struct vm *vm);
/* The boot: everything vm_create does after building the machine (the kernel, its command
 * line, the ACPI and boot tables, the boot CPU's registers); a reset loads it again. fresh:
 * guest memory was never written (vm_create's; a reset's was), so the ACPI area is not read
 * to find what to clear. 0 or -errno (logged). */
int vm_boot_load(struct vm *vm, bool fresh);
/* vm_diskboot.c: a from_disk VM's boot, found on its boot drive (logged on failure). */
struct diskboot;
int vm_diskboot_read(struct vm *vm, struct diskboot *db, const char **drive_id);

#endif
