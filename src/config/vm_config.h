/* The VM definition: what the user asked for, from the CLI or a Firecracker-format JSON file. */
#ifndef PETREL_CONFIG_VM_CONFIG_H
#define PETREL_CONFIG_VM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/balloon_config.h"
#include "config/hotplug_memory_config.h"
#include "config/hotplug_vcpu_config.h"
#include "config/devices_config.h"
#include "memory/backing.h"
#include "config/mmds_config.h"
#include "config/pmem_config.h"
#include "config/fs_config.h"
#include "config/console_ports_config.h"
#include "config/cpu_affinity_config.h"
#include "config/display_config.h"

#define VM_MAX_VCPUS 64
#define VM_MIN_MEM_MIB 16
#define VM_MAX_MEM_MIB (1024 * 1024)   /* 1 TiB */
#define VM_CONFIG_FILE_MAX (1 << 20)   /* largest config file vm_config_load_file reads */
#define VM_SMBIOS_SERIAL_MAX 64

struct vm_config {
	char *kernel_path;       /* boot-source.kernel_image_path (required without a firmware) */
	char *firmware;          /* boot-source.firmware (petrel's): "seabios" or a firmware image's
				  * path; the VM boots from its disks through it, no kernel
				  * (docs/firmware.md). NULL: petrel loads the kernel itself */
	char *firmware_vars;     /* boot-source.firmware_vars_path (petrel's): a UEFI firmware's
				  * variables file, or NULL (OVMF: a private copy of the template) */
	char *initrd_path;       /* boot-source.initrd_path, or NULL */
	char *cmdline;           /* boot-source.boot_args, or NULL for the default; with from_disk,
				  * appended to the command line the disk's boot entry gives */
	bool from_disk;          /* boot-source.from_disk (petrel's; --from-disk): the kernel, initrd
				  * and command line come from the boot disk (its grub.cfg's default
				  * entry or its /vmlinuz links, src/diskboot, docs/images.md), read
				  * at the start and at every guest reset; no kernel, initrd or firmware */
	unsigned vcpus;          /* machine-config.vcpu_count, 1..VM_MAX_VCPUS */
	uint64_t mem_mib;        /* machine-config.mem_size_mib */
	bool smt;                /* machine-config.smt */
	char *cpu_template;      /* machine-config.cpu_template name, or NULL ("None") */
	char *cpu_config_path;   /* path of a custom CPU template JSON (CLI --cpu-config), or NULL */
	char *cpu_config_json;   /* inline "cpu-config" object from the JSON file, or NULL */
	bool track_dirty_pages;  /* machine-config.track_dirty_pages */
	enum guest_mem_backing huge_pages; /* machine-config.huge_pages: None, Transparent, 2M */
	bool has_uuid;           /* machine-config.uuid (petrel's): the machine's identity, which a
				  * firmware shows (SMBIOS); made up at the start when absent */
	uint8_t uuid[16];
	char smbios_serial[VM_SMBIOS_SERIAL_MAX + 1]; /* machine-config.smbios_serial (petrel's): the
				  * serial number a firmware shows (SMBIOS type 1; cloud-init reads
				  * "ds=nocloud" there); "": the UUID */
	bool no_reboot;          /* machine-config.reboot "stop" (petrel's; --no-reboot): a guest
				  * reset ends the VM; "reset", the default: it boots again */

	/* Devices: "drives", "network-interfaces", "vsock", "entropy" (and --disk, --net,
	 * --vsock, --rng, which add to what the file says). */
	struct drive_config drives[DEVICES_MAX_DRIVES];
	unsigned ndrives;
	struct net_config nets[DEVICES_MAX_NETS];
	unsigned nnets;
	bool has_vsock;
	struct vsock_config vsock;
	bool has_entropy;
	struct entropy_config entropy;
	bool has_balloon;         /* "balloon" (docs/balloon.md) */
	struct balloon_config balloon;
	bool has_memory_hotplug;  /* "memory-hotplug" (virtio-mem, docs/user-guide.md) */
	struct hotplug_memory_config memory_hotplug;
	struct pmem_config pmem[PMEM_MAX_DEVICES]; /* "pmem" (docs/pmem.md), in guest order */
	unsigned npmem;
	struct fs_config fs[FS_MAX_DEVICES]; /* "fs": petrel's virtio-fs devices (docs/virtio-fs.md) */
	unsigned nfs;
	struct console_port_config console_ports[CONSOLE_PORTS_MAX]; /* "console-ports" (petrel's,
				   * docs/guest-agent.md): virtio-console's named ports, in guest order */
	unsigned nconsole_ports;
	bool has_guest_agent;     /* "guest-agent" (petrel's): the QEMU guest agent's switch */
	struct guest_agent_config guest_agent;
	enum virtio_transport_kind console_transport; /* the virtio-console device's (petrel extensions) */
	bool has_vcpu_hotplug;    /* "vcpu-hotplug" (petrel's, docs/user-guide.md): vCPUs can be
				   * added up to max_vcpu_count and removed after the start */
	struct hotplug_vcpu_config vcpu_hotplug;
	bool has_display;         /* "display" (petrel's, docs/display.md): a screen, PS/2 keyboard and
				   * mouse, a tablet; without it none of them and no VNC */
	struct display_config display;
	enum virtio_transport_kind virtio_transport; /* --virtio-transport: default for devices */
	struct mmds_config mmds;  /* "mmds-config" (docs/mmds.md) */
	/* Not part of the definition: the metadata service the MMDS interfaces answer from (the
	 * controller's, borrowed; NULL: vm_devices_create makes the VM its own empty one). */
	struct mmds *mmds_service;
	/* Not part of the definition: the device end of the guest agent's socketpair (src/agent's
	 * guest_agent_create), the agent port's back end; the device takes a dup of it when the VM
	 * is built (the caller closes its own). Without guest_agent_fd_set the port has none. */
	bool guest_agent_fd_set;
	int guest_agent_fd;
	bool virtio_mmio_cmdline;  /* --virtio-mmio-cmdline: also announce virtio-mmio devices with
				    * virtio_mmio.device= on the kernel command line */

	/* Not in Firecracker's format: petrel CLI options. */
	bool stats;              /* --stats: print exit statistics when the VM ends */
	bool debug_exit;         /* --debug-exit: enable the test-exit port (tests/guests) */
	int pvm_workarounds;     /* -1 auto-detect, 0 off, 1 on */
	bool no_vmgenid;         /* --no-vmgenid: no VM generation ID device (and no ACPI GED) */
	unsigned kernel_decompress; /* --kernel-decompress: enum boot_decompress (boot/boot.h),
				     * 0 = petrel decompresses a bzImage's payload */
	bool initrd_unpack_off;    /* --initrd-unpack off: the kernel decompresses the initrd */
	/* "cpu-affinity" / --cpu-affinity (config/cpu_affinity_config.h), or NULL. Host policy,
	 * not the guest's: never in GET /vm/config, snapshots or migration streams; the CLI
	 * makes it the process's placement (util/affinity.h) before the VM's threads start. */
	struct cpu_affinity *cpu_affinity;
};

void vm_config_init(struct vm_config *cfg);          /* defaults: 1 vCPU, 128 MiB */
void vm_config_free(struct vm_config *cfg);
/* Check ranges and required fields (a kernel, 1..VM_MAX_VCPUS vCPUs, VM_MIN_MEM_MIB..
 * VM_MAX_MEM_MIB of memory, 1 or an even number of vCPUs with SMT). Returns 0 or -EINVAL
 * with a message in err. */
int vm_config_validate(const struct vm_config *cfg, char *err, size_t errlen);
/* A UUID's text form (36 characters + NUL) and back: -EINVAL unless 8-4-4-4-12 hex digits. */
#define VM_UUID_STR 37
int vm_uuid_parse(const char *s, uint8_t out[16]);
void vm_uuid_format(const uint8_t u[16], char out[VM_UUID_STR]);
/* A random (version 4) UUID into cfg unless it has one: 0 or -errno. */
int vm_config_ensure_uuid(struct vm_config *cfg);
/* Anything a boot configures (a boot source, devices): a snapshot or an adopted VM brings its own. */
bool vm_config_has_boot_resources(const struct vm_config *cfg);
/* firmware_config.c: a firmware-booted VM (cfg->firmware set) has no kernel and only devices a
 * firmware can find (PCI): 0 or -EINVAL and why. */
int vm_config_check_firmware(const struct vm_config *cfg, char *err, size_t errlen);
/* A VM booted from its disk (cfg->from_disk): no kernel, initrd or firmware beside it, and a
 * drive to boot from: 0 or -EINVAL and why. */
int vm_config_check_from_disk(const struct vm_config *cfg, char *err, size_t errlen);
/* The drive a from_disk VM boots from: the root device, else the first drive; -1 without drives. */
int vm_config_boot_drive(const struct vm_config *cfg);
/* The vCPU count alone (1..VM_MAX_VCPUS, even with SMT): 0 or -EINVAL and why. */
int vm_config_check_vcpus(uint64_t vcpus, bool smt, char *err, size_t errlen);
/* Parse Firecracker --config-file JSON text into cfg (which holds defaults/CLI values).
 * Unknown or wrongly typed fields are rejected: -EINVAL, err names the field
 * (e.g. "machine-config.vcpu_count: expected an integer"). Fields the JSON sets replace
 * cfg's; fields it leaves out (or sets to null where Firecracker allows that) keep cfg's.
 * On error cfg is unchanged. "boot-source" is not required here: the kernel may come from
 * the CLI, and vm_config_validate() checks that there is one. */
int vm_config_parse_json(const char *json, struct vm_config *cfg, char *err, size_t errlen);
/* Read and parse a config file. Returns 0, -EINVAL (bad content) or the -errno of the read
 * failure; err starts with the path. */
int vm_config_load_file(const char *path, struct vm_config *cfg, char *err, size_t errlen);
/* Add a device (taking ownership of *d, which is zeroed): -EEXIST with a message if the id
 * is already used or a second root drive is added, -ENOSPC if the table is full. */
int vm_config_add_drive(struct vm_config *cfg, struct drive_config *d, char *err, size_t errlen);
int vm_config_add_net(struct vm_config *cfg, struct net_config *n, char *err, size_t errlen);

/* vm_config_json.c: the VM definition as Firecracker's JSON document (GET /vm/config) and
 * its "machine-config" part; NULL on allocation failure. */
json_t *vm_config_to_json(const struct vm_config *c);
json_t *vm_machine_config_to_json(const struct vm_config *c);
/* petrel's options that Firecracker's document has no place for (transports, O_DIRECT, ...),
 * and back: o must describe the devices cfg already has. -EINVAL and why on bad input. */
json_t *vm_config_extensions_to_json(const struct vm_config *c);
int vm_config_extensions_from_json(json_t *o, struct vm_config *c, char *err, size_t errlen);

#endif
