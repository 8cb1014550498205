/* The sections of a VM state file (format.h): their ids, and the encoding of the sections the
 * snapshot code itself owns (VM, MEM). Every payload is written field by field (util/codec.h;
 * docs/snapshots.md lists each); devices write their own sections through their state verbs
 * (devices/dev_state.h), walked in vm/vm_state.c. Shared by save.c, load.c and the tools. */
#ifndef PETREL_SNAPSHOT_SECTIONS_H
#define PETREL_SNAPSHOT_SECTIONS_H

#include "memory/guest_mem.h"
#include "snapshot/format.h"
#include "util/codec.h"

/* The snapshot's own sections. */
#define SEC_VM SNAP_ID('V', 'M', ' ', ' ')     /* struct snap_vm (snap_vm_put) */
#define SEC_CONF SNAP_ID('C', 'O', 'N', 'F')   /* Firecracker JSON of the VM definition */
#define SEC_EXTN SNAP_ID('E', 'X', 'T', 'N')   /* petrel's extensions to it (JSON) */
#define SEC_MEM SNAP_ID('M', 'E', 'M', ' ')    /* struct snap_mem (snap_mem_put) */
#define SEC_KVM SNAP_ID('K', 'V', 'M', ' ')    /* PIC, IOAPIC, PIT, kvmclock (arch/x86/cpu_state_codec.h) */
#define SEC_CPU SNAP_ID('C', 'P', 'U', ' ')    /* a vCPU (cpu_state_codec.h), instance = vCPU */
#define SEC_CPUHP SNAP_ID('C', 'P', 'U', 'H')  /* vCPU hot-plug (absent: no vCPU hot-plug) */
#define SEC_MEMF SNAP_ID('M', 'E', 'M', 'F')   /* text: where this snapshot's memory file was written */
#define SEC_PRNT SNAP_ID('P', 'R', 'N', 'T')   /* a Diff's parent: its 16-byte id, then its state file's path */
#define SEC_PGMP SNAP_ID('P', 'G', 'M', 'P')   /* a Diff: le64 words, bit i = file page i is in its memory file */
#define SEC_CNSY SNAP_ID('C', 'N', 'S', 'Y')   /* JSON: consistency, frozen_ms (consistency.c; absent: not asked) */
/* Devices' sections (UART, I804, RTC, ACPI, PCIB, GED, VGID, PVM, VIRT, BLK, NET, VSCK, BALN,
 * PMEM, VMEM): their ids and versions are in their dev_state_ops (vm/vm_state.c lists them). */

#define SNAP_MAX_CHAIN 64      /* Diff snapshots on one full one */

#define SEC_VERSION 1          /* the version of the snapshot's own sections */
#define SNAP_XATTR "user.petrel.snapshot" /* on the memory file: the state file's snapshot id */

/* Decoded VM section. */
struct snap_vm {
	uint8_t id[16];          /* random: pairs a state file with its memory file */
	uint32_t nvcpus, nvirtio;
	bool pvm;
};

/* Decoded MEM section. */
struct snap_mem {
	uint32_t nregions;
	uint64_t total;
	struct {
		uint64_t gpa, size, file_off;
	} r[GUEST_MEM_MAX_REGIONS];
};

#define SNAP_PARENT_ID_LEN 16  /* PRNT: the parent's id, then its path (not NUL-terminated) */

/* An encoder's bytes as section (id, instance, version); its failure becomes the writer's. */
void snap_section_enc(struct snap_writer *w, uint32_t id, uint32_t instance, uint32_t version,
		      const struct enc *e);
/* Section (id, instance) for decoding into d: 0; -ENOENT if absent; -EINVAL if its version is
 * not in [min_version, version] (each with a message naming the section). *found: its version. */
int snap_section_dec(const struct snap_reader *r, uint32_t id, uint32_t instance, uint32_t min_version,
		     uint32_t version, uint32_t *found, struct dec *d, char *err, size_t errlen);

void snap_vm_put(struct snap_writer *w, const struct snap_vm *sv);
int snap_vm_read(const struct snap_reader *r, struct snap_vm *sv, char *err, size_t errlen);
void snap_mem_put(struct snap_writer *w, const struct snap_mem *sm);
int snap_mem_read(const struct snap_reader *r, struct snap_mem *sm, char *err, size_t errlen);

#endif
