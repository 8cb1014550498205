/* The DSDT: \_S5 for power-off and, in \_SB, the devices struct acpi_devices lists (the
 * keyboard controller, the PCI host bridge with its _CRS and _PRT, virtio-mmio devices, the VM
 * generation ID, the vCPU container, pvpanic, the GED). Position-independent: no table address
 * appears in it. */
#include "arch/x86/acpi.h"
#include "arch/x86/acpi_hw.h"
#include "arch/x86/acpi_table.h"
#include "arch/x86/aml.h"

#include <stdio.h>
#include <string.h>

/* Word address space descriptor (bus numbers or I/O ports), producer, min/max fixed. */
static size_t rt_word(uint8_t *p, uint8_t type, uint8_t tflags, uint16_t min, uint16_t max)
{
	uint8_t d[16] = { 0x88, 0x0d, 0x00, type, 0x0c, tflags };
	acpi_put(d, 6, 0, 2);
	acpi_put(d, 8, min, 2);
	acpi_put(d, 10, max, 2);
	acpi_put(d, 12, 0, 2);
	acpi_put(d, 14, (uint32_t)max - min + 1, 2);
	memcpy(p, d, 16);
	return 16;
}

static void build_pci_host(struct aml *a, const struct acpi_devices *devs)
{
	size_t dev = aml_device(a, "PCI0");
	aml_name(a, "_HID");
	aml_byte(a, 0x0c);
	aml_le(a, aml_eisa_id("PNP0A03"), 4);
	aml_name(a, "_UID");
	aml_int(a, 0);
	aml_name(a, "_SEG");
	aml_int(a, 0);
	aml_name(a, "_BBN");
	aml_int(a, 0);
	uint8_t rt[128];
	size_t n = 0;
	n += rt_word(rt + n, 2, 0, 0, 0);                 /* bus 0 only */
	uint8_t io[8] = { 0x47, 0x01 };                  /* IO (Decode16, 0xCF8, 0xCF8, 1, 8) */
	acpi_put(io, 2, 0xcf8, 2);
	acpi_put(io, 4, 0xcf8, 2);
	io[6] = 1;
	io[7] = 8;
	memcpy(rt + n, io, 8);
	n += 8;
	n += rt_word(rt + n, 1, 0x03, 0x0000, 0x0cf7);     /* I/O ports around the config ports */
	n += rt_word(rt + n, 1, 0x03, 0x0d00, 0xffff);
	uint8_t mem[26] = { 0x87, 0x17, 0x00, 0x00, 0x0c, 0x01 }; /* DWordMemory, RW, non-cacheable */
	acpi_put(mem, 6, 0, 4);
	acpi_put(mem, 10, devs->pci_mmio_base, 4);
	acpi_put(mem, 14, devs->pci_mmio_base + devs->pci_mmio_size - 1, 4);
	acpi_put(mem, 18, 0, 4);
	acpi_put(mem, 22, devs->pci_mmio_size, 4);
	memcpy(rt + n, mem, 26);
	n += 26;
	aml_crs(a, rt, n);
	/* _PRT: INTA-INTD of every slot to the IOAPIC, swizzled over four GSIs. */
	aml_name(a, "_PRT");
	size_t pkg = aml_package(a, 31 * 4);
	for (uint32_t slot = 1; slot < 32; slot++) {
		for (uint32_t pin = 0; pin < 4; pin++) {
			size_t e = aml_package(a, 4);
			aml_int(a, (uint64_t)slot << 16 | 0xffff);
			aml_int(a, pin);
			aml_int(a, 0);
			aml_int(a, devs->pci_intx_gsi_base + (slot + pin) % 4);
			aml_close(a, e);
		}
	}
	aml_close(a, pkg);
	aml_close(a, dev);
}

static void build_virtio_mmio(struct aml *a, unsigned i, uint64_t base, uint32_t size, uint32_t gsi)
{
	char seg[5];
	snprintf(seg, sizeof(seg), "VR%02X", i & 0xff);
	size_t dev = aml_device(a, seg);
	aml_name(a, "_HID");
	aml_string(a, "LNRO0005");
	aml_name(a, "_UID");
	aml_int(a, i);
	aml_name(a, "_CCA");
	aml_int(a, 1);
	uint8_t rt[32];
	size_t n = 0;
	uint8_t m[12] = { 0x86, 0x09, 0x00, 0x01 };        /* Memory32Fixed (ReadWrite) */
	acpi_put(m, 4, base, 4);
	acpi_put(m, 8, size, 4);
	memcpy(rt + n, m, 12);
	n += 12;
	uint8_t irq[9] = { 0x89, 0x06, 0x00, 0x01, 0x01 }; /* Interrupt (Consumer, Level, ActiveHigh, Exclusive) */
	acpi_put(irq, 5, gsi, 4);
	memcpy(rt + n, irq, 9);
	n += 9;
	aml_crs(a, rt, n);
	aml_close(a, dev);
}

/* The PC/AT's keyboard controller where every PC has it (devices/legacy/i8042.h): Device
 * (KBD) with _HID PNP0303 and its two ports and IRQ 1 (IO (Decode16, port, port, 1, 1) twice,
 * IRQNoFlags () {1}), and when the mouse port is wired, Device (MOU) with _HID PNP0F13 and
 * IRQ 12, as QEMU's PC describes them. SeaBIOS parses the DSDT and, finding one but no PNP0303,
 * says "ACPI: no PS/2 keyboard present" and never sets the keyboard up nor takes its IRQ 1:
 * int 16h then never has a key. Linux's i8042 binds them by PNP (without the tables it probes
 * the ports since the FADT says an 8042 exists). */
enum { KBD_DATA_PORT = 0x60, KBD_CMD_PORT = 0x64, KBD_IRQ = 1, MOUSE_IRQ = 12 };

static size_t rt_io(uint8_t *p, uint16_t port)
{
	uint8_t io[8] = { 0x47, 0x01 }; /* IO (Decode16, port, port, alignment 1, length 1) */
	acpi_put(io, 2, port, 2);
	acpi_put(io, 4, port, 2);
	io[6] = 1;
	io[7] = 1;
	memcpy(p, io, sizeof(io));
	return sizeof(io);
}

static size_t rt_irq(uint8_t *p, unsigned irq)
{
	p[0] = 0x22; /* IRQNoFlags: a 16-bit mask (edge, active high, exclusive) */
	acpi_put(p, 1, 1u << irq, 2);
	return 3;
}

static void build_i8042(struct aml *a, bool mouse)
{
	uint8_t rt[24];
	size_t n = 0;
	size_t dev = aml_device(a, "KBD_");
	aml_name(a, "_HID");
	aml_byte(a, 0x0c);
	aml_le(a, aml_eisa_id("PNP0303"), 4);
	n += rt_io(rt + n, KBD_DATA_PORT);
	n += rt_io(rt + n, KBD_CMD_PORT);
	n += rt_irq(rt + n, KBD_IRQ);
	aml_crs(a, rt, n);
	aml_close(a, dev);
	if (!mouse)
		return;
	dev = aml_device(a, "MOU_");
	aml_name(a, "_HID");
	aml_byte(a, 0x0c);
	aml_le(a, aml_eisa_id("PNP0F13"), 4);
	aml_crs(a, rt, rt_irq(rt, MOUSE_IRQ));
	aml_close(a, dev);
}

/* Device (VGEN): the VM generation ID as Linux's vmgenid driver finds it (_HID or _CID; ACPICA
 * upper-cases the _CID to the driver's "VM_GEN_COUNTER"), ADDR: Package { low, high } of its
 * guest-physical address. */
static void build_vmgenid(struct aml *a, uint64_t gpa)
{
	size_t dev = aml_device(a, "VGEN");
	aml_name(a, "_HID");
	aml_string(a, "VMGENCTR");
	aml_name(a, "_CID");
	aml_string(a, "VM_Gen_Counter");
	aml_name(a, "_DDN");
	aml_string(a, "VM_Gen_Counter");
	size_t m = aml_method(a, "ADDR", 0, false);
	aml_byte(a, AML_RETURN);
	size_t pkg = aml_package(a, 2);
	aml_int(a, gpa & 0xffffffffu);
	aml_int(a, gpa >> 32);
	aml_close(a, pkg);
	aml_close(a, m);
	aml_close(a, dev);
}

/* Device (PEVT): the pvpanic device (devices/legacy/pvpanic.h) as QEMU describes it, which
 * Linux's pvpanic-mmio driver binds: _HID QEMU0001, one I/O port. */
static void build_pvpanic(struct aml *a, uint16_t port)
{
	size_t dev = aml_device(a, "PEVT");
	aml_name(a, "_HID");
	aml_string(a, "QEMU0001");
	uint8_t io[8];
	aml_crs(a, io, rt_io(io, port));
	aml_close(a, dev);
}

/* Device (GED0): the Generic Event Device (ged.h). Linux's evged runs _EVT (Arg0 = the GSI)
 * on each interrupt; _EVT reads the event register once (the read clears it) and handles
 * each bit: Local0 = GDAT; If (Local0 & bit) { ... }. */
static void build_ged(struct aml *a, const struct acpi_devices *devs)
{
	size_t dev = aml_device(a, "GED0");
	aml_name(a, "_HID");
	aml_string(a, "ACPI0013");
	aml_name(a, "_UID");
	aml_int(a, 0);
	uint8_t irq[9] = { 0x89, 0x06, 0x00, 0x03, 0x01 }; /* Interrupt (Consumer, Edge, ActiveHigh, Exclusive) */
	acpi_put(irq, 5, devs->ged_gsi, 4);
	aml_crs(a, irq, sizeof(irq));
	aml_op_region(a, "GDST", AML_SYSTEM_IO, devs->ged_port, GED_LEN);
	size_t f = aml_field(a, "GDST", AML_FIELD_DWORD_ACC | AML_FIELD_WRITE_AS_ZEROS);
	aml_field_unit(a, "GDAT", 32);
	aml_close(a, f);
	size_t m = aml_method(a, "_EVT", 1, true);
	aml_byte(a, AML_STORE);
	aml_path(a, "GDAT");
	aml_byte(a, AML_LOCAL0);
	if (devs->vmgenid) {
		size_t i = aml_if(a);
		aml_byte(a, AML_AND);
		aml_byte(a, AML_LOCAL0);
		aml_int(a, GED_EVT_VMGENID);
		aml_byte(a, AML_ZERO); /* no target */
		aml_notify(a, "\\_SB_.VGEN", 0x80);
		aml_close(a, i);
	}
	if (devs->cpu_max) {
		size_t i = aml_if(a);
		aml_byte(a, AML_AND);
		aml_byte(a, AML_LOCAL0);
		aml_int(a, GED_EVT_CPU_HOTPLUG);
		aml_byte(a, AML_ZERO);
		aml_path(a, "\\_SB_.CPUS.CSCN"); /* no arguments */
		aml_close(a, i);
	}
	aml_close(a, m);
	aml_close(a, dev);
}

/* DSDT: \_S5 (Package (4) { 5, 5, 0, 0 }) and, in \_SB, the keyboard controller, the PCI
 * host bridge, the virtio-mmio devices, the VM generation ID and the GED. */
uint32_t acpi_build_dsdt(uint8_t *t, size_t room, const struct acpi_devices *devs)
{
	static const uint8_t s5[] = {
		0x08, '_', 'S', '5', '_',            /* NameOp "_S5_" */
		0x12, 0x08, 0x04,                    /* PackageOp, PkgLength 8, 4 elements */
		0x0a, ACPI_S5_TYP, 0x0a, ACPI_S5_TYP, /* BytePrefix 5, BytePrefix 5 */
		0x00, 0x00,                          /* Zero, Zero */
	};
	struct aml a;
	aml_init(&a, t + ACPI_HDR_LEN, room > ACPI_HDR_LEN ? room - ACPI_HDR_LEN : 0);
	aml_bytes(&a, s5, sizeof(s5));
	if (devs && (devs->pci || devs->nmmio || devs->ged || devs->cpu_max || devs->pvpanic_port || devs->i8042)) {
		size_t sc = aml_scope(&a, "\\_SB_");
		/* first: SeaBIOS's DSDT parser gives up on a scope at an opcode it does not know */
		if (devs->i8042)
			build_i8042(&a, devs->i8042_mouse);
		if (devs->pci)
			build_pci_host(&a, devs);
		for (unsigned i = 0; i < devs->nmmio && i < ACPI_MAX_VIRTIO_MMIO; i++)
			build_virtio_mmio(&a, i, devs->mmio[i].base, devs->mmio[i].size, devs->mmio[i].gsi);
		if (devs->ged && devs->vmgenid)
			build_vmgenid(&a, devs->vmgenid_gpa);
		if (devs->cpu_max)
			acpi_build_cpus(&a, devs->cpu_max, devs->cpuhp_port);
		if (devs->pvpanic_port)
			build_pvpanic(&a, devs->pvpanic_port);
		if (devs->ged)
			build_ged(&a, devs);
		aml_close(&a, sc);
	}
	if (a.overflow)
		return 0;
	uint32_t len = ACPI_HDR_LEN + (uint32_t)a.len;
	acpi_header(t, "DSDT", len, 2);
	return len;
}
