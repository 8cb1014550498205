/* The sections of a VM state file (format.h) and their payloads: each component's *_state
 * struct as it is in memory, versioned per section. Shared by save.c and load.c. */
#ifndef PETREL_SNAPSHOT_SECTIONS_H
#define PETREL_SNAPSHOT_SECTIONS_H

#include "devices/pci/msix.h"
#include "devices/pci/pci.h"
#include "devices/virtio/virtio.h"
#include "memory/guest_mem.h"
#include "snapshot/format.h"

#define SEC_VM SNAP_ID('V', 'M', ' ', ' ')     /* struct snap_vm */
#define SEC_CONF SNAP_ID('C', 'O', 'N', 'F')   /* Firecracker JSON of the VM definition */
#define SEC_EXTN SNAP_ID('E', 'X', 'T', 'N')   /* petrel's extensions to it (JSON) */
#define SEC_MEM SNAP_ID('M', 'E', 'M', ' ')    /* struct snap_mem */
#define SEC_KVM SNAP_ID('K', 'V', 'M', ' ')    /* struct vm_kvm_state */
#define SEC_CPU SNAP_ID('C', 'P', 'U', ' ')    /* struct cpu_state, instance = vCPU */
#define SEC_PVM SNAP_ID('P', 'V', 'M', ' ')    /* struct snap_pvm */
#define SEC_SERIAL SNAP_ID('U', 'A', 'R', 'T') /* struct serial_state */
#define SEC_I8042 SNAP_ID('I', '8', '0', '4')  /* struct i8042_state */
#define SEC_RTC SNAP_ID('R', 'T', 'C', ' ')    /* struct rtc_state */
#define SEC_ACPI SNAP_ID('A', 'C', 'P', 'I')   /* struct acpi_pm_state */
#define SEC_PCIBUS SNAP_ID('P', 'C', 'I', 'B') /* uint32_t: the 0xCF8 latch */
#define SEC_GED SNAP_ID('G', 'E', 'D', ' ')    /* struct ged_state (absent: the guest has no GED) */
#define SEC_VMGENID SNAP_ID('V', 'G', 'I', 'D') /* struct vmgenid_state (absent: no VM generation ID) */
#define SEC_CPUHP SNAP_ID('C', 'P', 'U', 'H')  /* struct vcpu_hotplug_state (absent: no vCPU hot-plug) */
#define SEC_VIRTIO SNAP_ID('V', 'I', 'R', 'T') /* struct snap_virtio, instance = device */
#define SEC_VPCI SNAP_ID('V', 'P', 'C', 'I')   /* struct snap_vpci, instance = device */
#define SEC_BLK SNAP_ID('B', 'L', 'K', ' ')    /* struct blk_state */
#define SEC_NET SNAP_ID('N', 'E', 'T', ' ')    /* struct net_state */
#define SEC_VSOCK SNAP_ID('V', 'S', 'C', 'K')  /* struct vsock_state */
#define SEC_BALLOON SNAP_ID('B', 'A', 'L', 'N') /* struct balloon_state (BALLOON_STATE_VERSION) */
#define SEC_PMEM SNAP_ID('P', 'M', 'E', 'M')   /* struct pmem_state (the file's bytes are not saved) */
#define SEC_VMEM SNAP_ID('V', 'M', 'E', 'M')   /* struct virtio_mem_state + plugged-block bitmap */
#define SEC_E1000 SNAP_ID('E', '1', 'K', ' ') /* an E1000: PCI configuration space (256 bytes), then
						 * e1000_save's bytes (version E1000_STATE_VERSION), instance = card */
#define SEC_MEMF SNAP_ID('M', 'E', 'M', 'F')   /* text: where this snapshot's memory file was written */
#define SEC_PRNT SNAP_ID('P', 'R', 'N', 'T')   /* struct snap_parent + its state file's path: a Diff's parent */
#define SEC_PGMP SNAP_ID('P', 'G', 'M', 'P')   /* a Diff: uint64_t words, bit i = file page i is in its memory file */

#define SNAP_MAX_CHAIN 64      /* Diff snapshots on one full one */

#define SEC_VERSION 1
#define SNAP_XATTR "user.petrel.snapshot" /* on the memory file: the state file's snapshot id */

struct snap_vm {
	uint8_t id[16];          /* random: pairs a state file with its memory file */
	uint32_t nvcpus, nvirtio;
	uint8_t pvm, pad[7];
};

struct snap_mem {
	uint32_t nregions, pad;
	uint64_t total;
	struct {
		uint64_t gpa, size, file_off;
	} r[GUEST_MEM_MAX_REGIONS];
};

struct snap_pvm {
	uint64_t lstar, shim, shim_gpa, orig_pf;
	uint8_t installed, pad[7];
};

struct snap_parent {
	uint8_t id[16];          /* the parent's snapshot id */
	/* followed by the parent state file's path (not NUL-terminated) */
};

struct snap_virtio {
	uint32_t device_id;
	uint32_t mmio;           /* transport: 0 PCI, 1 MMIO */
	uint64_t host_features;
	struct virtio_state st;
};

struct snap_vpci {
	struct pci_config_state cfg;
	struct msix_state msix;
};

#endif
