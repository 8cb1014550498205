/* Builds just enough ACPI for a stock Linux: CPUs and interrupt controllers (MADT),
 * power-off through PM1a_CNT with the DSDT's \_S5 package, reset through the FADT reset
 * register, and the IAPC_BOOT_ARCH flags that say an i8042 and legacy devices exist. */
#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"
#include "arch/x86/layout.h"
#include "arch/x86/acpi_hw.h"
#include "kvm/kvm_irq.h"
#include "memory/guest_mem.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define HDR_LEN 36

struct tbl {
	uint8_t *base;  /* host pointer of the table */
	size_t len;
};

static void put(uint8_t *p, size_t off, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[off + (size_t)i] = (uint8_t)(v >> (8 * i));
}

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;
	for (size_t i = 0; i < len; i++)
		s = (uint8_t)(s + p[i]);
	return (uint8_t)(0 - s);
}

static void header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put(t, 4, len, 4);
	t[8] = rev;
	memcpy(t + 10, "PETREL", 6);
	memcpy(t + 16, "PETRELVM", 8);
	put(t, 24, 1, 4);
	memcpy(t + 28, "PTRL", 4);
	put(t, 32, 1, 4);
}

static void finish(uint8_t *t, uint32_t len)
{
	t[9] = 0;
	t[9] = checksum(t, len);
}

/* Generic Address Structure for an I/O port register. */
static void gas_io(uint8_t *p, size_t off, uint8_t bits, uint8_t access, uint64_t port)
{
	p[off] = 1; /* SystemIO */
	p[off + 1] = bits;
	p[off + 2] = 0;
	p[off + 3] = access;
	put(p, off + 4, port, 8);
}

/* Word address space descriptor (bus numbers or I/O ports), producer, min/max fixed. */
static size_t rt_word(uint8_t *p, uint8_t type, uint8_t tflags, uint16_t min, uint16_t max)
{
	uint8_t d[16] = { 0x88, 0x0d, 0x00, type, 0x0c, tflags };
	put(d, 6, 0, 2);
	put(d, 8, min, 2);
	put(d, 10, max, 2);
	put(d, 12, 0, 2);
	put(d, 14, (uint32_t)max - min + 1, 2);
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
	put(io, 2, 0xcf8, 2);
	put(io, 4, 0xcf8, 2);
	io[6] = 1;
	io[7] = 8;
	memcpy(rt + n, io, 8);
	n += 8;
	n += rt_word(rt + n, 1, 0x03, 0x0000, 0x0cf7);     /* I/O ports around the config ports */
	n += rt_word(rt + n, 1, 0x03, 0x0d00, 0xffff);
	uint8_t mem[26] = { 0x87, 0x17, 0x00, 0x00, 0x0c, 0x01 }; /* DWordMemory, RW, non-cacheable */
	put(mem, 6, 0, 4);
	put(mem, 10, devs->pci_mmio_base, 4);
	put(mem, 14, devs->pci_mmio_base + devs->pci_mmio_size - 1, 4);
	put(mem, 18, 0, 4);
	put(mem, 22, devs->pci_mmio_size, 4);
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
	put(m, 4, base, 4);
	put(m, 8, size, 4);
	memcpy(rt + n, m, 12);
	n += 12;
	uint8_t irq[9] = { 0x89, 0x06, 0x00, 0x01, 0x01 }; /* Interrupt (Consumer, Level, ActiveHigh, Exclusive) */
	put(irq, 5, gsi, 4);
	memcpy(rt + n, irq, 9);
	n += 9;
	aml_crs(a, rt, n);
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
	uint8_t io[8] = { 0x47, 0x01 }; /* IO (Decode16, port, port, alignment 1, length 1) */
	put(io, 2, port, 2);
	put(io, 4, port, 2);
	io[6] = 1;
	io[7] = 1;
	aml_crs(a, io, sizeof(io));
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
	put(irq, 5, devs->ged_gsi, 4);
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

/* DSDT: \_S5 (Package (4) { 5, 5, 0, 0 }) and, in \_SB, the PCI host bridge, the
 * virtio-mmio devices, the VM generation ID and the GED. */
static uint32_t build_dsdt(uint8_t *t, size_t room, const struct acpi_devices *devs)
{
	static const uint8_t s5[] = {
		0x08, '_', 'S', '5', '_',            /* NameOp "_S5_" */
		0x12, 0x08, 0x04,                    /* PackageOp, PkgLength 8, 4 elements */
		0x0a, ACPI_S5_TYP, 0x0a, ACPI_S5_TYP, /* BytePrefix 5, BytePrefix 5 */
		0x00, 0x00,                          /* Zero, Zero */
	};
	struct aml a;
	aml_init(&a, t + HDR_LEN, room > HDR_LEN ? room - HDR_LEN : 0);
	aml_bytes(&a, s5, sizeof(s5));
	if (devs && (devs->pci || devs->nmmio || devs->ged || devs->cpu_max || devs->pvpanic_port)) {
		size_t sc = aml_scope(&a, "\\_SB_");
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
	uint32_t len = HDR_LEN + (uint32_t)a.len;
	header(t, "DSDT", len, 2);
	finish(t, len);
	return len;
}

static uint32_t build_facs(uint8_t *t)
{
	memset(t, 0, 64);
	memcpy(t, "FACS", 4);
	put(t, 4, 64, 4);
	t[32] = 2; /* version */
	return 64;
}

static uint32_t build_fadt(uint8_t *t, uint64_t dsdt, uint64_t facs)
{
	const uint32_t len = 276; /* ACPI 6.x FADT */
	memset(t, 0, len);
	header(t, "FACP", len, 6);
	put(t, 36, facs, 4);
	put(t, 40, dsdt, 4);
	put(t, 46, ACPI_SCI_IRQ, 2);
	/* SMI_CMD (48) = 0: no SMM; the machine starts in ACPI mode. */
	put(t, 56, ACPI_PM_BASE + ACPI_PM1_EVT_OFF, 4);
	put(t, 64, ACPI_PM_BASE + ACPI_PM1_CNT_OFF, 4);
	t[88] = 4;     /* PM1_EVT_LEN */
	t[89] = 2;     /* PM1_CNT_LEN */
	put(t, 96, 101, 2);   /* P_LVL2_LAT > 100: C2 unsupported */
	put(t, 98, 1001, 2);  /* P_LVL3_LAT > 1000: C3 unsupported */
	t[108] = 0x32; /* CENTURY: CMOS register of the century */
	put(t, 109, 0x0003, 2);  /* IAPC_BOOT_ARCH: LEGACY_DEVICES | 8042 */
	/* Flags: WBINVD, PWR_BUTTON and SLP_BUTTON absent (control-method style), RESET_REG_SUP */
	put(t, 112, (1u << 0) | (1u << 4) | (1u << 5) | (1u << 10), 4);
	gas_io(t, 116, 8, 1, ACPI_PM_BASE + ACPI_RESET_OFF);
	t[128] = ACPI_RESET_VALUE;
	t[131] = 4;    /* FADT minor version: 6.4 */
	put(t, 132, facs, 8);
	put(t, 140, dsdt, 8);
	gas_io(t, 148, 32, 2, ACPI_PM_BASE + ACPI_PM1_EVT_OFF);
	gas_io(t, 172, 16, 2, ACPI_PM_BASE + ACPI_PM1_CNT_OFF);
	memcpy(t + 268, "PETRELVM", 8); /* hypervisor vendor identity */
	finish(t, len);
	return len;
}

/* ncpus enabled processors, then up to max (vCPU hot-plug) disabled but online capable: Linux
 * (MADT revision 5) counts those as possible CPUs and hot-adds them later; without the
 * online-capable bit it would ignore them. */
static uint32_t build_madt(uint8_t *t, unsigned ncpus, unsigned max)
{
	uint32_t off = HDR_LEN + 8;
	put(t, HDR_LEN, LAYOUT_LAPIC, 4);
	put(t, HDR_LEN + 4, 1, 4); /* PCAT_COMPAT: there are 8259s too */
	for (unsigned i = 0; i < ncpus || i < max; i++) {
		uint8_t *e = t + off;
		e[0] = 0; e[1] = 8;            /* Processor Local APIC */
		e[2] = (uint8_t)i;             /* ACPI processor UID */
		e[3] = (uint8_t)i;             /* APIC ID */
		put(e, 4, i < ncpus ? 1 : 2, 4); /* enabled, or online capable */
		off += 8;
	}
	uint8_t *io = t + off;               /* I/O APIC */
	io[0] = 1; io[1] = 12; io[2] = 0; io[3] = 0;
	put(io, 4, LAYOUT_IOAPIC, 4);
	put(io, 8, 0, 4);
	off += 12;
	/* ISA IRQ 0 (PIT) is wired to IOAPIC pin 2, as on a PC (the GSI routes, kvm/kvm_irq.c). */
	uint8_t *iso = t + off;
	iso[0] = 2; iso[1] = 10; iso[2] = 0; iso[3] = 0;
	put(iso, 4, KVM_PIT_IOAPIC_PIN, 4);
	put(iso, 8, 0, 2);
	off += 10;
	/* SCI: level-triggered, active high. */
	iso = t + off;
	iso[0] = 2; iso[1] = 10; iso[2] = 0; iso[3] = ACPI_SCI_IRQ;
	put(iso, 4, ACPI_SCI_IRQ, 4);
	put(iso, 8, 0x000d, 2);
	off += 10;
	uint8_t *nmi = t + off;              /* LINT1 of every CPU is NMI */
	nmi[0] = 4; nmi[1] = 6; nmi[2] = 0xff;
	put(nmi, 3, 0, 2);
	nmi[5] = 1;
	off += 6;
	header(t, "APIC", off, 5);
	finish(t, off);
	return off;
}

int acpi_build(struct guest_mem *mem, unsigned ncpus, uint64_t *rsdp_out)
{
	return acpi_build_devices(mem, ncpus, NULL, rsdp_out);
}

int acpi_build_devices(struct guest_mem *mem, unsigned ncpus, const struct acpi_devices *devs,
		       uint64_t *rsdp_out)
{
	/* The tables below LAYOUT_VMGENID; the whole area is cleared. */
	const uint64_t base = LAYOUT_ACPI, size = LAYOUT_VMGENID - LAYOUT_ACPI;
	uint8_t *p = guest_mem_ptr(mem, base, LAYOUT_ACPI_END - base);
	unsigned max = devs ? devs->cpu_max : 0;
	if (!p || ncpus == 0 || ncpus > 255 || max > 255 || (max && max < ncpus))
		return -EINVAL;
	memset(p, 0, LAYOUT_ACPI_END - base);
	uint64_t off = 0x100; /* RSDP first, at 0xe0000 */
#define NEXT(len) do { off = ALIGN_UP(off + (len), 16); } while (0)
	uint64_t dsdt = base + off;
	uint32_t dsdt_len = build_dsdt(p + off, size - off - 0x1000, devs);
	if (!dsdt_len)
		return -ENOSPC;
	NEXT(dsdt_len);
	uint64_t facs = ALIGN_UP(base + off, 64); off = facs - base; NEXT(build_facs(p + off));
	uint64_t fadt = base + off;   NEXT(build_fadt(p + off, dsdt, facs));
	uint64_t madt = base + off;   NEXT(build_madt(p + off, ncpus, max));
	uint64_t tables[] = { fadt, madt };
	uint64_t xsdt = base + off;
	uint32_t xlen = HDR_LEN + (uint32_t)(8 * ARRAY_SIZE(tables));
	header(p + off, "XSDT", xlen, 1);
	for (size_t i = 0; i < ARRAY_SIZE(tables); i++)
		put(p + off, HDR_LEN + 8 * i, tables[i], 8);
	finish(p + off, xlen);
	NEXT(xlen);
	uint64_t rsdt = base + off;
	uint32_t rlen = HDR_LEN + (uint32_t)(4 * ARRAY_SIZE(tables));
	header(p + off, "RSDT", rlen, 1);
	for (size_t i = 0; i < ARRAY_SIZE(tables); i++)
		put(p + off, HDR_LEN + 4 * i, tables[i], 4);
	finish(p + off, rlen);
	NEXT(rlen);
#undef NEXT
	if (off > size)
		return -ENOSPC;

	uint8_t *r = p; /* RSDP, ACPI 2.0+ */
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, "PETREL", 6);
	r[15] = 2;
	put(r, 16, rsdt, 4);
	put(r, 20, 36, 4);
	put(r, 24, xsdt, 8);
	r[8] = checksum(r, 20);
	r[32] = checksum(r, 36);
	*rsdp_out = base;
	return 0;
}
