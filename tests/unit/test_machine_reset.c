/* Unit tests for the machine reset's device parts (src/vm/vm_reset.c calls them through
 * vm_devices_reset): a virtio-pci function the guest moved and set up goes back to its
 * creation state (BAR, decoding, MSI-X, the driver's status), the 0xCF8 latch clears; the UART,
 * the i8042 and the ACPI PM block go back to power-on; the RTC keeps its CMOS memory; the GED
 * drops its pending events. No KVM. */
#include "unit.h"
#include "fake_queue.h"
#include "legacy_dev.h"
#include "pci_conf.h"
#include "rtc_io.h"

#include "bus/bus.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/ged.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/rtc.h"
#include "devices/legacy/serial.h"
#include "devices/pci/pci.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/virtio.h"
#include "devices/virtio/virtio_pci.h"
#include "util/log.h"

TEST(virtio_pci_function_back_to_creation)
{
	mem_setup();
	static struct bus pio, mmio;
	static struct pci_bus pci;
	static struct virtio_rng r;
	static struct virtio_pci vp;
	PCI_RNG_SETUP(pio, mmio, pci, r, vp);
	struct pci_config_state created = vp.pci.st;
	CHECK_EQ_HEX(vp.pci.bar_mapped[0], 0xc0000000u);

	/* the guest moves BAR 0, turns on bus mastering and MSI-X, unmasks a vector, drives the device */
	cfg_wr(&pio, 1, 0x04, 0, 2);
	cfg_wr(&pio, 1, 0x10, 0xc0100000u, 4);
	cfg_wr(&pio, 1, 0x04, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	CHECK_EQ_HEX(vp.pci.bar_mapped[0], 0xc0100000u);
	cfg_wr(&pio, 1, vp.msix.cap + 2u, MSIX_CTRL_ENABLE, 2);
	CHECK(msix_enabled(&vp.msix));
	uint8_t w[4] = { 0 };
	bus_access(&mmio, 0xc0100000u + VIRTIO_PCI_MSIX_TABLE_OFF + 12, w, 4, true);
	CHECK_EQ(vp.msix.st.table[0].ctrl, 0);
	pthread_mutex_lock(&r.vdev.lock);
	virtio_set_status(&r.vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	pthread_mutex_unlock(&r.vdev.lock);
	pio_out(&pio, 0xcf8, 0x80000808u, 4);

	virtio_pci_reset(&vp);
	pci_bus_reset(&pci);
	CHECK(!memcmp(vp.pci.st.cfg, created.cfg, sizeof(created.cfg)));
	CHECK_EQ_HEX(vp.pci.bar_mapped[0], 0xc0000000u);   /* decodes where it was created again */
	CHECK(!msix_enabled(&vp.msix));
	CHECK_EQ(vp.msix.st.table[0].ctrl, MSIX_VECTOR_MASKED);
	CHECK_EQ(vp.msix.st.pba, 0);
	CHECK_EQ(r.vdev.st.status, 0);
	CHECK_EQ_HEX(pci_bus_cfg_addr(&pci), 0);
	uint8_t b[4];
	bus_access(&mmio, 0xc0000000u + 0x12, b, 2, false);  /* common cfg: num_queues, at the old place */
	CHECK_EQ(pci_get(b, 0, 2), 1);
	virtio_pci_destroy(&vp);
	virtio_dev_destroy(&r.vdev);
}

TEST(legacy_devices_back_to_power_on)
{
	struct power_rec rec;
	static struct serial s;
	serial_init(&s, -1, NO_IRQ);
	struct serial_state s0 = s.st;
	uint8_t v = 0x83;
	serial_io_write(&s, 3, &v, 1);   /* LCR with DLAB */
	v = 0x01;
	serial_io_write(&s, 0, &v, 1);   /* divisor 1 */
	v = 0x03;
	serial_io_write(&s, 3, &v, 1);
	serial_io_write(&s, 1, &v, 1);   /* IER */
	CHECK(memcmp(&s.st, &s0, sizeof(s0)) != 0);
	serial_reset(&s);
	CHECK(!memcmp(&s.st, &s0, sizeof(s0)));

	static struct i8042 k;
	i8042_init(&k, NO_IRQ, recorder(&rec));
	struct i8042_state k0 = k.st;
	v = 0x60;                        /* write the command byte ... */
	i8042_cmd_write(&k, 0, &v, 1);
	v = 0x00;                        /* ... as 0 */
	i8042_data_write(&k, 0, &v, 1);
	CHECK(k.st.ctr != k0.ctr);
	i8042_reset(&k);
	CHECK(!memcmp(&k.st, &k0, sizeof(k0)));

	static struct acpi_pm pm;
	acpi_pm_init(&pm, recorder(&rec));
	struct acpi_pm_state p0 = pm.st;
	uint8_t en[2] = { 0x20, 0x01 };  /* PM1 enable */
	acpi_pm_write(&pm, 2, en, 2);
	CHECK(pm.st.pm1_en != p0.pm1_en);
	acpi_pm_reset(&pm);
	CHECK(!memcmp(&pm.st, &p0, sizeof(p0)));

	static struct ged g;
	ged_init(&g, NO_IRQ, 0x700);
	ged_raise(&g, 1);
	CHECK(g.st.pending != 0);
	ged_reset(&g);
	CHECK_EQ(g.st.pending, 0);
}

TEST(rtc_keeps_its_memory_and_clock)
{
	static struct rtc r;
	rtc_init(&r, 128 << 20, 0);
	rtc_set(&r, 0x7e, 0x42);         /* battery-backed memory */
	rtc_set(&r, 0x0b, 0x02 | 0x40);  /* periodic interrupt on */
	int64_t offset = r.st.offset_sec;
	uint8_t mem_lo = rtc_get(&r, 0x34), mem_hi = rtc_get(&r, 0x35);
	rtc_reset(&r);
	CHECK_EQ_HEX(rtc_get(&r, 0x7e), 0x42);
	CHECK_EQ_HEX(rtc_get(&r, 0x0b), 0x02);  /* the interrupt enable clears, the mode stays */
	CHECK_EQ(r.st.offset_sec, offset);
	CHECK_EQ_HEX(rtc_get(&r, 0x34) | rtc_get(&r, 0x35) << 8, mem_lo | mem_hi << 8); /* memory sizes stay */
	CHECK_EQ(mem_lo | mem_hi << 8, (128 - 16) << 4);
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF);
	return unit_main(argc, argv);
}
