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
#include "acpi_mem.h"

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

TEST(fresh_area_is_not_read_and_builds_the_same)
{
	/* A first boot's area is zero and is not read (each read would map a page); it must come
	 * out as a reset's, which clears what is not zero. */
	mem_init();
	size_t n = LAYOUT_ACPI_END - LAYOUT_ACPI;
	uint64_t a, b;
	REQUIRE_EQ(acpi_build(&M, 4, &a), 0);   /* over garbage: cleared where not zero */
	uint8_t *reset = malloc(n);
	memcpy(reset, M.regions[0].hva + LAYOUT_ACPI, n);
	memset(M.regions[0].hva + LAYOUT_ACPI, 0, n);   /* as mapped: zero */
	REQUIRE_EQ(acpi_build_devices(&M, 4, NULL, true, &b), 0);
	CHECK_EQ_HEX(a, b);
	CHECK(memcmp(reset, M.regions[0].hva + LAYOUT_ACPI, n) == 0);
	free(reset);
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

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
