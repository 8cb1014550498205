/* Unit tests for acpi_build_blobs (src/arch/x86/acpi.c): the tables a firmware gets
 * (etc/acpi/tables, etc/acpi/rsdp, etc/table-loader), run through fw_loader_run at two different
 * placements as SeaBIOS would place them, then walked as a guest walks them: every checksum
 * zero, every pointer on a table with the right signature. And the FADT's PM block and timer,
 * and the PCI window in the DSDT's _CRS. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/acpi.h"
#include "arch/x86/acpi_hw.h"
#include "arch/x86/fw_loader.h"
#include "arch/x86/layout.h"
#include "util/codec.h"
#include "unit.h"

/* A guest address space of just the placed files. */
struct space {
	struct fw_loader_file f[2];
	uint64_t fseg, high; /* where the placement puts the next FSEG and HIGH file */
};

static int place(void *opaque, struct fw_loader_file *f, uint32_t align, bool fseg)
{
	struct space *s = opaque;
	uint64_t *next = fseg ? &s->fseg : &s->high;
	*next = (*next + align - 1) & ~(uint64_t)(align - 1);
	f->addr = *next;
	*next += f->len;
	return 0;
}

/* len bytes at gpa, if one placed file holds them all. */
static const uint8_t *at(const struct space *s, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < 2; i++) {
		const struct fw_loader_file *f = &s->f[i];
		if (gpa >= f->addr && gpa + len <= f->addr + f->len)
			return f->data + (gpa - f->addr);
	}
	return NULL;
}

/* The table with signature sig at gpa, its checksum zero; NULL (and a failed check) if not. */
static const uint8_t *table(const struct space *s, uint64_t gpa, const char *sig)
{
	const uint8_t *t = at(s, gpa, 36);
	if (!t || memcmp(t, sig, 4) != 0) {
		UNIT_FAIL_("no %s at 0x%llx", sig, (unsigned long long)gpa);
		return NULL;
	}
	uint32_t len = (uint32_t)le_load(t + 4, 4);
	if (!at(s, gpa, len) || fw_byte_sum(t, len) != 0) {
		UNIT_FAIL_("%s at 0x%llx: length %u past its file or checksum wrong", sig,
			   (unsigned long long)gpa, len);
		return NULL;
	}
	return t;
}

/* Build, place the RSDP from fseg and the tables from high, walk. */
static void build_and_walk(const struct acpi_devices *d, unsigned ncpus, uint64_t fseg, uint64_t high)
{
	struct acpi_blobs b = { 0 };
	REQUIRE_EQ(acpi_build_blobs(ncpus, d, &b), 0);
	struct space s = {
		.f = { { ACPI_FILE_TABLES, b.tables, b.tables_len, 0 }, { ACPI_FILE_RSDP, b.rsdp, b.rsdp_len, 0 } },
		.fseg = fseg, .high = high,
	};
	char err[256] = "";
	REQUIRE_EQ(fw_loader_run(b.loader.cmds, b.loader.len, s.f, 2, place, &s, err, sizeof(err)), 0);
	CHECK_EQ(s.f[0].addr % 64, 0);
	CHECK_EQ(s.f[1].addr % 16, 0);
	CHECK(s.f[1].addr >= fseg && s.f[0].addr >= high);
	const uint8_t *r = s.f[1].data;
	CHECK(memcmp(r, "RSD PTR ", 8) == 0);
	CHECK_EQ(fw_byte_sum(r, 20), 0);
	CHECK_EQ(fw_byte_sum(r, 36), 0);
	CHECK_EQ(r[15], 2);
	const uint8_t *rsdt = table(&s, le_load(r + 16, 4), "RSDT");
	const uint8_t *xsdt = table(&s, le_load(r + 24, 8), "XSDT");
	REQUIRE(rsdt && xsdt);
	unsigned n = (unsigned)(le_load(xsdt + 4, 4) - 36) / 8;
	CHECK_EQ(n, (le_load(rsdt + 4, 4) - 36) / 4);
	const uint8_t *fadt = NULL, *madt = NULL;
	for (unsigned i = 0; i < n; i++) {
		uint64_t a = le_load(xsdt + 36 + 8 * i, 8);
		CHECK_EQ_HEX(le_load(rsdt + 36 + 4 * i, 4), a);
		const uint8_t *t = at(&s, a, 4);
		REQUIRE(t != NULL);
		if (!memcmp(t, "FACP", 4))
			fadt = table(&s, a, "FACP");
		else
			madt = table(&s, a, "APIC");
	}
	REQUIRE(fadt && madt);
	CHECK_EQ_HEX(le_load(fadt + 36, 4), le_load(fadt + 132, 8));   /* FACS, X_FACS */
	CHECK_EQ_HEX(le_load(fadt + 40, 4), le_load(fadt + 140, 8));   /* DSDT, X_DSDT */
	CHECK(table(&s, le_load(fadt + 140, 8), "DSDT") != NULL);
	uint64_t facs = le_load(fadt + 132, 8);
	const uint8_t *fc = at(&s, facs, 64);
	CHECK(fc && memcmp(fc, "FACS", 4) == 0 && facs % 64 == 0);
	acpi_blobs_free(&b);
	CHECK(b.tables == NULL && b.loader.cmds == NULL);
}

static void devices(struct acpi_devices *d)
{
	memset(d, 0, sizeof(*d));
	d->pci = true;
	d->pci_mmio_base = 0x80000000;
	d->pci_mmio_size = 0xfec00000 - 0x80000000ull;
	d->pci_intx_gsi_base = 16;
	d->pm_base = ACPI_PM_BASE;
	d->pm_timer = true;
}

TEST(placed_in_fseg_and_high)
{
	struct acpi_devices d;
	devices(&d);
	/* as SeaBIOS: the RSDP in the F segment, the tables at the top of low RAM */
	build_and_walk(&d, 2, 0xf5a30, 0x7ffdf040);
	/* elsewhere: both low, the tables in the E segment */
	build_and_walk(&d, 64, 0xfe9c0, 0xe4000);
	build_and_walk(NULL, 1, 0xf0000, 0xbff00000);
}

TEST(loader_commands)
{
	struct acpi_blobs b = { 0 };
	REQUIRE_EQ(acpi_build_blobs(4, NULL, &b), 0);
	REQUIRE(b.loader.len % FW_LOADER_CMD_LEN == 0);
	unsigned alloc = 0, ptr = 0, sum = 0;
	for (size_t o = 0; o < b.loader.len; o += FW_LOADER_CMD_LEN) {
		const uint8_t *c = b.loader.cmds + o;
		const char *name = (const char *)c + 4;
		switch (le_load(c, 4)) {
		case FW_LOADER_ALLOCATE:
			alloc++;
			if (!strcmp(name, ACPI_FILE_RSDP)) {
				CHECK_EQ(le_load(c + 60, 4), 16);
				CHECK_EQ(c[64], FW_LOADER_ZONE_FSEG);
			} else {
				CHECK_STR_EQ(name, ACPI_FILE_TABLES);
				CHECK_EQ(le_load(c + 60, 4), 64);
				CHECK_EQ(c[64], FW_LOADER_ZONE_HIGH);
			}
			break;
		case FW_LOADER_ADD_POINTER:
			ptr++;
			CHECK_STR_EQ((const char *)c + 60, ACPI_FILE_TABLES);
			break;
		case FW_LOADER_ADD_CHECKSUM:
			sum++;
			break;
		default:
			UNIT_FAIL_("unexpected command %u", (unsigned)le_load(c, 4));
		}
	}
	CHECK_EQ(alloc, 2);
	CHECK_EQ(ptr, 2 + 4 + 2 + 2);  /* RSDP 2, FADT 4, XSDT 2, RSDT 2 */
	CHECK_EQ(sum, 5 + 2);          /* DSDT, FADT, MADT, XSDT, RSDT; the RSDP's two */
	/* unpatched, the pointers are offsets into the blob */
	CHECK(le_load(b.rsdp + 24, 8) < b.tables_len);
	CHECK_EQ(le_load(b.rsdp + 24, 8) % 16, 0);
	acpi_blobs_free(&b);
	CHECK_EQ(acpi_build_blobs(0, NULL, &b), -EINVAL);
	CHECK_EQ(acpi_build_blobs(256, NULL, &b), -EINVAL);
	CHECK(b.tables == NULL);
}

/* The FADT of acpi_build_blobs(d) after a placement, in *f (276 bytes). */
static void fadt_of(const struct acpi_devices *d, uint8_t *f)
{
	struct acpi_blobs b = { 0 };
	REQUIRE_EQ(acpi_build_blobs(1, d, &b), 0);
	struct space s = {
		.f = { { ACPI_FILE_TABLES, b.tables, b.tables_len, 0 }, { ACPI_FILE_RSDP, b.rsdp, b.rsdp_len, 0 } },
		.fseg = 0xf0000, .high = 0x100000,
	};
	char err[256];
	REQUIRE_EQ(fw_loader_run(b.loader.cmds, b.loader.len, s.f, 2, place, &s, err, sizeof(err)), 0);
	const uint8_t *x = at(&s, le_load(b.rsdp + 24, 8), 44);
	REQUIRE(x != NULL);
	const uint8_t *t = at(&s, le_load(x + 36, 8), 276);
	REQUIRE(t && !memcmp(t, "FACP", 4));
	memcpy(f, t, 276);
	acpi_blobs_free(&b);
}

TEST(fadt_pm_block_and_timer)
{
	uint8_t f[276];
	/* default: the PM block at ACPI_PM_BASE, no timer (what a direct boot always had) */
	fadt_of(NULL, f);
	CHECK_EQ_HEX(le_load(f + 56, 4), ACPI_PM_BASE);
	CHECK_EQ(le_load(f + 76, 4), 0);
	CHECK_EQ(f[91], 0);
	CHECK_EQ(f[208], 0);
	/* moved by the firmware, with the timer */
	struct acpi_devices d;
	memset(&d, 0, sizeof(d));
	d.pm_base = 0xb000;
	d.pm_timer = true;
	fadt_of(&d, f);
	CHECK_EQ(fw_byte_sum(f, 276), 0);
	CHECK_EQ_HEX(le_load(f + 56, 4), 0xb000);                      /* PM1a_EVT_BLK */
	CHECK_EQ_HEX(le_load(f + 64, 4), 0xb000 + ACPI_PM1_CNT_OFF);   /* PM1a_CNT_BLK */
	CHECK_EQ_HEX(le_load(f + 120, 8), 0xb000 + ACPI_RESET_OFF);    /* RESET_REG */
	CHECK_EQ_HEX(le_load(f + 76, 4), 0xb008);                      /* PM_TMR_BLK */
	CHECK_EQ(f[91], 4);                                            /* PM_TMR_LEN */
	CHECK_EQ(f[208], 1);                                           /* X_PM_TMR_BLK: I/O */
	CHECK_EQ(f[209], 32);
	CHECK_EQ_HEX(le_load(f + 212, 8), 0xb008);
	CHECK_EQ_HEX(le_load(f + 152, 8), 0xb000);                     /* X_PM1a_EVT_BLK */
	CHECK_EQ_HEX(le_load(f + 176, 8), 0xb004);                     /* X_PM1a_CNT_BLK */
	CHECK(!(le_load(f + 112, 4) & (1u << 8)));                     /* TMR_VAL_EXT: 24 bits */
}

TEST(pci_window_in_crs)
{
	struct acpi_devices d;
	devices(&d);
	struct acpi_blobs b = { 0 };
	REQUIRE_EQ(acpi_build_blobs(1, &d, &b), 0);
	/* DWordMemory: min 0x80000000, max 0xfebfffff, length 0x7ec00000 */
	uint8_t want[26] = { 0x87, 0x17, 0x00, 0x00, 0x0c, 0x01 };
	le_store(want + 10, 0x80000000, 4);
	le_store(want + 14, 0xfebfffff, 4);
	le_store(want + 22, 0x7ec00000, 4);
	uint32_t dsdt_len = (uint32_t)le_load(b.tables + 4, 4);
	CHECK(memcmp(b.tables, "DSDT", 4) == 0);
	bool found = false;
	for (uint32_t i = 36; i + sizeof(want) <= dsdt_len && !found; i++)
		found = !memcmp(b.tables + i, want, sizeof(want));
	CHECK(found);
	acpi_blobs_free(&b);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
