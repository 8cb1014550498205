/* Unit tests for virtio over PCI (src/devices/pci, src/devices/virtio/virtio_pci.c):
 * configuration mechanism #1, BAR sizing and moves, capabilities and the MSI-X table. Guest
 * memory is a heap buffer; no KVM. */
#include "unit.h"
#include "fake_queue.h"
#include "pci_conf.h"

#include "bus/bus.h"
#include "devices/pci/pci.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/virtio.h"
#include "devices/virtio/virtio_pci.h"

#include <errno.h>

/* ---- PCI: configuration mechanism #1, BAR sizing and moves, capabilities, MSI-X table ---- */

TEST(pci_conf1_bars_and_capabilities)
{
	mem_setup();
	static struct bus pio, mmio;
	static struct pci_bus pci;
	static struct virtio_rng r;
	static struct virtio_pci vp;
	PCI_RNG_SETUP(pio, mmio, pci, r, vp);
	CHECK_EQ(vp.pci.slot, 1);

	/* Linux's pci_check_type1: byte write to 0xCFB is ignored, the dword latch reads back */
	pio_out(&pio, 0xcfb, 1, 1);
	pio_out(&pio, 0xcf8, 0x80000000u, 4);
	CHECK_EQ_HEX(pio_in(&pio, 0xcf8, 4), 0x80000000u);
	/* pci_sanity_check: a host bridge at 00:00.0 */
	CHECK_EQ_HEX(cfg_rd(&pio, 0, 0x0a, 2), 0x0600);
	CHECK_EQ_HEX(cfg_rd(&pio, 1, 0, 4), 0x10441af4u);   /* virtio-rng: 0x1040 + 4 */
	CHECK_EQ_HEX(cfg_rd(&pio, 2, 0, 4), 0xffffffffu);   /* empty slot */
	CHECK_EQ_HEX(cfg_rd(&pio, 1, 0x08, 1), 1);          /* revision 1: modern */
	/* IDs are read-only */
	cfg_wr(&pio, 1, 0, 0x12345678, 4);
	CHECK_EQ_HEX(cfg_rd(&pio, 1, 0, 4), 0x10441af4u);

	/* BAR 0: 32 KiB in the window, sizing, a move and back */
	uint32_t bar = cfg_rd(&pio, 1, 0x10, 4);
	CHECK_EQ_HEX(bar, 0xc0000000u);
	cfg_wr(&pio, 1, 0x04, 0, 2);                         /* decoding off */
	CHECK_EQ(vp.pci.bar_mapped[0], 0);
	cfg_wr(&pio, 1, 0x10, 0xffffffffu, 4);
	CHECK_EQ_HEX(cfg_rd(&pio, 1, 0x10, 4), 0xffff8000u);
	cfg_wr(&pio, 1, 0x10, 0xc0100000u, 4);
	cfg_wr(&pio, 1, 0x04, 2, 2);                         /* memory decoding on */
	CHECK_EQ_HEX(vp.pci.bar_mapped[0], 0xc0100000u);
	uint8_t b[4];
	bus_access(&mmio, 0xc0100000u + 0x12, b, 2, false);  /* common cfg: num_queues */
	CHECK_EQ(pci_get(b, 0, 2), 1);
	bus_access(&mmio, 0xc0000000u + 0x12, b, 2, false);  /* old place: nothing */
	CHECK_EQ_HEX(pci_get(b, 0, 2), 0xffff);
	cfg_wr(&pio, 1, 0x10, 0xe0000000u, 4);               /* outside the window: no decode */
	CHECK_EQ(vp.pci.bar_mapped[0], 0);
	cfg_wr(&pio, 1, 0x10, 0xc0000000u, 4);

	/* capability list: MSI-X then the virtio structures */
	unsigned types = 0, cap = cfg_rd(&pio, 1, 0x34, 1), msix = 0;
	CHECK(cfg_rd(&pio, 1, 0x06, 2) & PCI_STATUS_CAP_LIST);
	for (int n = 0; cap && n < 16; n++, cap = cfg_rd(&pio, 1, cap + 1, 1)) {
		if (cfg_rd(&pio, 1, cap, 1) == PCI_CAP_ID_MSIX)
			msix = cap;
		else if (cfg_rd(&pio, 1, cap, 1) == PCI_CAP_ID_VNDR)
			types |= 1u << cfg_rd(&pio, 1, cap + 3, 1);
	}
	CHECK_EQ_HEX(types, 0x3e);                           /* types 1-5 */
	REQUIRE(msix != 0);
	CHECK_EQ(cfg_rd(&pio, 1, msix + 2, 2) & 0x7ff, 1);   /* 2 vectors: queue + config */

	/* MSI-X table through the BAR; a masked vector latches its pending bit */
	uint8_t w[4];
	pci_put(w, 0, 0xfee00000u, 4);
	bus_access(&mmio, 0xc0000000u + VIRTIO_PCI_MSIX_TABLE_OFF, w, 4, true);
	bus_access(&mmio, 0xc0000000u + VIRTIO_PCI_MSIX_TABLE_OFF, b, 4, false);
	CHECK_EQ_HEX(pci_get(b, 0, 4), 0xfee00000u);
	bus_access(&mmio, 0xc0000000u + VIRTIO_PCI_MSIX_TABLE_OFF + 12, b, 4, false);
	CHECK_EQ(pci_get(b, 0, 4), 1);                       /* masked at reset */
	msix_notify(&vp.msix, 0);
	bus_access(&mmio, 0xc0000000u + VIRTIO_PCI_MSIX_PBA_OFF, b, 1, false);
	CHECK_EQ(b[0] & 1, 1);
	cfg_wr(&pio, 1, msix + 2, 0x8000, 2);                /* enable */
	pci_put(w, 0, 0, 4);
	bus_access(&mmio, 0xc0000000u + VIRTIO_PCI_MSIX_TABLE_OFF + 12, w, 4, true); /* unmask: fires */
	bus_access(&mmio, 0xc0000000u + VIRTIO_PCI_MSIX_PBA_OFF, b, 1, false);
	CHECK_EQ(b[0] & 1, 0);
	CHECK_EQ(vp.msix.fired, 1);

	/* queue_msix_vector past the table reads back NO_VECTOR */
	pci_put(w, 0, 7, 2);
	bus_access(&mmio, 0xc0000000u + 0x1a, w, 2, true);
	bus_access(&mmio, 0xc0000000u + 0x1a, b, 2, false);
	CHECK_EQ_HEX(pci_get(b, 0, 2), 0xffff);

	virtio_pci_destroy(&vp);
	virtio_dev_destroy(&r.vdev);
	pci_bus_destroy(&pci);
}

int main(int argc, char **argv)
{
	int r = unit_main(argc, argv);
	free(ram);
	return r;
}
