/* Unit tests for src/arch/x86/acpi.c: the tables acpi_build() writes into guest memory,
 * checked the way a guest's ACPI code walks them (RSDP -> XSDT/RSDT -> FADT/MADT -> DSDT). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"
#include "arch/x86/layout.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/ged.h"
#include "devices/legacy/rtc.h"
#include "memory/guest_mem.h"
#include "unit.h"

#define MEM_SIZE (2u << 20)

static struct guest_mem M;

static void mem_init(void)
{
	memset(&M, 0, sizeof(M));
	M.regions[0] = (struct guest_region){ 0, MEM_SIZE, malloc(MEM_SIZE) };
	memset(M.regions[0].hva, 0xa5, MEM_SIZE); /* garbage, as if reused */
	M.nregions = 1;
	M.total = MEM_SIZE;
}

static void mem_free(void)
{
	free(M.regions[0].hva);
	memset(&M, 0, sizeof(M));
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;
	while (len--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* The table at gpa, after checking that it lies in the ACPI area and that its length and
 * checksum are right; NULL (and a failed check) otherwise. */
static const uint8_t *table(uint64_t gpa, const char *sig)
{
	if (gpa < LAYOUT_ACPI || gpa + 36 > LAYOUT_ACPI_END) {
		UNIT_FAIL_("%s at 0x%llx is outside the ACPI area", sig, (unsigned long long)gpa);
		return NULL;
	}
	const uint8_t *t = guest_mem_ptr(&M, gpa, 36);
	if (memcmp(t, sig, 4) != 0) {
		UNIT_FAIL_("table at 0x%llx is \"%.4s\", expected %s", (unsigned long long)gpa,
			   (const char *)t, sig);
		return NULL;
	}
	uint32_t len = rd32(t + 4);
	if (len < 36 || gpa + len > LAYOUT_ACPI_END) {
		UNIT_FAIL_("%s length %u is invalid", sig, len);
		return NULL;
	}
	if (sum(t, len) != 0) {
		UNIT_FAIL_("%s checksum is wrong", sig);
		return NULL;
	}
	return t;
}

struct tables {
	const uint8_t *rsdp, *xsdt, *rsdt, *fadt, *madt, *dsdt, *facs;
};

static int walk(unsigned ncpus, struct tables *t)
{
	memset(t, 0, sizeof(*t));
	uint64_t rsdp = 0;
	int err = acpi_build(&M, ncpus, &rsdp);
	if (err)
		return err;
	/* RSDP: on a 16-byte boundary in 0xe0000-0xfffff, where a guest scans for it */
	if (rsdp < 0xe0000 || rsdp >= 0x100000 || rsdp % 16) {
		UNIT_FAIL_("RSDP at 0x%llx", (unsigned long long)rsdp);
		return -1;
	}
	const uint8_t *r = guest_mem_ptr(&M, rsdp, 36);
	t->rsdp = r;
	if (memcmp(r, "RSD PTR ", 8) != 0 || sum(r, 20) != 0 || r[15] < 2 || rd32(r + 20) != 36 ||
	    sum(r, 36) != 0) {
		UNIT_FAIL_("bad RSDP");
		return -1;
	}
	t->rsdt = table(rd32(r + 16), "RSDT");
	t->xsdt = table(rd64(r + 24), "XSDT");
	if (!t->rsdt || !t->xsdt)
		return -1;
	uint32_t xn = (rd32(t->xsdt + 4) - 36) / 8, rn = (rd32(t->rsdt + 4) - 36) / 4;
	if (xn != rn) {
		UNIT_FAIL_("XSDT has %u entries, RSDT %u", xn, rn);
		return -1;
	}
	for (uint32_t i = 0; i < xn; i++) {
		uint64_t a = rd64(t->xsdt + 36 + 8 * i);
		if (rd32(t->rsdt + 36 + 4 * i) != a) {
			UNIT_FAIL_("XSDT and RSDT entry %u differ", i);
			return -1;
		}
		const uint8_t *p = guest_mem_ptr(&M, a, 4);
		if (p && !memcmp(p, "FACP", 4) && !t->fadt)
			t->fadt = table(a, "FACP");
		else if (p && !memcmp(p, "APIC", 4) && !t->madt)
			t->madt = table(a, "APIC");
		else {
			UNIT_FAIL_("unexpected or duplicate table in the XSDT at 0x%llx",
				   (unsigned long long)a);
			return -1;
		}
	}
	if (!t->fadt || !t->madt) {
		UNIT_FAIL_("FADT or MADT missing");
		return -1;
	}
	uint64_t dsdt = rd64(t->fadt + 140), facs = rd64(t->fadt + 132);
	if (rd32(t->fadt + 40) && rd32(t->fadt + 40) != dsdt) {
		UNIT_FAIL_("FADT DSDT and X_DSDT differ");
		return -1;
	}
	if (rd32(t->fadt + 36) && rd32(t->fadt + 36) != facs) {
		UNIT_FAIL_("FADT FIRMWARE_CTRL and X_FIRMWARE_CTRL differ");
		return -1;
	}
	t->dsdt = table(dsdt, "DSDT");
	t->facs = guest_mem_ptr(&M, facs, 64);
	if (!t->dsdt || !t->facs || memcmp(t->facs, "FACS", 4) != 0 || rd32(t->facs + 4) < 64 ||
	    facs % 64) {
		UNIT_FAIL_("bad DSDT or FACS");
		return -1;
	}
	return 0;
}

TEST(rsdp_and_root_tables)
{
	mem_init();
	struct tables t;
	REQUIRE_EQ(walk(1, &t), 0);
	CHECK_EQ(t.rsdp[15], 2);              /* ACPI 2.0+ RSDP */
	CHECK_EQ(t.rsdp[33] | t.rsdp[34] | t.rsdp[35], 0);
	CHECK_EQ(rd32(t.xsdt + 4), 36 + 2 * 8);
	/* the RSDP is at the very start of the ACPI area */
	uint64_t rsdp;
	REQUIRE_EQ(acpi_build(&M, 1, &rsdp), 0);
	CHECK_EQ_HEX(rsdp, LAYOUT_ACPI);
	mem_free();
}

TEST(tables_do_not_overlap)
{
	mem_init();
	struct tables t;
	REQUIRE_EQ(walk(64, &t), 0);
	const uint8_t *tabs[] = { t.rsdp, t.xsdt, t.rsdt, t.fadt, t.madt, t.dsdt, t.facs };
	uint32_t lens[7] = { 36, rd32(t.xsdt + 4), rd32(t.rsdt + 4), rd32(t.fadt + 4),
			     rd32(t.madt + 4), rd32(t.dsdt + 4), rd32(t.facs + 4) };
	for (int i = 0; i < 7; i++)
		for (int j = i + 1; j < 7; j++)
			if (tabs[i] < tabs[j] + lens[j] && tabs[j] < tabs[i] + lens[i])
				UNIT_FAIL_("tables %d and %d overlap", i, j);
	/* nothing was written outside [LAYOUT_ACPI, LAYOUT_ACPI_END) */
	const uint8_t *base = M.regions[0].hva;
	bool clean = true;
	for (uint64_t a = 0; a < MEM_SIZE; a++)
		if (a < LAYOUT_ACPI || a >= LAYOUT_ACPI_END)
			clean &= base[a] == 0xa5;
	CHECK(clean);
	mem_free();
}

TEST(fadt_fields)
{
	mem_init();
	struct tables t;
	REQUIRE_EQ(walk(2, &t), 0);
	const uint8_t *f = t.fadt;
	CHECK_EQ(rd32(f + 4), 276);
	CHECK_EQ(f[8], 6);                                       /* revision */
	CHECK_EQ(rd16(f + 46), ACPI_SCI_IRQ);                    /* SCI_INT */
	CHECK_EQ(rd32(f + 48), 0);                               /* SMI_CMD: always in ACPI mode */
	CHECK_EQ_HEX(rd32(f + 56), 0x600);                       /* PM1a_EVT_BLK */
	CHECK_EQ_HEX(rd32(f + 64), 0x604);                       /* PM1a_CNT_BLK */
	CHECK_EQ_HEX(rd32(f + 64), ACPI_PM_BASE + ACPI_PM1_CNT_OFF);
	CHECK_EQ(f[88], 4);                                      /* PM1_EVT_LEN */
	CHECK_EQ(f[89], 2);                                      /* PM1_CNT_LEN */
	CHECK_EQ(f[108], RTC_CENTURY_REG);                       /* CENTURY */
	CHECK_EQ_HEX(rd16(f + 109) & 3, 3);                      /* LEGACY_DEVICES | 8042 */
	CHECK(rd32(f + 112) & (1u << 10));                       /* RESET_REG_SUP */
	CHECK(!(rd32(f + 112) & (1u << 20)));                    /* not HW_REDUCED_ACPI */
	/* RESET_REG: system I/O, 8 bits, at the PM block's reset register; RESET_VALUE */
	CHECK_EQ(f[116], 1);
	CHECK_EQ(f[117], 8);
	CHECK_EQ_HEX(rd64(f + 120), ACPI_PM_BASE + ACPI_RESET_OFF);
	CHECK_EQ(f[128], ACPI_RESET_VALUE);
	/* X_PM1a_EVT_BLK / X_PM1a_CNT_BLK agree with the 32-bit fields */
	CHECK_EQ(f[148], 1);
	CHECK_EQ(f[149], 32);
	CHECK_EQ_HEX(rd64(f + 152), 0x600);
	CHECK_EQ(f[172], 1);
	CHECK_EQ(f[173], 16);
	CHECK_EQ_HEX(rd64(f + 176), 0x604);
	/* no PM1b blocks */
	CHECK_EQ(rd32(f + 60), 0);
	CHECK_EQ(rd32(f + 68), 0);
	CHECK(memcmp(f + 268, "PETRELVM", 8) == 0);
	mem_free();
}

/* Find the AML `Name (_S5_, Package () { a, b, ... })` and return the first element. */
static int s5_type(const uint8_t *dsdt)
{
	uint32_t len = rd32(dsdt + 4);
	for (uint32_t i = 36; i + 9 < len; i++) {
		if (dsdt[i] != 0x08 || memcmp(dsdt + i + 1, "_S5_", 4) != 0)
			continue;
		const uint8_t *p = dsdt + i + 5;
		if (p[0] != 0x12)
			return -1;
		unsigned pkglen = p[1];
		if (pkglen & 0xc0)
			return -1; /* multi-byte PkgLength: not expected for this package */
		if (i + 5 + 1 + pkglen > len)
			return -1;
		unsigned n = p[2];
		if (n < 1)
			return -1;
		const uint8_t *e = p + 3;
		if (e[0] == 0x0a)
			return e[1];      /* BytePrefix */
		if (e[0] == 0x00 || e[0] == 0x01)
			return e[0];      /* ZeroOp / OneOp */
		return -1;
	}
	return -1;
}

TEST(dsdt_has_s5)
{
	mem_init();
	struct tables t;
	REQUIRE_EQ(walk(1, &t), 0);
	CHECK_EQ(t.dsdt[8] >= 2, 1); /* 64-bit integers */
	CHECK_EQ(s5_type(t.dsdt), ACPI_S5_TYP);
	/* the value the DSDT gives is the one acpi_pm powers off on (SLP_TYPa) */
	CHECK_EQ(ACPI_S5_TYP, 5);
	mem_free();
}

TEST(madt_lists_each_cpu)
{
	static const unsigned counts[] = { 1, 2, 3, 64, 255 };
	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		unsigned n = counts[c];
		mem_init();
		struct tables t;
		int err = walk(n, &t);
		if (err) {
			UNIT_FAIL_("walk(%u) failed: %d", n, err);
			mem_free();
			continue;
		}
		const uint8_t *m = t.madt;
		uint32_t len = rd32(m + 4);
		CHECK_EQ_HEX(rd32(m + 36), LAYOUT_LAPIC);
		CHECK_EQ(rd32(m + 40) & 1, 1); /* PCAT_COMPAT */
		unsigned lapics = 0, ioapics = 0, isos = 0, nmis = 0;
		bool seen[256] = { false }, ok = true;
		bool sci_level_high = false, irq0_to_2 = false;
		for (uint32_t off = 44; off < len;) {
			const uint8_t *e = m + off;
			if (e[1] < 2 || off + e[1] > len) {
				UNIT_FAIL_("MADT entry at %u has length %u", off, e[1]);
				ok = false;
				break;
			}
			switch (e[0]) {
			case 0:
				CHECK_EQ(e[1], 8);
				CHECK_EQ(e[2], lapics);         /* UID */
				CHECK_EQ(e[3], lapics);         /* APIC ID */
				CHECK_EQ(rd32(e + 4) & 1, 1);   /* enabled */
				if (seen[e[3]])
					UNIT_FAIL_("APIC ID %u listed twice", e[3]);
				seen[e[3]] = true;
				lapics++;
				break;
			case 1:
				CHECK_EQ(e[1], 12);
				CHECK_EQ_HEX(rd32(e + 4), LAYOUT_IOAPIC);
				CHECK_EQ(rd32(e + 8), 0);       /* GSI base */
				ioapics++;
				break;
			case 2:
				CHECK_EQ(e[1], 10);
				if (e[3] == 0 && rd32(e + 4) == 2)
					irq0_to_2 = true;
				if (e[3] == ACPI_SCI_IRQ && rd32(e + 4) == ACPI_SCI_IRQ &&
				    rd16(e + 8) == 0x000d)
					sci_level_high = true;
				isos++;
				break;
			case 4:
				CHECK_EQ(e[1], 6);
				CHECK_EQ(e[2], 0xff);
				CHECK_EQ(e[5], 1);              /* LINT1 */
				nmis++;
				break;
			default:
				UNIT_FAIL_("unexpected MADT entry type %u", e[0]);
			}
			off += e[1];
		}
		if (ok) {
			CHECK_EQ(lapics, n);
			CHECK_EQ(ioapics, 1);
			CHECK_EQ(isos, 2);
			CHECK_EQ(nmis, 1);
			CHECK(irq0_to_2);
			CHECK(sci_level_high);
		}
		mem_free();
	}
}

TEST(build_is_repeatable)
{
	/* Building twice (e.g. on reset) gives the same bytes, whatever was there before. */
	mem_init();
	uint64_t a, b;
	REQUIRE_EQ(acpi_build(&M, 4, &a), 0);
	size_t n = LAYOUT_ACPI_END - LAYOUT_ACPI;
	uint8_t *copy = malloc(n);
	memcpy(copy, M.regions[0].hva + LAYOUT_ACPI, n);
	memset(M.regions[0].hva + LAYOUT_ACPI, 0x3c, n);
	REQUIRE_EQ(acpi_build(&M, 4, &b), 0);
	CHECK_EQ_HEX(a, b);
	CHECK(memcmp(copy, M.regions[0].hva + LAYOUT_ACPI, n) == 0);
	free(copy);
	mem_free();
}

TEST(build_rejects)
{
	mem_init();
	uint64_t rsdp = 0x1234;
	CHECK_EQ(acpi_build(&M, 0, &rsdp), -EINVAL);
	CHECK_EQ(acpi_build(&M, 256, &rsdp), -EINVAL);
	CHECK_EQ_HEX(rsdp, 0x1234);
	mem_free();
	/* guest memory that does not reach the ACPI area */
	memset(&M, 0, sizeof(M));
	M.regions[0] = (struct guest_region){ 0, 0xe0000, malloc(0xe0000) };
	M.nregions = 1;
	CHECK_EQ(acpi_build(&M, 1, &rsdp), -EINVAL);
	free(M.regions[0].hva);
	memset(&M, 0, sizeof(M));
	CHECK_EQ(acpi_build(&M, 1, &rsdp), -EINVAL);
}

/* ---- the AML writer (aml.c) and the DSDT's VM generation ID and GED ---- */

static bool has_bytes(const uint8_t *p, size_t n, const void *want, size_t wn)
{
	for (size_t i = 0; i + wn <= n; i++)
		if (memcmp(p + i, want, wn) == 0)
			return true;
	return false;
}

#define CHECK_AML(a, ...)                                                                  \
	do {                                                                               \
		static const uint8_t want_[] = { __VA_ARGS__ };                            \
		CHECK_EQ((a)->len, sizeof(want_));                                         \
		if ((a)->len == sizeof(want_) && memcmp((a)->p, want_, sizeof(want_)) != 0) \
			UNIT_FAIL_("AML bytes differ");                                    \
	} while (0)

TEST(aml_encodings)
{
	uint8_t buf[64];
	struct aml a;
	aml_init(&a, buf, sizeof(buf));
	aml_path(&a, "\\_SB_.VGEN");
	CHECK_AML(&a, '\\', 0x2e, '_', 'S', 'B', '_', 'V', 'G', 'E', 'N');
	aml_init(&a, buf, sizeof(buf));
	aml_path(&a, "\\_SB_.PCI0.S08_");
	CHECK_AML(&a, '\\', 0x2f, 3, '_', 'S', 'B', '_', 'P', 'C', 'I', '0', 'S', '0', '8', '_');
	aml_init(&a, buf, sizeof(buf));
	aml_path(&a, "GDAT");
	CHECK_AML(&a, 'G', 'D', 'A', 'T');
	aml_init(&a, buf, sizeof(buf));
	aml_int(&a, 0);
	aml_int(&a, 1);
	aml_int(&a, 0x80);
	aml_int(&a, 0x610);
	aml_int(&a, 0xef000);
	aml_int(&a, 0x100000000ull);
	CHECK_AML(&a, 0x00, 0x01, 0x0a, 0x80, 0x0b, 0x10, 0x06, 0x0c, 0x00, 0xf0, 0x0e, 0x00,
		  0x0e, 0, 0, 0, 0, 1, 0, 0, 0);
	/* Method (ADDR, 0, NotSerialized) { Return (Package (2) { 0xef000, 0 }) } */
	aml_init(&a, buf, sizeof(buf));
	size_t m = aml_method(&a, "ADDR", 0, false);
	aml_byte(&a, AML_RETURN);
	size_t p = aml_package(&a, 2);
	aml_int(&a, 0xef000);
	aml_int(&a, 0);
	aml_close(&a, p);
	aml_close(&a, m);
	CHECK_AML(&a, 0x14, 0xc6, 0x01, 0x00, 0x00, 'A', 'D', 'D', 'R', 0x00, 0xa4, 0x12, 0xcb, 0x00,
		  0x00, 0x00, 0x02, 0x0c, 0x00, 0xf0, 0x0e, 0x00, 0x00);
	/* Method (_EVT, 1, Serialized), Notify (\_SB.VGEN, 0x80) */
	aml_init(&a, buf, sizeof(buf));
	m = aml_method(&a, "_EVT", 1, true);
	aml_notify(&a, "\\_SB_.VGEN", 0x80);
	aml_close(&a, m);
	CHECK_AML(&a, 0x14, 0xc6, 0x01, 0x00, 0x00, '_', 'E', 'V', 'T', 0x09, 0x86, '\\', 0x2e, '_',
		  'S', 'B', '_', 'V', 'G', 'E', 'N', 0x0a, 0x80);
	/* OperationRegion (GDST, SystemIO, 0x610, 4) and Field (GDST, DWordAcc, NoLock,
	 * WriteAsZeros) { GDAT, 32 } */
	aml_init(&a, buf, sizeof(buf));
	aml_op_region(&a, "GDST", AML_SYSTEM_IO, 0x610, 4);
	size_t f = aml_field(&a, "GDST", AML_FIELD_DWORD_ACC | AML_FIELD_WRITE_AS_ZEROS);
	aml_field_unit(&a, "GDAT", 32);
	aml_close(&a, f);
	CHECK_AML(&a, 0x5b, 0x80, 'G', 'D', 'S', 'T', 0x01, 0x0b, 0x10, 0x06, 0x0a, 0x04,
		  0x5b, 0x81, 0xce, 0x00, 0x00, 0x00, 'G', 'D', 'S', 'T', 0x43, 'G', 'D', 'A', 'T', 0x20);
	/* a field wider than 63 bits takes a two-byte length */
	aml_init(&a, buf, sizeof(buf));
	aml_field_unit(&a, "WIDE", 0x100);
	CHECK_AML(&a, 'W', 'I', 'D', 'E', 0x40, 0x10);
	/* overflow is noticed, nothing written past the end */
	uint8_t small[8];
	memset(small, 0x77, sizeof(small));
	aml_init(&a, small, 4);
	aml_path(&a, "\\_SB_.VGEN");
	CHECK(a.overflow);
	CHECK_EQ(small[4], 0x77);
}

static void genid_devices(struct acpi_devices *d)
{
	memset(d, 0, sizeof(*d));
	d->pci = true;
	d->pci_mmio_base = LAYOUT_PCI_MMIO;
	d->pci_mmio_size = LAYOUT_PCI_MMIO_SIZE;
	d->pci_intx_gsi_base = 16;
	d->nmmio = 1;
	d->mmio[0].base = LAYOUT_VIRTIO_MMIO;
	d->mmio[0].size = 0x200;
	d->mmio[0].gsi = LAYOUT_VIRTIO_MMIO_GSI;
	d->ged = d->vmgenid = true;
	d->ged_port = GED_PORT;
	d->ged_gsi = LAYOUT_GED_GSI;
	d->vmgenid_gpa = LAYOUT_VMGENID;
}

static const uint8_t *dsdt_of(const struct acpi_devices *d, uint32_t *len)
{
	uint64_t rsdp;
	if (acpi_build_devices(&M, 2, d, &rsdp) != 0)
		return NULL;
	const uint8_t *r = guest_mem_ptr(&M, rsdp, 36);
	const uint8_t *fadt = table(rd64(guest_mem_ptr(&M, rd64(r + 24), 44) + 36), "FACP");
	const uint8_t *dsdt = fadt ? table(rd64(fadt + 140), "DSDT") : NULL;
	if (dsdt)
		*len = rd32(dsdt + 4);
	return dsdt;
}

TEST(dsdt_vmgenid_and_ged)
{
	mem_init();
	struct acpi_devices d;
	genid_devices(&d);
	uint32_t len = 0;
	const uint8_t *t = dsdt_of(&d, &len);
	REQUIRE(t != NULL);
	static const uint8_t hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0d, 'V', 'M', 'G', 'E', 'N', 'C', 'T', 'R', 0 };
	static const uint8_t cid[] = { 0x08, '_', 'C', 'I', 'D', 0x0d, 'V', 'M', '_', 'G', 'e', 'n', '_',
				       'C', 'o', 'u', 'n', 't', 'e', 'r', 0 };
	static const uint8_t addr[] = { 'A', 'D', 'D', 'R', 0x00, 0xa4, 0x12, 0xcb, 0x00, 0x00, 0x00,
					0x02, 0x0c, 0x00, 0xf0, 0x0e, 0x00, 0x00 };
	static const uint8_t ged_hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C', 'P', 'I', '0', '0', '1', '3', 0 };
	static const uint8_t irq[] = { 0x89, 0x06, 0x00, 0x03, 0x01, LAYOUT_GED_GSI, 0, 0, 0, 0x79, 0x00 };
	static const uint8_t region[] = { 0x5b, 0x80, 'G', 'D', 'S', 'T', 0x01, 0x0b, GED_PORT & 0xff,
					  GED_PORT >> 8, 0x0a, 0x04 };
	/* _EVT: Store (GDAT, Local0); If (And (Local0, 1, Zero)) { Notify (\_SB.VGEN, 0x80) } */
	static const uint8_t evt[] = { '_', 'E', 'V', 'T', 0x09, 0x70, 'G', 'D', 'A', 'T', 0x60, 0xa0,
				       0xc5, 0x01, 0x00, 0x00, 0x7b, 0x60, 0x01, 0x00, 0x86, '\\', 0x2e,
				       '_', 'S', 'B', '_', 'V', 'G', 'E', 'N', 0x0a, 0x80 };
	CHECK(has_bytes(t, len, hid, sizeof(hid)));
	CHECK(has_bytes(t, len, cid, sizeof(cid)));
	CHECK(has_bytes(t, len, addr, sizeof(addr)));
	CHECK(has_bytes(t, len, ged_hid, sizeof(ged_hid)));
	CHECK(has_bytes(t, len, irq, sizeof(irq)));
	CHECK(has_bytes(t, len, region, sizeof(region)));
	CHECK(has_bytes(t, len, evt, sizeof(evt)));
	/* without them (--no-vmgenid) the DSDT has neither */
	d.ged = d.vmgenid = false;
	t = dsdt_of(&d, &len);
	REQUIRE(t != NULL);
	CHECK(!has_bytes(t, len, hid, sizeof(hid)));
	CHECK(!has_bytes(t, len, ged_hid, sizeof(ged_hid)));
	mem_free();
}

TEST(tables_stay_below_the_vmgenid_page)
{
	/* The biggest DSDT petrel makes (every virtio-mmio slot) and 255 CPUs: every table ends
	 * below LAYOUT_VMGENID, and a build clears that page (the ID is written after). */
	mem_init();
	struct acpi_devices d;
	genid_devices(&d);
	d.nmmio = ACPI_MAX_VIRTIO_MMIO;
	for (unsigned i = 0; i < d.nmmio; i++) {
		d.mmio[i].base = LAYOUT_VIRTIO_MMIO + i * LAYOUT_VIRTIO_MMIO_STRIDE;
		d.mmio[i].size = 0x200;
		d.mmio[i].gsi = LAYOUT_VIRTIO_MMIO_GSI + i % 4;
	}
	uint64_t rsdp;
	REQUIRE_EQ(acpi_build_devices(&M, 255, &d, &rsdp), 0);
	const uint8_t *page = M.regions[0].hva + LAYOUT_VMGENID;
	bool zero = true;
	for (unsigned i = 0; i < 4096; i++)
		zero &= page[i] == 0;
	CHECK(zero);
	const uint8_t *r = guest_mem_ptr(&M, rsdp, 36);
	const uint8_t *x = guest_mem_ptr(&M, rd64(r + 24), 36);
	uint64_t end = rd64(r + 24) + rd32(x + 4);
	for (uint32_t i = 0; i < (rd32(x + 4) - 36) / 8; i++) {
		uint64_t a = rd64(x + 36 + 8 * i);
		const uint8_t *tb = guest_mem_ptr(&M, a, 36);
		if (a + rd32(tb + 4) > end)
			end = a + rd32(tb + 4);
		if (!memcmp(tb, "FACP", 4)) {
			uint64_t ds = rd64(tb + 140);
			uint32_t dl = rd32(guest_mem_ptr(&M, ds, 8) + 4);
			if (ds + dl > end)
				end = ds + dl;
		}
	}
	CHECK(end <= LAYOUT_VMGENID);
	mem_free();
}

/* iasl (acpica-tools) disassembles the DSDT: the AML is well-formed and holds the devices. */
TEST(dsdt_disassembles_with_iasl)
{
	if (system("command -v iasl >/dev/null 2>&1") != 0) {
		printf("SKIP dsdt_disassembles_with_iasl: no iasl (apt-get install acpica-tools)\n");
		return;
	}
	mem_init();
	struct acpi_devices d;
	genid_devices(&d);
	uint32_t len = 0;
	const uint8_t *t = dsdt_of(&d, &len);
	REQUIRE(t != NULL);
	char dir[] = "/tmp/petrel-acpi-XXXXXX";
	REQUIRE(mkdtemp(dir) != NULL);
	char path[128], cmd[512];
	snprintf(path, sizeof(path), "%s/dsdt.dat", dir);
	FILE *f = fopen(path, "wb");
	REQUIRE(f != NULL);
	CHECK_EQ(fwrite(t, 1, len, f), len);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "cd %s && iasl -d dsdt.dat >iasl.log 2>&1", dir);
	CHECK_EQ(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/dsdt.dsl", dir);
	static char dsl[65536];
	size_t n = 0;
	if ((f = fopen(path, "r"))) {
		n = fread(dsl, 1, sizeof(dsl) - 1, f);
		fclose(f);
	}
	dsl[n] = 0;
	CHECK(n > 0);
	CHECK_CONTAINS(dsl, "Device (VGEN)");
	CHECK_CONTAINS(dsl, "Name (_HID, \"VMGENCTR\")");
	CHECK_CONTAINS(dsl, "Name (_CID, \"VM_Gen_Counter\")");
	CHECK_CONTAINS(dsl, "Method (ADDR, 0, NotSerialized)");
	CHECK_CONTAINS(dsl, "0x000EF000");
	CHECK_CONTAINS(dsl, "Device (GED0)");
	CHECK_CONTAINS(dsl, "Name (_HID, \"ACPI0013\"");
	CHECK_CONTAINS(dsl, "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )");
	CHECK_CONTAINS(dsl, "0x00000005,");
	CHECK_CONTAINS(dsl, "OperationRegion (GDST, SystemIO, 0x0610, 0x04)");
	CHECK_CONTAINS(dsl, "Field (GDST, DWordAcc, NoLock, WriteAsZeros)");
	CHECK_CONTAINS(dsl, "Method (_EVT, 1, Serialized)");
	CHECK_CONTAINS(dsl, "Notify (\\_SB.VGEN, 0x80)");
	CHECK_CONTAINS(dsl, "Device (PCI0)");
	CHECK_CONTAINS(dsl, "Name (_S5, Package");
	if (n == 0 || !strstr(dsl, "Notify (\\_SB.VGEN")) {
		snprintf(cmd, sizeof(cmd), "cat %s/iasl.log %s/dsdt.dsl", dir, dir);
		CHECK_EQ(system(cmd), 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_EQ(system(cmd), 0);
	mem_free();
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
