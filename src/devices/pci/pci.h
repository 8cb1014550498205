/* A PCI bus 0 with a host bridge at 00:00.0, configuration mechanism #1 (ports 0xCF8/0xCFC),
 * 32-bit memory BARs in the MMIO window below 4 GiB, I/O BARs in the I/O window, shared INTx
 * lines. Slots have up to 8 functions (function 0's header type bit 7 says there are more).
 *
 * Two ways to build it: direct boot (pci_bus_init) places every device's BARs itself and
 * enables decoding, as a firmware would; firmware mode (pci_bus_init_windows with .firmware)
 * leaves BARs at 0 and decoding off for the firmware to program, and the caller puts a
 * chipset's functions at fixed places (pci_bus_add_at: the i440FX replaces the bus's own
 * host bridge at 00:00.0).
 *
 * Devices put their guest-visible configuration space in a pci_config_state; the bus handles
 * the standard header (IDs are read-only, BAR sizing and relocation, the command register's
 * memory-decode bit) and forwards accesses to a device's BARs. The whole MMIO window is one
 * range on the VM's MMIO bus; the PCI bus looks up the BAR under its own lock, so the guest
 * may move BARs at any time.
 *
 * Lock order: bus->lock (rwlock), then a device's own lock. A device's callbacks are called
 * with bus->lock held (shared for BAR accesses, exclusive for configuration writes).
 */
#ifndef PETREL_DEVICES_PCI_PCI_H
#define PETREL_DEVICES_PCI_PCI_H

#include "devices/irq.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bus;

#define PCI_SLOTS 32
#define PCI_FUNCS 8
#define PCI_NUM_BARS 6
#define PCI_CFG_SIZE 256

/* Standard header offsets */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_CLASS_DEVICE 0x0a
#define PCI_HEADER_TYPE 0x0e
#define PCI_HEADER_TYPE_MULTI 0x80
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d

#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_STATUS_INTERRUPT 0x08

#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11

/* The guest-visible state of one function: its 256-byte configuration space. */
struct pci_config_state {
	uint8_t cfg[PCI_CFG_SIZE];
};

struct pci_device;

struct pci_device_ops {
	/* An access to BAR `bar` at `off` (the bus checked it lies inside the BAR). */
	void (*bar_read)(struct pci_device *dev, int bar, uint64_t off, uint8_t *data, uint32_t len);
	void (*bar_write)(struct pci_device *dev, int bar, uint64_t off, const uint8_t *data, uint32_t len);
	/* The BAR now decodes at new_addr (0: not decoding); old_addr is where it did. Optional:
	 * for ioeventfds, which KVM matches by guest physical address. */
	void (*bar_moved)(struct pci_device *dev, int bar, uint64_t old_addr, uint64_t new_addr);
	/* Configuration space hooks for capabilities (MSI-X control, virtio's PCI cfg window).
	 * cfg_read may overwrite data after the generic read; cfg_write runs after the generic
	 * write stored the writable bits. Optional. */
	void (*cfg_read)(struct pci_device *dev, uint32_t off, uint8_t *data, uint32_t len);
	void (*cfg_write)(struct pci_device *dev, uint32_t off, const uint8_t *data, uint32_t len);
};

struct pci_device {
	struct pci_config_state st;
	struct pci_config_state created;  /* st as the bus placed it: what a machine reset restores */
	uint8_t wmask[PCI_CFG_SIZE];      /* writable bits of cfg */
	uint32_t bar_size[PCI_NUM_BARS];  /* 0: BAR not implemented */
	bool bar_io[PCI_NUM_BARS];        /* an I/O-port BAR (in the bus's port window), else memory */
	uint64_t bar_mapped[PCI_NUM_BARS]; /* where the BAR decodes now, 0 if not */
	const struct pci_device_ops *ops;
	void *opaque;
	char name[32];
	unsigned slot, fn;
	uint8_t next_cap;                 /* where pci_add_capability puts the next one */
	uint8_t last_cap;
	struct pci_bus *bus;
};

/* INTx lines shared by several devices: the KVM line is asserted while any source asserts. */
struct pci_irq {
	struct pci_bus *bus;
	uint32_t gsi;
	bool asserted;
};

#define PCI_IO_BASE 0xc000          /* direct boot: I/O BARs are placed in ports [PCI_IO_BASE, +PCI_IO_SIZE) */
#define PCI_IO_SIZE 0x1000
#define PCI_INTX_GSI_BASE 16   /* INTA..INTD of slot s go to GSI 16 + (s + pin) % 4 */

/* Where the bus decodes BARs: memory [mmio_base, +mmio_size), ports [io_base, +io_size). */
struct pci_windows {
	uint64_t mmio_base, mmio_size;
	uint32_t io_base, io_size;
	bool firmware;                    /* BARs left unassigned and undecoded for the firmware */
};

struct pci_bus {
	pthread_rwlock_t lock;
	uint32_t cfg_addr;                /* 0xCF8 latch */
	struct pci_device *fns[PCI_SLOTS][PCI_FUNCS]; /* written under lock (exclusive) */
	struct pci_device host_bridge;    /* 00:00.0 unless a chipset's replaces it */
	uint64_t mmio_base, mmio_size, mmio_next;
	uint64_t io_base, io_size;
	uint64_t io_next;                 /* next free port of the I/O window */
	bool firmware;
	struct kvm *kvm;
	pthread_mutex_t irq_lock;
	unsigned irq_count[24];
	/* a byte access at 0xCF9, inside conf1's ports: the chipset's reset control register
	 * (PIIX3's RCR) when set (pci_bus_set_cf9), else nothing */
	void (*cf9_read)(void *opaque, uint8_t *v);
	void (*cf9_write)(void *opaque, uint8_t v);
	void *cf9_opaque;
};

/* Create the bus and its host bridge (1b36:0008); claims ports 0xCF8-0xCFF and the I/O window
 * on pio and the memory window on mmio. pci_bus_init is direct boot's: I/O window
 * [PCI_IO_BASE, +PCI_IO_SIZE), BARs placed by pci_bus_add. */
int pci_bus_init_windows(struct pci_bus *bus, struct kvm *kvm, struct bus *pio, struct bus *mmio,
			 const struct pci_windows *w);
int pci_bus_init(struct pci_bus *bus, struct kvm *kvm, struct bus *pio, struct bus *mmio,
		 uint64_t mmio_base, uint64_t mmio_size);
void pci_bus_destroy(struct pci_bus *bus);
/* Hand byte accesses at port 0xCF9 to the chipset's reset control register (set before the
 * vCPUs run; the hooks are called with no lock of the bus held). */
void pci_bus_set_cf9(struct pci_bus *bus, void (*read)(void *, uint8_t *), void (*write)(void *, uint8_t),
		     void *opaque);

/* Prepare a type-0 function: IDs, class (24 bits: class << 16 | subclass << 8 | prog-if). */
void pci_device_init(struct pci_device *dev, const char *name, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id,
		     const struct pci_device_ops *ops, void *opaque);
/* Declare a 32-bit memory BAR of `size` bytes (a power of two, >= 4 KiB). */
void pci_device_set_bar(struct pci_device *dev, int bar, uint32_t size);
/* Declare an I/O-port BAR of `size` ports (a power of two, 4 to 256); decoded with the command
 * register's I/O bit. */
void pci_device_set_io_bar(struct pci_device *dev, int bar, uint32_t size);
/* Append a capability of `len` bytes with id; returns its offset (its bytes after the two
 * header bytes are zero and read-only until the caller sets wmask). 0 if no room. */
uint8_t pci_add_capability(struct pci_device *dev, uint8_t id, uint8_t len);
/* Put the device at function 0 of the next free slot; on a direct-boot bus, allocate its BARs
 * in the windows and enable decoding (as firmware would); on a firmware bus leave them to the
 * firmware. Sets INTA and the interrupt line to the slot's GSI. Fills dev->slot, dev->fn. */
int pci_bus_add(struct pci_bus *bus, struct pci_device *dev);
/* Put the device at slot.fn as it is (no BAR placement, decoding as the device set it, its own
 * interrupt pin and line). Function 0 must be there before another function of the slot, whose
 * arrival sets function 0's multi-function bit. 00:00.0 may be taken from the bus's own host
 * bridge (a chipset's replaces it). -EINVAL for a place out of range or a function without its
 * function 0, -EEXIST for a taken one. */
int pci_bus_add_at(struct pci_bus *bus, struct pci_device *dev, unsigned slot, unsigned fn);
/* Load a saved configuration space into a function created the same way: every bit the guest
 * cannot write must match (else -EINVAL and a reason: another device, another build), and
 * the BARs decode where the saved space says. */
int pci_device_restore(struct pci_device *dev, const struct pci_config_state *st, char *err, size_t errlen);
/* pci_device_restore's check alone: 0, or -EINVAL and which byte differs. */
int pci_device_check(const struct pci_device *dev, const struct pci_config_state *st, char *err, size_t errlen);
/* A function's configuration space in a saved state: its 256 bytes, read under the bus's lock. */
struct enc;
void pci_device_save_cfg(struct pci_device *dev, struct enc *e);
/* Run fn on the function with the bus's lock held exclusively, as a configuration write is (a
 * chipset's reset of its registers). */
void pci_device_locked(struct pci_device *dev, void (*fn)(struct pci_device *dev, void *arg), void *arg);
/* The machine's reset: the 0xCF8 latch cleared and every function's configuration space as
 * the bus placed it (BARs, command register: the decoding follows). A function's other state
 * (MSI-X, its registers) is its own to reset. */
void pci_bus_reset(struct pci_bus *bus);
/* The 0xCF8 address latch, for the bus's own state. */
uint32_t pci_bus_cfg_addr(struct pci_bus *bus);
void pci_bus_set_cfg_addr(struct pci_bus *bus, uint32_t v);
/* The GSI the device's INTA is routed to (the DSDT's _PRT says the same). */
uint32_t pci_intx_gsi(unsigned slot);
void pci_irq_init(struct pci_irq *irq, struct pci_bus *bus, uint32_t gsi);
void pci_irq_set(struct pci_irq *irq, bool level);

/* Little-endian helpers over configuration space (and any byte array). */
static inline void pci_put(uint8_t *p, unsigned off, uint32_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[off + i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t pci_get(const uint8_t *p, unsigned off, unsigned bytes)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < bytes; i++)
		v |= (uint32_t)p[off + i] << (8 * i);
	return v;
}

/* The configuration space accessors the 0xCF8/0xCFC handlers use (exported for tests). */
void pci_config_read(struct pci_bus *bus, unsigned slot, unsigned fn, uint32_t off, uint8_t *data, uint32_t len);
void pci_config_write(struct pci_bus *bus, unsigned slot, unsigned fn, uint32_t off, const uint8_t *data, uint32_t len);

/* Its saved state (section PCIB, on the struct pci_bus: the 0xCF8 latch): devices/dev_state.h, docs/snapshots.md. */
struct dev_state_ops;
extern const struct dev_state_ops pci_bus_state_ops;

#endif
