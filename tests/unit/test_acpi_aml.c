/* Unit tests for the AML writer (src/arch/x86/aml.c) and the DSDT's VM generation ID and GED:
 * byte-exact encodings, the devices in the DSDT, the tables below the VM generation ID page, and
 * the DSDT through iasl -d. */
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
	d->pvpanic_port = 0x505;
}

static const uint8_t *dsdt_of(const struct acpi_devices *d, uint32_t *len)
{
	uint64_t rsdp;
	if (acpi_build_devices(&M, 2, d, false, &rsdp) != 0)
		return NULL;
	const uint8_t *r = guest_mem_ptr(&M, rsdp, 36);
	const uint8_t *fadt = table(rd64(guest_mem_ptr(&M, rd64(r + 24), 44) + 36), "FACP");
	const uint8_t *dsdt = fadt ? table(rd64(fadt + 140), "DSDT") : NULL;
	if (dsdt)
		*len = rd32(dsdt + 4);
	return dsdt;
}

/* Fresh guest memory, the devices of genid_devices in d and the DSDT built for them. */
static const uint8_t *genid_dsdt(struct acpi_devices *d, uint32_t *len)
{
	mem_init();
	genid_devices(d);
	return dsdt_of(d, len);
}

TEST(dsdt_vmgenid_and_ged)
{
	struct acpi_devices d;
	uint32_t len = 0;
	const uint8_t *t = genid_dsdt(&d, &len);
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

/* The keyboard controller as SeaBIOS looks it up (acpi_dsdt_present_eisaid(0x0303)): a Name
 * (_HID) whose value is the EISA ID's DWord (0x0c 0x41 0xd0 0x03 0x03). Without it SeaBIOS said
 * "ACPI: no PS/2 keyboard present", set no keyboard up and GRUB's menu read no key typed over VNC
 * (2026-11-27). The mouse's PNP0F13 with it only when the mouse port is wired. */
TEST(dsdt_describes_the_keyboard_controller)
{
	struct acpi_devices d;
	uint32_t len = 0;
	mem_init();
	genid_devices(&d);
	static const uint8_t kbd[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x03, 0x03 };
	static const uint8_t mou[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0f, 0x13 };
	/* _CRS: IO 0x60, IO 0x64, IRQNoFlags {1}, end tag; the mouse's IRQNoFlags {12} */
	static const uint8_t kbd_crs[] = { 0x47, 0x01, 0x60, 0x00, 0x60, 0x00, 0x01, 0x01, 0x47, 0x01, 0x64, 0x00,
					   0x64, 0x00, 0x01, 0x01, 0x22, 0x02, 0x00, 0x79, 0x00 };
	static const uint8_t mou_crs[] = { 0x22, 0x00, 0x10, 0x79, 0x00 };
	const uint8_t *t = dsdt_of(&d, &len);
	REQUIRE(t != NULL);
	CHECK(!has_bytes(t, len, kbd, sizeof(kbd)));
	d.i8042 = true;
	t = dsdt_of(&d, &len);
	REQUIRE(t != NULL);
	CHECK(has_bytes(t, len, kbd, sizeof(kbd)));
	CHECK(has_bytes(t, len, kbd_crs, sizeof(kbd_crs)));
	CHECK(!has_bytes(t, len, mou, sizeof(mou)));
	d.i8042_mouse = true;
	t = dsdt_of(&d, &len);
	REQUIRE(t != NULL);
	CHECK(has_bytes(t, len, kbd, sizeof(kbd)));
	CHECK(has_bytes(t, len, mou, sizeof(mou)));
	CHECK(has_bytes(t, len, mou_crs, sizeof(mou_crs)));
	/* alone (no PCI, no virtio-mmio: a direct boot's smallest machine) it still opens \_SB */
	memset(&d, 0, sizeof(d));
	d.i8042 = true;
	t = dsdt_of(&d, &len);
	REQUIRE(t != NULL);
	CHECK(has_bytes(t, len, kbd, sizeof(kbd)));
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
	REQUIRE_EQ(acpi_build_devices(&M, 255, &d, false, &rsdp), 0);
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
	struct acpi_devices d;
	uint32_t len = 0;
	mem_init();
	genid_devices(&d);
	d.i8042 = d.i8042_mouse = true;
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
	CHECK_CONTAINS(dsl, "Device (PEVT)");
	CHECK_CONTAINS(dsl, "Name (_HID, \"QEMU0001\")");
	CHECK_CONTAINS(dsl, "IO (Decode16,");
	CHECK_CONTAINS(dsl, "0x0505,             // Range Minimum");
	CHECK_CONTAINS(dsl, "Name (_S5, Package");
	CHECK_CONTAINS(dsl, "Device (KBD)");
	CHECK_CONTAINS(dsl, "Name (_HID, EisaId (\"PNP0303\")");
	CHECK_CONTAINS(dsl, "0x0064,             // Range Minimum");
	CHECK_CONTAINS(dsl, "IRQNoFlags ()\n                    {1}");
	CHECK_CONTAINS(dsl, "Device (MOU)");
	CHECK_CONTAINS(dsl, "Name (_HID, EisaId (\"PNP0F13\")");
	CHECK_CONTAINS(dsl, "{12}");
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
