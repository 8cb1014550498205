/* The VM generation ID (Microsoft's "Virtual Machine Generation ID", ACPI device VMGENCTR,
 * Linux drivers/virt/vmgenid.c): 16 random bytes in guest memory the OS does not otherwise use
 * (an E820-reserved page of petrel's, LAYOUT_VMGENID), whose address the DSDT's ADDR method
 * gives. A new ID and a Notify (through the GED, ged.h) tell the guest it runs as a new copy
 * of a saved VM, and Linux reseeds its RNG from it (add_vmfork_randomness). petrel makes a new
 * ID at every snapshot load; migration and replication keep it (the same VM goes on). */
#ifndef PETREL_DEVICES_LEGACY_VMGENID_H
#define PETREL_DEVICES_LEGACY_VMGENID_H

#include "devices/legacy/ged.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMGENID_SIZE 16

struct vmgenid_state {
	uint64_t gpa;               /* guest-physical address of the ID (what ADDR returns) */
	uint8_t id[VMGENID_SIZE];   /* the current ID, as in guest memory at gpa */
	uint8_t notify;             /* 1: a new ID awaits its notification (at the next resume) */
	uint8_t pad[7];
};

struct guest_mem;

struct vmgenid {
	struct vmgenid_state st;
	pthread_mutex_t lock;
	bool present;               /* false: restored from a snapshot whose guest has none */
	struct guest_mem *mem;
	struct ged *ged;
};

/* The device at gpa (nothing written yet: vmgenid_new_id does). */
void vmgenid_init(struct vmgenid *v, struct guest_mem *mem, struct ged *ged, uint64_t gpa);
/* A new random ID (getrandom) into the state and guest memory (noted as written for Diff
 * snapshots); with notify, the guest is told at the next vmgenid_resumed. 0 or -errno. */
int vmgenid_new_id(struct vmgenid *v, bool notify);
/* The VM runs (again): send the pending notification, if any (GED event, edge on its GSI). */
/* The machine's reset: the same VM, the same ID (written to guest memory again, for the next
 * boot to read), no notification pending. 0, or -EFAULT when its address is not RAM. */
int vmgenid_reset(struct vmgenid *v);
void vmgenid_resumed(struct vmgenid *v);
void vmgenid_save(struct vmgenid *v, struct vmgenid_state *out);
/* Checks the address (in guest RAM; where vmgenid_init placed it, or 8-byte aligned in petrel's
 * reserved low memory) and the
 * flags; -EINVAL and why. Guest memory is not touched (it carries the ID already). */
int vmgenid_restore(struct vmgenid *v, const struct vmgenid_state *st, char *err, size_t errlen);
/* Where an ID may live: petrel's E820-reserved areas below 1 MiB. */
bool vmgenid_gpa_ok(uint64_t gpa);

/* Its saved state (section VGID; absent: no VM generation ID): devices/dev_state.h, docs/snapshots.md. */
struct dev_state_ops;
extern const struct dev_state_ops vmgenid_state_ops;

#endif
