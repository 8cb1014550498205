/* libFuzzer target: the guest's register surface without KVM — the legacy port devices
 * (16550A serial, i8042, CMOS RTC, ACPI PM block, ACPI GED, the CPU hot-plug block), the PCI configuration mechanism
 * (0xCF8/0xCFC) with its host bridge, BARs, capabilities and MSI-X table, and the virtio-pci
 * and virtio-mmio transports of a virtio-rng device each. After the accesses, each device's
 * queues are served as the I/O thread would, so a driver the fuzzer programmed through the
 * registers (rings anywhere in its 64 KiB of RAM, which the input also fills) gets used.
 *
 * Input: 64 bytes of RAM seed (repeated over RAM), then accesses of 9 bytes each: a selector
 * (bit 0 write, bits 1-2 size 1/2/4/8, bits 3-7 region), a 32-bit offset into the region
 * (modulo its length) and a 32-bit value. Nothing may crash, touch memory outside RAM or leak;
 * a hostile driver may only break its own device (NEEDS_RESET). */
#include <stdint.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "bus/bus.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/cpu_hotplug.h"
#include "devices/legacy/ged.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/rtc.h"
#include "devices/legacy/serial.h"
#include "devices/pci/pci.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/virtio_mmio.h"
#include "devices/virtio/virtio_pci.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

#define RAM (1u << 16)

static unsigned power_requests, ejects;

static void eject(void *opaque, unsigned cpu)
{
	(void)opaque;
	FUZZ_CHECK(cpu > 0 && cpu < 8);   /* never the boot CPU, never past max_cpus */
	ejects++;
}

static void power(void *opaque, enum vm_stop_reason reason, int code, const char *why)
{
	(void)opaque, (void)reason, (void)code, (void)why;
	power_requests++;
}

struct region {
	bool mmio;
	uint64_t base, len;
};

static const struct region regions[] = {
	{ false, SERIAL_COM1_BASE, 8 },
	{ false, I8042_DATA_PORT, 1 },
	{ false, I8042_CMD_PORT, 1 },
	{ false, RTC_INDEX_PORT, 2 },
	{ false, ACPI_PM_BASE, ACPI_PM_LEN },
	{ false, GED_PORT, GED_LEN },
	{ false, CPUHP_PORT, CPUHP_LEN },
	{ false, 0xcf8, 8 },                                  /* PCI configuration mechanism #1 */
	{ true, LAYOUT_PCI_MMIO, 0x100000 },                  /* where BARs are placed first */
	{ true, LAYOUT_PCI_MMIO, LAYOUT_PCI_MMIO_SIZE },      /* the whole window */
	{ true, LAYOUT_VIRTIO_MMIO, LAYOUT_VIRTIO_MMIO_STRIDE },
	{ false, 0, 0x10000 },                                /* any port: unclaimed ones too */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 64)
		return 0;
	struct guest_mem *mem = fuzz_guest_mem(RAM);
	uint8_t *ram = mem->regions[0].hva;
	for (unsigned i = 0; i < RAM; i += 64)
		memcpy(ram + i, data, 64);

	static struct bus pio, mmio;
	static struct serial serial;
	static struct i8042 kbd;
	static struct rtc rtc;
	static struct acpi_pm pm;
	static struct ged ged;
	static struct cpu_hotplug cpuhp;
	static struct pci_bus pci;
	static struct virtio_rng rng_pci, rng_mmio;
	static struct virtio_pci vp;
	static struct virtio_mmio vm;
	struct power_ctl pc = { power, NULL };
	struct irq_line none = { NULL, 0 };

	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	serial_init(&serial, -1, none);
	i8042_init(&kbd, none, pc);
	rtc_init(&rtc, RAM, 0);
	acpi_pm_init(&pm, pc);
	ged_init(&ged, none, GED_PORT);
	cpu_hotplug_init(&cpuhp, 8, 2, CPUHP_PORT, eject, NULL);
	cpu_hotplug_insert(&cpuhp, 2);
	cpu_hotplug_insert(&cpuhp, 3);
	cpu_hotplug_request_remove(&cpuhp, 1);
	bool ok = bus_register(&pio, SERIAL_COM1_BASE, 8, "serial", serial_io_read, serial_io_write, &serial) == 0 &&
		  bus_register(&pio, I8042_DATA_PORT, 1, "i8042-data", i8042_data_read, i8042_data_write, &kbd) == 0 &&
		  bus_register(&pio, I8042_CMD_PORT, 1, "i8042-cmd", i8042_cmd_read, i8042_cmd_write, &kbd) == 0 &&
		  bus_register(&pio, RTC_INDEX_PORT, 2, "rtc", rtc_io_read, rtc_io_write, &rtc) == 0 &&
		  bus_register(&pio, ACPI_PM_BASE, ACPI_PM_LEN, "acpi-pm", acpi_pm_read, acpi_pm_write, &pm) == 0 &&
		  bus_register(&pio, GED_PORT, GED_LEN, "ged", ged_read, ged_write, &ged) == 0 &&
		  bus_register(&pio, CPUHP_PORT, CPUHP_LEN, "cpuhp", cpu_hotplug_read, cpu_hotplug_write, &cpuhp) == 0 &&
		  pci_bus_init(&pci, NULL, &pio, &mmio, LAYOUT_PCI_MMIO, LAYOUT_PCI_MMIO_SIZE) == 0;
	bool have_pci = ok && virtio_rng_create(&rng_pci, 0, NULL, mem, NULL) == 0;
	ok = have_pci && virtio_pci_create(&vp, &rng_pci.vdev, &pci, NULL, NULL) == 0;
	bool have_mmio = ok && virtio_rng_create(&rng_mmio, 1, NULL, mem, NULL) == 0;
	ok = have_mmio && virtio_mmio_create(&vm, &rng_mmio.vdev, &mmio, LAYOUT_VIRTIO_MMIO,
					     LAYOUT_VIRTIO_MMIO_GSI, &pci, NULL) == 0;

	struct fuzz_input in = { data + 64, size - 64 };
	uint8_t op;
	uint32_t off, val;
	while (ok && fuzz_take(&in, &op, 1) && fuzz_take(&in, &off, 4) && fuzz_take(&in, &val, 4)) {
		const struct region *r = &regions[(op >> 3) % (sizeof(regions) / sizeof(regions[0]))];
		uint32_t len = 1u << ((op >> 1) & 3);
		uint64_t addr = r->base + off % r->len;
		uint8_t buf[8] = { 0 };
		memcpy(buf, &val, 4);
		memcpy(buf + 4, &val, 4);
		bus_access(r->mmio ? &mmio : &pio, addr, buf, len, op & 1);
	}
	struct virtio_dev *devs[2] = { have_pci ? &rng_pci.vdev : NULL, have_mmio ? &rng_mmio.vdev : NULL };
	for (unsigned i = 0; ok && i < 2; i++) {
		pthread_mutex_lock(&devs[i]->lock);
		if (virtio_is_running(devs[i]))
			devs[i]->ops->queue_notify(devs[i], 0);
		pthread_mutex_unlock(&devs[i]->lock);
	}

	if (have_mmio)
		virtio_mmio_destroy(&vm);
	if (have_pci)
		virtio_pci_destroy(&vp);
	if (have_mmio)
		virtio_dev_destroy(&rng_mmio.vdev);
	if (have_pci)
		virtio_dev_destroy(&rng_pci.vdev);
	pci_bus_destroy(&pci);
	return 0;
}
