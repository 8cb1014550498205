/* How a device saves and restores its guest-visible state: one verb pair, owned by the device.
 *
 * Every device with state a guest can observe gives a const struct dev_state_ops: a section id,
 * the version its save writes, and save/load. Snapshots, live migration and replication carry
 * exactly what save writes, in one section per device instance (snapshot/format.h); the
 * orchestrators (snapshot/save.c, load.c) only walk the VM's list of states (vm/vm_state.c)
 * and never look inside a section, take a device's lock or know a device's type.
 *
 * To add a device's state (an emulated NIC, say):
 * (What it counts for the metrics is the other op beside these: devices/dev_stats.h.)
 *
 *   1. Pick a new four-character id (STATE_ID('E','1','K',' ')) and start at version 1.
 *   2. save: take the device's own lock, write every field with put_u8/16/32/64/bool/bytes
 *      (util/codec.h) in a fixed order: fixed widths, little-endian, never a struct as it is
 *      in memory (its padding and layout would become the format).
 *   3. load: read the same fields in the same order into a local copy, call dec_end (the
 *      input must be used exactly), check every value a guest or a file could have forged
 *      (indices against sizes, addresses against guest memory, what must match the device
 *      as it was built), and only then apply it under the lock. On any failure return
 *      -EINVAL with a message saying what and why, and leave the device as it was.
 *   4. Give the ops to the VM's list of devices: a virtio device through its struct
 *      virtio_dev_ops (below), any other through its row in vm/vm_device_kinds.c (.state);
 *      vm_state_units (vm/vm_state.c) walks the list in attach order. Document the section
 *      field by field in docs/snapshots.md, and add it to the fuzz target
 *      tests/fuzz/fuzz_device_state.c.
 *   5. Changing the fields later: bump version; keep min_version where the old layout can
 *      still be read (load gets the version found), or raise it to refuse older ones.
 * A virtio device sets its struct virtio_dev_ops' state to its ops (dev is then its struct
 * virtio_dev); the common virtio state and the transport's go in the transport's section
 * (VIRT) after it, so a device's load runs before the core activates it. */
#ifndef PETREL_DEVICES_DEV_STATE_H
#define PETREL_DEVICES_DEV_STATE_H

#include "util/codec.h"

#include <stddef.h>
#include <stdint.h>

struct dev_state_ops {
	uint32_t id;            /* the section's id: STATE_ID(...) */
	uint32_t version;       /* what save writes */
	uint32_t min_version;   /* the oldest load reads (0: only version) */
	/* Append the state to e (its errors are sticky in e->err). Takes the device's lock. */
	void (*save)(void *dev, struct enc *e);
	/* A saved state of that version (between min_version and version): 0, or -EINVAL and
	 * why, the device unchanged. */
	int (*load)(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen);
	/* The section is absent from the state being loaded: NULL if it must be there, else the
	 * device goes without it (a machine saved without this device). */
	void (*absent)(void *dev);
};

#endif
