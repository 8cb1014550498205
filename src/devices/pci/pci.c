/* PCI bus 0: host bridge, multi-function slots, configuration mechanism #1, BARs in the
 * windows, INTx. */
#include "devices/pci/pci.h"
#include "devices/dev_state.h"
#include "bus/bus.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define PCI_CONF1_PORT 0xcf8

void pci_device_init(struct pci_device *dev, const char *name, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id,
		     const struct pci_device_ops *ops, void *opaque)
{
	memset(dev, 0, sizeof(*dev));
	snprintf(dev->name, sizeof(dev->name), "%s", name);
	uint8_t *c = dev->st.cfg;
	pci_put(c, PCI_VENDOR_ID, vendor, 2);
	pci_put(c, PCI_DEVICE_ID, device, 2);
	c[PCI_REVISION_ID] = revision;
	pci_put(c, PCI_CLASS_PROG, class_code, 3);
	c[PCI_HEADER_TYPE] = 0;
	pci_put(c, PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor, 2);
	pci_put(c, PCI_SUBSYSTEM_ID, subsys_id, 2);
	pci_put(dev->wmask, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
		PCI_COMMAND_INTX_DISABLE, 2);
	dev->wmask[PCI_INTERRUPT_LINE] = 0xff;
	dev->ops = ops;
	dev->opaque = opaque;
	dev->next_cap = 0x40;
}

void pci_device_set_bar(struct pci_device *dev, int bar, uint32_t size)
{
	dev->bar_size[bar] = size;
	pci_put(dev->wmask, PCI_BAR0 + 4 * (unsigned)bar, ~(size - 1), 4);
}

void pci_device_set_io_bar(struct pci_device *dev, int bar, uint32_t size)
{
	dev->bar_size[bar] = size;
	dev->bar_io[bar] = true;
	dev->st.cfg[PCI_BAR0 + 4 * (unsigned)bar] = 1;   /* bit 0: I/O space */
	pci_put(dev->wmask, PCI_BAR0 + 4 * (unsigned)bar, ~(size - 1) & 0xfffcu, 4);
}

uint8_t pci_add_capability(struct pci_device *dev, uint8_t id, uint8_t len)
{
	unsigned off = (dev->next_cap + 3u) & ~3u;
	if (off + len > PCI_CFG_SIZE)
		return 0;
	dev->st.cfg[off] = id;
	dev->st.cfg[off + 1] = 0;
	if (dev->last_cap)
		dev->st.cfg[dev->last_cap + 1] = (uint8_t)off;
	else
		dev->st.cfg[PCI_CAPABILITY_LIST] = (uint8_t)off;
	dev->st.cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	dev->last_cap = (uint8_t)off;
	dev->next_cap = (uint8_t)(off + len);
	return (uint8_t)off;
}

uint32_t pci_intx_gsi(unsigned slot)
{
	return PCI_INTX_GSI_BASE + (slot % 4); /* INTA of slot s (pin 0): swizzle (s + 0) % 4 */
}

void pci_irq_init(struct pci_irq *irq, struct pci_bus *bus, uint32_t gsi)
{
	irq->bus = bus;
	irq->gsi = gsi;
	irq->asserted = false;
}

void pci_irq_set(struct pci_irq *irq, bool level)
{
	struct pci_bus *bus = irq->bus;
	if (!bus || irq->gsi >= 24)
		return;
	pthread_mutex_lock(&bus->irq_lock);
	if (level != irq->asserted) {
		irq->asserted = level;
		unsigned before = bus->irq_count[irq->gsi];
		bus->irq_count[irq->gsi] = level ? before + 1 : before - 1;
		if ((before == 0) != (bus->irq_count[irq->gsi] == 0) && bus->kvm)
			kvm_irq_line(bus->kvm, irq->gsi, level);
	}
	pthread_mutex_unlock(&bus->irq_lock);
}

/* ---- BAR decoding ---- */

static uint64_t bar_address(const struct pci_device *dev, int bar)
{
	return pci_get(dev->st.cfg, PCI_BAR0 + 4 * (unsigned)bar, 4) & (dev->bar_io[bar] ? ~0x3u : ~0xfu);
}

/* Recompute where each BAR decodes after a command or BAR write. bus->lock held exclusively. */
static void update_mappings(struct pci_device *dev)
{
	struct pci_bus *bus = dev->bus;
	uint32_t cmd = pci_get(dev->st.cfg, PCI_COMMAND, 2);
	bool mem = cmd & PCI_COMMAND_MEMORY, io = cmd & PCI_COMMAND_IO;
	for (int b = 0; b < PCI_NUM_BARS; b++) {
		if (!dev->bar_size[b])
			continue;
		uint64_t a = bar_address(dev, b), want = 0;
		/* Only addresses inside the windows reach us; anything else does not decode. */
		if (dev->bar_io[b]) {
			if (io && bus && a >= bus->io_base && a + dev->bar_size[b] <= bus->io_base + bus->io_size)
				want = a;
		} else if (mem && a && bus && a >= bus->mmio_base &&
			   a + dev->bar_size[b] <= bus->mmio_base + bus->mmio_size) {
			want = a;
		}
		if (want == dev->bar_mapped[b])
			continue;
		uint64_t old = dev->bar_mapped[b];
		dev->bar_mapped[b] = want;
		if (dev->ops && dev->ops->bar_moved)
			dev->ops->bar_moved(dev, b, old, want);
	}
}

int pci_device_check(const struct pci_device *dev, const struct pci_config_state *st, char *err, size_t errlen)
{
	for (unsigned i = 0; i < PCI_CFG_SIZE; i++) {
		/* read-only bytes are the device's: a saved status without the capability list
		 * hid every capability (MSI-X, virtio's) from the guest. The interrupt status bit
		 * is the one that may differ (a device sets it as it runs). */
		uint8_t ro = (uint8_t)~dev->wmask[i];
		if (i == PCI_STATUS)
			ro &= (uint8_t)~PCI_STATUS_INTERRUPT;
		if ((st->cfg[i] & ro) != (dev->st.cfg[i] & ro))
			return error_set(err, errlen, -EINVAL, "%s: saved PCI configuration byte %#x is %#x, this device has %#x",
				 dev->name, i, st->cfg[i], dev->st.cfg[i]);
	}
	return 0;
}

int pci_device_restore(struct pci_device *dev, const struct pci_config_state *st, char *err, size_t errlen)
{
	int e = pci_device_check(dev, st, err, errlen);
	if (e < 0)
		return e;
	if (dev->bus)
		pthread_rwlock_wrlock(&dev->bus->lock);
	dev->st = *st;
	update_mappings(dev);
	if (dev->bus)
		pthread_rwlock_unlock(&dev->bus->lock);
	return 0;
}

void pci_device_locked(struct pci_device *dev, void (*fn)(struct pci_device *dev, void *arg), void *arg)
{
	if (dev->bus)
		pthread_rwlock_wrlock(&dev->bus->lock);
	fn(dev, arg);
	if (dev->bus)
		pthread_rwlock_unlock(&dev->bus->lock);
}

void pci_device_save_cfg(struct pci_device *dev, struct enc *e)
{
	struct pci_config_state st;
	if (dev->bus)
		pthread_rwlock_rdlock(&dev->bus->lock);
	st = dev->st;
	if (dev->bus)
		pthread_rwlock_unlock(&dev->bus->lock);
	put_bytes(e, st.cfg, sizeof(st.cfg));
}

void pci_bus_reset(struct pci_bus *bus)
{
	pthread_rwlock_wrlock(&bus->lock);
	bus->cfg_addr = 0;
	for (unsigned s = 0; s < PCI_SLOTS; s++) {
		for (unsigned f = 0; f < PCI_FUNCS; f++) {
			struct pci_device *dev = bus->fns[s][f];
			if (!dev)
				continue;
			dev->st = dev->created;
			update_mappings(dev);
		}
	}
	pthread_rwlock_unlock(&bus->lock);
}

uint32_t pci_bus_cfg_addr(struct pci_bus *bus)
{
	pthread_rwlock_rdlock(&bus->lock);
	uint32_t v = bus->cfg_addr;
	pthread_rwlock_unlock(&bus->lock);
	return v;
}

void pci_bus_set_cfg_addr(struct pci_bus *bus, uint32_t v)
{
	pthread_rwlock_wrlock(&bus->lock);
	bus->cfg_addr = v;
	pthread_rwlock_unlock(&bus->lock);
}

static struct pci_device *lookup(struct pci_bus *bus, unsigned slot, unsigned fn)
{
	if (slot >= PCI_SLOTS || fn >= PCI_FUNCS)
		return NULL;
	return bus->fns[slot][fn];
}

void pci_config_read(struct pci_bus *bus, unsigned slot, unsigned fn, uint32_t off, uint8_t *data, uint32_t len)
{
	struct pci_device *dev = lookup(bus, slot, fn);
	if (!dev || off >= PCI_CFG_SIZE || len > PCI_CFG_SIZE - off) {
		memset(data, 0xff, len);
		return;
	}
	memcpy(data, dev->st.cfg + off, len);
	if (dev->ops && dev->ops->cfg_read)
		dev->ops->cfg_read(dev, off, data, len);
}

void pci_config_write(struct pci_bus *bus, unsigned slot, unsigned fn, uint32_t off, const uint8_t *data, uint32_t len)
{
	struct pci_device *dev = lookup(bus, slot, fn);
	if (!dev || off >= PCI_CFG_SIZE || len > PCI_CFG_SIZE - off)
		return;
	bool touches_decode = false;
	for (uint32_t i = 0; i < len; i++) {
		uint32_t o = off + i;
		uint8_t m = dev->wmask[o];
		dev->st.cfg[o] = (uint8_t)((dev->st.cfg[o] & ~m) | (data[i] & m));
		if ((o >= PCI_BAR0 && o < PCI_BAR0 + 4 * PCI_NUM_BARS) || o == PCI_COMMAND)
			touches_decode = true;
	}
	if (touches_decode)
		update_mappings(dev);
	if (dev->ops && dev->ops->cfg_write)
		dev->ops->cfg_write(dev, off, data, len);
}

/* ---- configuration mechanism #1 ---- */

static void conf1_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct pci_bus *bus = opaque;
	memset(data, 0xff, len);
	if (off == 1 && len == 1 && bus->cf9_read) {
		bus->cf9_read(bus->cf9_opaque, data);
		return;
	}
	if (off < 4) {
		/* Only a dword access at 0xCF8 is the address register (a byte at 0xCFB is the
		 * legacy mechanism #2 probe, which is absent). */
		if (off == 0 && len == 4) {
			pthread_rwlock_rdlock(&bus->lock);
			pci_put(data, 0, bus->cfg_addr, 4);
			pthread_rwlock_unlock(&bus->lock);
		}
		return;
	}
	pthread_rwlock_rdlock(&bus->lock);
	uint32_t a = bus->cfg_addr;
	if ((a & 0x80000000u) && ((a >> 16) & 0xff) == 0 && (off - 4) + len <= 4) {
		uint32_t reg = (a & 0xfc) + (uint32_t)(off - 4);
		pci_config_read(bus, (a >> 11) & 0x1f, (a >> 8) & 7, reg, data, len);
	}
	pthread_rwlock_unlock(&bus->lock);
}

static void conf1_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct pci_bus *bus = opaque;
	if (off == 1 && len == 1 && bus->cf9_write) {
		bus->cf9_write(bus->cf9_opaque, data[0]);
		return;
	}
	if (off < 4) {
		if (off == 0 && len == 4) {
			pthread_rwlock_wrlock(&bus->lock);
			bus->cfg_addr = pci_get(data, 0, 4) & 0x80fffffcu;
			pthread_rwlock_unlock(&bus->lock);
		}
		return;
	}
	pthread_rwlock_wrlock(&bus->lock);
	uint32_t a = bus->cfg_addr;
	if ((a & 0x80000000u) && ((a >> 16) & 0xff) == 0 && (off - 4) + len <= 4) {
		uint32_t reg = (a & 0xfc) + (uint32_t)(off - 4);
		pci_config_write(bus, (a >> 11) & 0x1f, (a >> 8) & 7, reg, data, len);
	}
	pthread_rwlock_unlock(&bus->lock);
}

/* ---- the MMIO window ---- */

static struct pci_device *find_bar(struct pci_bus *bus, bool io, uint64_t addr, uint32_t len, int *bar, uint64_t *off)
{
	for (unsigned i = 0; i < PCI_SLOTS * PCI_FUNCS; i++) {
		struct pci_device *dev = bus->fns[i / PCI_FUNCS][i % PCI_FUNCS];
		if (!dev)
			continue;
		for (int b = 0; b < PCI_NUM_BARS; b++) {
			uint64_t base = dev->bar_mapped[b];
			if (base && dev->bar_io[b] == io && addr >= base && addr - base < dev->bar_size[b] &&
			    len <= dev->bar_size[b] - (addr - base)) {
				*bar = b;
				*off = addr - base;
				return dev;
			}
		}
	}
	return NULL;
}

/* An access to the BAR (memory or I/O) that decodes at addr, or to nothing (reads all ones). */
static void bar_access(struct pci_bus *bus, bool io, uint64_t addr, uint8_t *data, uint32_t len, bool write)
{
	int bar;
	uint64_t boff;
	pthread_rwlock_rdlock(&bus->lock);
	struct pci_device *dev = find_bar(bus, io, addr, len, &bar, &boff);
	if (write && dev && dev->ops && dev->ops->bar_write)
		dev->ops->bar_write(dev, bar, boff, data, len);
	else if (!write && dev && dev->ops && dev->ops->bar_read)
		dev->ops->bar_read(dev, bar, boff, data, len);
	else if (!write)
		memset(data, 0xff, len);
	pthread_rwlock_unlock(&bus->lock);
}

static void window_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct pci_bus *bus = opaque;
	bar_access(bus, false, bus->mmio_base + off, data, len, false);
}

static void window_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct pci_bus *bus = opaque;
	bar_access(bus, false, bus->mmio_base + off, (uint8_t *)data, len, true);
}

static void io_window_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct pci_bus *bus = opaque;
	bar_access(bus, true, bus->io_base + off, data, len, false);
}

static void io_window_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct pci_bus *bus = opaque;
	bar_access(bus, true, bus->io_base + off, (uint8_t *)data, len, true);
}

int pci_bus_init_windows(struct pci_bus *bus, struct kvm *kvm, struct bus *pio, struct bus *mmio,
			 const struct pci_windows *w)
{
	memset(bus, 0, sizeof(*bus));
	pthread_rwlock_init(&bus->lock, NULL);
	pthread_mutex_init(&bus->irq_lock, NULL);
	bus->kvm = kvm;
	bus->mmio_base = bus->mmio_next = w->mmio_base;
	bus->mmio_size = w->mmio_size;
	bus->io_base = bus->io_next = w->io_base;
	bus->io_size = w->io_size;
	bus->firmware = w->firmware;
	/* 00:00.0: the host bridge Linux's pci_sanity_check looks for (class 06/00). */
	pci_device_init(&bus->host_bridge, "host-bridge", 0x1b36, 0x0008, 0x060000, 0, 0x1af4, 0x1100,
			NULL, NULL);
	bus->host_bridge.bus = bus;
	bus->host_bridge.created = bus->host_bridge.st;
	bus->fns[0][0] = &bus->host_bridge;
	int err = bus_register(pio, PCI_CONF1_PORT, 8, "pci-conf1", conf1_read, conf1_write, bus);
	if (err == 0)
		err = bus_register(pio, w->io_base, w->io_size, "pci-io", io_window_read, io_window_write, bus);
	if (err == 0)
		err = bus_register(mmio, w->mmio_base, w->mmio_size, "pci-mmio", window_read, window_write, bus);
	return err;
}

int pci_bus_init(struct pci_bus *bus, struct kvm *kvm, struct bus *pio, struct bus *mmio,
		 uint64_t mmio_base, uint64_t mmio_size)
{
	struct pci_windows w = { .mmio_base = mmio_base, .mmio_size = mmio_size,
				 .io_base = PCI_IO_BASE, .io_size = PCI_IO_SIZE };
	return pci_bus_init_windows(bus, kvm, pio, mmio, &w);
}

void pci_bus_set_cf9(struct pci_bus *bus, void (*read)(void *, uint8_t *), void (*write)(void *, uint8_t),
		     void *opaque)
{
	bus->cf9_read = read;
	bus->cf9_write = write;
	bus->cf9_opaque = opaque;
}

void pci_bus_destroy(struct pci_bus *bus)
{
	pthread_rwlock_destroy(&bus->lock);
	pthread_mutex_destroy(&bus->irq_lock);
}

/* Direct boot: place the BARs in the windows, as a firmware would. */
static int place_bars(struct pci_bus *bus, struct pci_device *dev)
{
	uint64_t next = bus->mmio_next, io_next = bus->io_next;
	bool has_io = false;
	for (int b = 0; b < PCI_NUM_BARS; b++) {
		uint32_t size = dev->bar_size[b];
		if (!size)
			continue;
		if (dev->bar_io[b]) {
			uint64_t a = (io_next + size - 1) & ~(uint64_t)(size - 1);
			if (a + size > bus->io_base + bus->io_size) {
				log_error("PCI: no room for I/O BAR %d of %s", b, dev->name);
				return -ENOSPC;
			}
			pci_put(dev->st.cfg, PCI_BAR0 + 4 * (unsigned)b, (uint32_t)a | 1, 4);
			io_next = a + size;
			has_io = true;
			continue;
		}
		uint64_t a = (next + size - 1) & ~(uint64_t)(size - 1);
		if (a + size > bus->mmio_base + bus->mmio_size) {
			log_error("PCI: no room for BAR %d of %s in the MMIO window", b, dev->name);
			return -ENOSPC;
		}
		pci_put(dev->st.cfg, PCI_BAR0 + 4 * (unsigned)b, (uint32_t)a, 4);
		next = a + size;
	}
	bus->mmio_next = next;
	bus->io_next = io_next;
	pci_put(dev->st.cfg, PCI_COMMAND, PCI_COMMAND_MEMORY | (has_io ? PCI_COMMAND_IO : 0), 2);
	return 0;
}

/* Link dev in at slot.fn and decode what its configuration space says. */
static void attach(struct pci_bus *bus, struct pci_device *dev, unsigned slot, unsigned fn)
{
	dev->slot = slot;
	dev->fn = fn;
	dev->bus = bus;
	dev->created = dev->st; /* what a machine reset puts back (pci_bus_reset) */
	pthread_rwlock_wrlock(&bus->lock);
	if (fn > 0) {
		bus->fns[slot][0]->st.cfg[PCI_HEADER_TYPE] |= PCI_HEADER_TYPE_MULTI;
		bus->fns[slot][0]->created.cfg[PCI_HEADER_TYPE] |= PCI_HEADER_TYPE_MULTI;
	}
	bus->fns[slot][fn] = dev;
	update_mappings(dev);
	pthread_rwlock_unlock(&bus->lock);
	log_debug("PCI: %s at 00:%02x.%u", dev->name, slot, fn);
}

int pci_bus_add(struct pci_bus *bus, struct pci_device *dev)
{
	unsigned slot;
	for (slot = 1; slot < PCI_SLOTS && bus->fns[slot][0]; slot++)
		;
	if (slot == PCI_SLOTS) {
		log_error("PCI: no free slot for %s", dev->name);
		return -ENOSPC;
	}
	if (!bus->firmware) {
		int err = place_bars(bus, dev);
		if (err < 0)
			return err;
	}
	dev->st.cfg[PCI_INTERRUPT_PIN] = 1; /* INTA */
	dev->st.cfg[PCI_INTERRUPT_LINE] = (uint8_t)pci_intx_gsi(slot);
	attach(bus, dev, slot, 0);
	return 0;
}

int pci_bus_add_at(struct pci_bus *bus, struct pci_device *dev, unsigned slot, unsigned fn)
{
	if (slot >= PCI_SLOTS || fn >= PCI_FUNCS || (fn > 0 && !bus->fns[slot][0]))
		return -EINVAL;
	struct pci_device *old = bus->fns[slot][fn];
	if (old && old != &bus->host_bridge)
		return -EEXIST;
	attach(bus, dev, slot, fn);
	return 0;
}

/* ---- saved state: the 0xCF8 latch (section PCIB) and a function's configuration space ---- */

static void pci_bus_save_state(void *dev, struct enc *e)
{
	put_u32(e, pci_bus_cfg_addr(dev));
}

static int pci_bus_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	uint32_t v = get_u32(d);
	int e = dec_end(d, "PCI configuration address (PCIB)", err, errlen);
	if (e == 0)
		pci_bus_set_cfg_addr(dev, v);
	return e;
}

const struct dev_state_ops pci_bus_state_ops = {
	.id = STATE_ID('P', 'C', 'I', 'B'), .version = 1,
	.save = pci_bus_save_state, .load = pci_bus_load_state,
};
