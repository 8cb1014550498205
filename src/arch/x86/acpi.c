/* Builds just enough ACPI for a stock Linux: CPUs and interrupt controllers (MADT),
 * power-off through PM1a_CNT with the DSDT's \_S5 package, reset through the FADT reset
 * register, and the IAPC_BOOT_ARCH flags that say an i8042 and legacy devices exist.
 *
 * The tables are built position-independent, as QEMU hands them to a firmware: one blob
 * "etc/acpi/tables" (DSDT, FACS, FADT, MADT, XSDT, RSDT) whose pointers hold offsets into
 * itself, the RSDP apart, and the table loader's commands that place both, add the blob's
 * address to each pointer and set each checksum. A direct boot runs the same commands itself
 * (acpi_build_devices), placing the RSDP at LAYOUT_ACPI and the tables after it. */
#include "arch/x86/acpi.h"
#include "arch/x86/acpi_hw.h"
#include "arch/x86/acpi_table.h"
#include "arch/x86/layout.h"
#include "kvm/kvm_irq.h"
#include "memory/guest_mem.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define TABLES_MAX 0x10000      /* the tables blob at most */
#define FIXED_TABLES_MAX 0x1000 /* what it holds besides the DSDT: FACS, FADT, MADT, XSDT, RSDT */

/* FADT fields (ACPI 6.4, table 5.9) */
#define FADT_LEN 276
#define FADT_FIRMWARE_CTRL 36
#define FADT_DSDT 40
#define FADT_PM_TMR_BLK 76
#define FADT_PM_TMR_LEN 91
#define FADT_X_FIRMWARE_CTRL 132
#define FADT_X_DSDT 140
#define FADT_X_PM_TMR_BLK 208

/* RSDP fields */
#define RSDP_CHECKSUM 8    /* over the first 20 bytes (ACPI 1.0) */
#define RSDP_RSDT 16
#define RSDP_XSDT 24
#define RSDP_XCHECKSUM 32  /* over all 36 */

void acpi_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	acpi_put(t, 4, len, 4);
	t[8] = rev;
	t[9] = 0;
	memcpy(t + 10, "PETREL", 6);
	memcpy(t + 16, "PETRELVM", 8);
	acpi_put(t, 24, 1, 4);
	memcpy(t + 28, "PTRL", 4);
	acpi_put(t, 32, 1, 4);
}

/* Generic Address Structure for an I/O port register. */
static void gas_io(uint8_t *p, size_t off, uint8_t bits, uint8_t access, uint64_t port)
{
	p[off] = 1; /* SystemIO */
	p[off + 1] = bits;
	p[off + 2] = 0;
	p[off + 3] = access;
	acpi_put(p, off + 4, port, 8);
}

static uint32_t build_facs(uint8_t *t)
{
	memset(t, 0, 64);
	memcpy(t, "FACS", 4);
	acpi_put(t, 4, 64, 4);
	t[32] = 2; /* version */
	return 64;
}

/* dsdt, facs: the tables' offsets in the blob (the loader adds its address). The PM block
 * is at devs->pm_base (where the firmware put it), its timer described when devs->pm_timer. */
static uint32_t build_fadt(uint8_t *t, uint32_t dsdt, uint32_t facs, const struct acpi_devices *devs)
{
	const uint16_t pm = devs && devs->pm_base ? devs->pm_base : ACPI_PM_BASE;
	memset(t, 0, FADT_LEN);
	acpi_header(t, "FACP", FADT_LEN, 6);
	acpi_put(t, FADT_FIRMWARE_CTRL, facs, 4);
	acpi_put(t, FADT_DSDT, dsdt, 4);
	acpi_put(t, 46, ACPI_SCI_IRQ, 2);
	/* SMI_CMD (48) = 0: no SMM; the machine starts in ACPI mode. */
	acpi_put(t, 56, pm + ACPI_PM1_EVT_OFF, 4);
	acpi_put(t, 64, pm + ACPI_PM1_CNT_OFF, 4);
	t[88] = 4;     /* PM1_EVT_LEN */
	t[89] = 2;     /* PM1_CNT_LEN */
	acpi_put(t, 96, 101, 2);   /* P_LVL2_LAT > 100: C2 unsupported */
	acpi_put(t, 98, 1001, 2);  /* P_LVL3_LAT > 1000: C3 unsupported */
	t[108] = 0x32; /* CENTURY: CMOS register of the century */
	acpi_put(t, 109, 0x0003, 2);  /* IAPC_BOOT_ARCH: LEGACY_DEVICES | 8042 */
	/* Flags: WBINVD, PWR_BUTTON and SLP_BUTTON absent (control-method style), RESET_REG_SUP;
	 * TMR_VAL_EXT (8) clear: the PM timer counts 24 bits */
	acpi_put(t, 112, (1u << 0) | (1u << 4) | (1u << 5) | (1u << 10), 4);
	gas_io(t, 116, 8, 1, pm + ACPI_RESET_OFF);
	t[128] = ACPI_RESET_VALUE;
	t[131] = 4;    /* FADT minor version: 6.4 */
	acpi_put(t, FADT_X_FIRMWARE_CTRL, facs, 8);
	acpi_put(t, FADT_X_DSDT, dsdt, 8);
	gas_io(t, 148, 32, 2, pm + ACPI_PM1_EVT_OFF);
	gas_io(t, 172, 16, 2, pm + ACPI_PM1_CNT_OFF);
	if (devs && devs->pm_timer) {
		acpi_put(t, FADT_PM_TMR_BLK, pm + ACPI_PM_TMR_OFF, 4);
		t[FADT_PM_TMR_LEN] = 4;
		gas_io(t, FADT_X_PM_TMR_BLK, 32, 3, pm + ACPI_PM_TMR_OFF);
	}
	memcpy(t + 268, "PETRELVM", 8); /* hypervisor vendor identity */
	return FADT_LEN;
}

/* ncpus enabled processors, then up to max (vCPU hot-plug) disabled but online capable: Linux
 * (MADT revision 5) counts those as possible CPUs and hot-adds them later; without the
 * online-capable bit it would ignore them. */
static uint32_t build_madt(uint8_t *t, unsigned ncpus, unsigned max)
{
	uint32_t off = ACPI_HDR_LEN + 8;
	acpi_put(t, ACPI_HDR_LEN, LAYOUT_LAPIC, 4);
	acpi_put(t, ACPI_HDR_LEN + 4, 1, 4); /* PCAT_COMPAT: there are 8259s too */
	for (unsigned i = 0; i < ncpus || i < max; i++) {
		uint8_t *e = t + off;
		e[0] = 0; e[1] = 8;            /* Processor Local APIC */
		e[2] = (uint8_t)i;             /* ACPI processor UID */
		e[3] = (uint8_t)i;             /* APIC ID */
		acpi_put(e, 4, i < ncpus ? 1 : 2, 4); /* enabled, or online capable */
		off += 8;
	}
	uint8_t *io = t + off;               /* I/O APIC */
	io[0] = 1; io[1] = 12; io[2] = 0; io[3] = 0;
	acpi_put(io, 4, LAYOUT_IOAPIC, 4);
	acpi_put(io, 8, 0, 4);
	off += 12;
	/* ISA IRQ 0 (PIT) is wired to IOAPIC pin 2, as on a PC (the GSI routes, kvm/kvm_irq.c). */
	uint8_t *iso = t + off;
	iso[0] = 2; iso[1] = 10; iso[2] = 0; iso[3] = 0;
	acpi_put(iso, 4, KVM_PIT_IOAPIC_PIN, 4);
	acpi_put(iso, 8, 0, 2);
	off += 10;
	/* SCI: level-triggered, active high. */
	iso = t + off;
	iso[0] = 2; iso[1] = 10; iso[2] = 0; iso[3] = ACPI_SCI_IRQ;
	acpi_put(iso, 4, ACPI_SCI_IRQ, 4);
	acpi_put(iso, 8, 0x000d, 2);
	off += 10;
	uint8_t *nmi = t + off;              /* LINT1 of every CPU is NMI */
	nmi[0] = 4; nmi[1] = 6; nmi[2] = 0xff;
	acpi_put(nmi, 3, 0, 2);
	nmi[5] = 1;
	off += 6;
	acpi_header(t, "APIC", off, 5);
	return off;
}

/* The loader's commands, the first failure kept. */
struct cmds {
	struct fw_loader *l;
	int err;
};

/* A pointer into the tables blob, in file at off. */
static void cmd_ptr(struct cmds *c, const char *file, uint32_t off, uint8_t size)
{
	if (!c->err)
		c->err = fw_loader_add_pointer(c->l, file, ACPI_FILE_TABLES, off, size);
}

static void cmd_sum(struct cmds *c, const char *file, uint32_t cksum_off, uint32_t start, uint32_t len)
{
	if (!c->err)
		c->err = fw_loader_add_checksum(c->l, file, cksum_off, start, len);
}

/* The checksum of the table at off in the tables blob. */
static void cmd_table_sum(struct cmds *c, const uint8_t *tables, uint32_t off)
{
	cmd_sum(c, ACPI_FILE_TABLES, off + 9, off, (uint32_t)le_load(tables + off + 4, 4));
}

void acpi_blobs_free(struct acpi_blobs *b)
{
	free(b->tables);
	free(b->rsdp);
	fw_loader_free(&b->loader);
	memset(b, 0, sizeof(*b));
}

static void scratch_unmap(void **p)
{
	if (*p && *p != MAP_FAILED)
		munmap(*p, TABLES_MAX);
}

int acpi_build_blobs(unsigned ncpus, const struct acpi_devices *devs, struct acpi_blobs *out)
{
	unsigned max = devs ? devs->cpu_max : 0;
	if (ncpus == 0 || ncpus > 255 || max > 255 || (max && max < ncpus))
		return -EINVAL;
	_cleanup_(acpi_blobs_free) struct acpi_blobs b = { 0 };
	/* Built in fresh zero pages, of which only those the tables reach become resident (a
	 * calloc of the bound cleared 64 KiB at every start), then kept at their length. */
	_cleanup_(scratch_unmap) void *scratch = mmap(NULL, TABLES_MAX, PROT_READ | PROT_WRITE,
						       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	b.rsdp = calloc(1, ACPI_RSDP_LEN);
	if (scratch == MAP_FAILED || !b.rsdp)
		return -ENOMEM;
	uint8_t *p = scratch;
	uint32_t off = 0;
#define NEXT(len) do { off = ALIGN_UP(off + (len), 16); } while (0)
	const uint32_t dsdt = 0;
	uint32_t dsdt_len = acpi_build_dsdt(p + dsdt, TABLES_MAX - FIXED_TABLES_MAX, devs);
	if (!dsdt_len)
		return -ENOSPC;
	NEXT(dsdt_len);
	const uint32_t facs = ALIGN_UP(off, 64); /* the blob is 64-aligned: so is the FACS */
	off = facs;
	NEXT(build_facs(p + facs));
	const uint32_t fadt = off;
	NEXT(build_fadt(p + fadt, dsdt, facs, devs));
	const uint32_t madt = off;
	NEXT(build_madt(p + madt, ncpus, max));
	const uint32_t tables[] = { fadt, madt };
	const uint32_t xsdt = off;
	uint32_t xlen = ACPI_HDR_LEN + (uint32_t)(8 * ARRAY_SIZE(tables));
	acpi_header(p + xsdt, "XSDT", xlen, 1);
	for (size_t i = 0; i < ARRAY_SIZE(tables); i++)
		acpi_put(p + xsdt, ACPI_HDR_LEN + 8 * i, tables[i], 8);
	NEXT(xlen);
	const uint32_t rsdt = off;
	uint32_t rlen = ACPI_HDR_LEN + (uint32_t)(4 * ARRAY_SIZE(tables));
	acpi_header(p + rsdt, "RSDT", rlen, 1);
	for (size_t i = 0; i < ARRAY_SIZE(tables); i++)
		acpi_put(p + rsdt, ACPI_HDR_LEN + 4 * i, tables[i], 4);
#undef NEXT
	b.tables_len = rsdt + rlen;
	b.tables = malloc(b.tables_len);
	if (!b.tables)
		return -ENOMEM;
	memcpy(b.tables, p, b.tables_len);
	p = b.tables;

	uint8_t *r = b.rsdp; /* ACPI 2.0+ */
	b.rsdp_len = ACPI_RSDP_LEN;
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, "PETREL", 6);
	r[15] = 2;
	acpi_put(r, RSDP_RSDT, rsdt, 4);
	acpi_put(r, 20, ACPI_RSDP_LEN, 4);
	acpi_put(r, RSDP_XSDT, xsdt, 8);

	/* Each table's pointers before its checksum: the checksum is of the patched bytes. */
	struct cmds c = { &b.loader, 0 };
	c.err = fw_loader_allocate(&b.loader, ACPI_FILE_TABLES, 64, false);
	if (!c.err)
		c.err = fw_loader_allocate(&b.loader, ACPI_FILE_RSDP, 16, true);
	cmd_table_sum(&c, p, dsdt);
	cmd_ptr(&c, ACPI_FILE_TABLES, fadt + FADT_FIRMWARE_CTRL, 4);
	cmd_ptr(&c, ACPI_FILE_TABLES, fadt + FADT_DSDT, 4);
	cmd_ptr(&c, ACPI_FILE_TABLES, fadt + FADT_X_FIRMWARE_CTRL, 8);
	cmd_ptr(&c, ACPI_FILE_TABLES, fadt + FADT_X_DSDT, 8);
	cmd_table_sum(&c, p, fadt);
	cmd_table_sum(&c, p, madt);
	for (size_t i = 0; i < ARRAY_SIZE(tables); i++)
		cmd_ptr(&c, ACPI_FILE_TABLES, (uint32_t)(xsdt + ACPI_HDR_LEN + 8 * i), 8);
	cmd_table_sum(&c, p, xsdt);
	for (size_t i = 0; i < ARRAY_SIZE(tables); i++)
		cmd_ptr(&c, ACPI_FILE_TABLES, (uint32_t)(rsdt + ACPI_HDR_LEN + 4 * i), 4);
	cmd_table_sum(&c, p, rsdt);
	cmd_ptr(&c, ACPI_FILE_RSDP, RSDP_RSDT, 4);
	cmd_ptr(&c, ACPI_FILE_RSDP, RSDP_XSDT, 8);
	cmd_sum(&c, ACPI_FILE_RSDP, RSDP_CHECKSUM, 0, 20);
	cmd_sum(&c, ACPI_FILE_RSDP, RSDP_XCHECKSUM, 0, ACPI_RSDP_LEN);
	if (c.err)
		return c.err;
	*out = TAKE_STRUCT(b);
	return 0;
}

/* Direct boot's placement: the RSDP (FSEG) at the start of the ACPI area, in a slot of its
 * own, the tables (HIGH) after it, below the VM generation ID's page. */
#define DIRECT_RSDP_SLOT 0x100

struct direct_zones {
	uint64_t next[2], end[2]; /* [0] HIGH, [1] FSEG */
};

static int place_direct(void *opaque, struct fw_loader_file *f, uint32_t align, bool fseg)
{
	struct direct_zones *z = opaque;
	uint64_t a = ALIGN_UP(z->next[fseg], (uint64_t)align);
	if (a + f->len > z->end[fseg])
		return -ENOSPC;
	f->addr = a;
	z->next[fseg] = a + f->len;
	return 0;
}

int acpi_build(struct guest_mem *mem, unsigned ncpus, uint64_t *rsdp_out)
{
	return acpi_build_devices(mem, ncpus, NULL, false, rsdp_out);
}

int acpi_build_devices(struct guest_mem *mem, unsigned ncpus, const struct acpi_devices *devs, bool fresh,
		       uint64_t *rsdp_out)
{
	/* The tables below LAYOUT_VMGENID; the whole area is cleared. */
	uint8_t *area = guest_mem_ptr(mem, LAYOUT_ACPI, LAYOUT_ACPI_END - LAYOUT_ACPI);
	if (!area)
		return -EINVAL;
	_cleanup_(acpi_blobs_free) struct acpi_blobs b = { 0 };
	int err = acpi_build_blobs(ncpus, devs, &b);
	if (err)
		return err;
	struct fw_loader_file files[] = {
		{ ACPI_FILE_RSDP, b.rsdp, b.rsdp_len, 0 },
		{ ACPI_FILE_TABLES, b.tables, b.tables_len, 0 },
	};
	struct direct_zones z = {
		.next = { LAYOUT_ACPI + DIRECT_RSDP_SLOT, LAYOUT_ACPI },
		.end = { LAYOUT_VMGENID, LAYOUT_ACPI + DIRECT_RSDP_SLOT },
	};
	char msg[256];
	err = fw_loader_run(b.loader.cmds, b.loader.len, files, ARRAY_SIZE(files), place_direct, &z,
			    msg, sizeof(msg));
	if (err)
		return err; /* our own commands: only a table set too large for the area (-ENOSPC) */
	/* Cleared where something is written: a fresh VM's pages are zero and stay unallocated
	 * (clearing them all made 128 KiB of guest memory resident at every start), and are not
	 * even read (each read of an untouched page is a fault that maps the zero page: 32 of
	 * them at every start). */
	for (uint64_t off = 0; !fresh && off < LAYOUT_ACPI_END - LAYOUT_ACPI; off += 4096)
		if (!guest_page_is_zero(area + off))
			memset(area + off, 0, 4096);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++)
		memcpy(area + (files[i].addr - LAYOUT_ACPI), files[i].data, files[i].len);
	*rsdp_out = files[0].addr;
	return 0;
}
