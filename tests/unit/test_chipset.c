/* Unit tests for the chipset of a firmware-booted VM (src/devices/chipset: the i440FX, PIIX3's
 * ISA bridge and PIIX4's PM function, port 0x92 and APM), the PCI bus's multi-function slots
 * and firmware windows (src/devices/pci/pci.c) and the ACPI PM block's move and timer
 * (src/devices/legacy/acpi_pm.c), driven through the port bus as SeaBIOS drives them. No KVM. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/log.h"
#include "util/util.h"
#include "unit.h"
#include "chipset_machine.h"

/* What SeaBIOS's pci_probe_devices finds on bus 0: (dev << 3 | fn) of each function. */
static unsigned scan(struct cm *m, unsigned *found, unsigned max)
{
	unsigned n = 0;
	for (unsigned dev = 0; dev < 32; dev++) {
		for (unsigned fn = 0; fn < 8; fn++) {
			if (cm_cfg_read(m, dev, fn, PCI_VENDOR_ID, 2) == 0xffff) {
				if (fn == 0)
					break;
				continue;
			}
			if (n < max)
				found[n] = dev << 3 | fn;
			n++;
			if (fn == 0 && !(cm_cfg_read(m, dev, 0, PCI_HEADER_TYPE, 1) & PCI_HEADER_TYPE_MULTI))
				break;
		}
	}
	return n;
}

TEST(chipset_firmware_scan_finds_the_functions)
{
	static struct cm m;
	REQUIRE_EQ(cm_build(&m), 0);
	unsigned f[8];
	REQUIRE_EQ(scan(&m, f, 8), 4);
	CHECK_EQ(f[0], 0 << 3 | 0);
	CHECK_EQ(f[1], 1 << 3 | 0);
	CHECK_EQ(f[2], 1 << 3 | 3);
	CHECK_EQ(f[3], 2 << 3 | 0);      /* pci_bus_add puts devices after the chipset */
	CHECK_EQ_HEX(cm_cfg_read(&m, 0, 0, PCI_VENDOR_ID, 4), 0x12378086u);
	CHECK_EQ_HEX(cm_cfg_read(&m, 0, 0, PCI_REVISION_ID, 1), 2);
	CHECK_EQ_HEX(cm_cfg_read(&m, 0, 0, PCI_CLASS_DEVICE, 2), 0x0600);
	/* SeaBIOS's qemu_detect */
	CHECK_EQ_HEX(cm_cfg_read(&m, 0, 0, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
	CHECK_EQ_HEX(cm_cfg_read(&m, 0, 0, PCI_SUBSYSTEM_ID, 2), 0x1100);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 0, PCI_VENDOR_ID, 4), 0x70008086u);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 0, PCI_CLASS_DEVICE, 2), 0x0601);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 0, PCI_HEADER_TYPE, 1), 0x80);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 3, PCI_VENDOR_ID, 4), 0x71138086u);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 3, PCI_CLASS_DEVICE, 2), 0x0680);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 3, PCI_INTERRUPT_LINE, 1), 9);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 3, PCI_INTERRUPT_PIN, 1), 1);
	/* the functions that are not there, and the bus's own host bridge is gone */
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 1, PCI_VENDOR_ID, 4), 0xffffffffu);
	CHECK_EQ_HEX(cm_cfg_read(&m, 0, 0, PCI_HEADER_TYPE, 1), 0);
	cm_free(&m);
}

TEST(chipset_firmware_bus_leaves_bars_to_the_firmware)
{
	static struct cm m;
	REQUIRE_EQ(cm_build(&m), 0);
	CHECK_EQ(m.nic.slot, 2);
	CHECK_EQ_HEX(cm_cfg_read(&m, 2, 0, PCI_BAR0, 4), 0);
	CHECK_EQ_HEX(cm_cfg_read(&m, 2, 0, PCI_BAR0 + 4, 4), 1);
	CHECK_EQ_HEX(cm_cfg_read(&m, 2, 0, PCI_COMMAND, 2), 0);
	CHECK_EQ(m.nic.bar_mapped[0], 0);
	CHECK_EQ(m.nic.bar_mapped[1], 0);
	/* the firmware sizes and places them, then enables decoding */
	cm_cfg_write(&m, 2, 0, PCI_BAR0, 0xffffffff, 4);
	CHECK_EQ_HEX(cm_cfg_read(&m, 2, 0, PCI_BAR0, 4), 0xffffc000u);
	cm_cfg_write(&m, 2, 0, PCI_BAR0 + 4, 0xffffffff, 4);
	CHECK_EQ_HEX(cm_cfg_read(&m, 2, 0, PCI_BAR0 + 4, 4), 0xffe1u);
	cm_cfg_write(&m, 2, 0, PCI_BAR0, 0xfebf0000u, 4);
	cm_cfg_write(&m, 2, 0, PCI_BAR0 + 4, 0xc040, 4);
	CHECK_EQ(m.nic.bar_mapped[0], 0);
	cm_cfg_write(&m, 2, 0, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
	CHECK_EQ_HEX(m.nic.bar_mapped[0], 0xfebf0000u);
	CHECK_EQ_HEX(m.nic.bar_mapped[1], 0xc040);
	/* hostile: BARs outside the windows are not decoded (an I/O BAR's address is masked to
	 * its size: 0xfff0 is 0xffe0, the window's last 32 ports) */
	cm_cfg_write(&m, 2, 0, PCI_BAR0, 0xfffff000u, 4);
	CHECK_EQ(m.nic.bar_mapped[0], 0);
	cm_cfg_write(&m, 2, 0, PCI_BAR0, 0x7fffc000u, 4);
	CHECK_EQ(m.nic.bar_mapped[0], 0);
	cm_cfg_write(&m, 2, 0, PCI_BAR0 + 4, 0xfff0, 4);
	CHECK_EQ_HEX(m.nic.bar_mapped[1], 0xffe0);
	cm_cfg_write(&m, 2, 0, PCI_BAR0 + 4, 0xbff0, 4);
	CHECK_EQ(m.nic.bar_mapped[1], 0);
	cm_cfg_write(&m, 2, 0, PCI_BAR0 + 4, 0xfe00, 4);
	CHECK_EQ_HEX(m.nic.bar_mapped[1], 0xfe00);
	cm_free(&m);
}

TEST(pci_bus_add_at_checks_places)
{
	static struct cm m;
	REQUIRE_EQ(cm_build(&m), 0);
	struct pci_device d;
	pci_device_init(&d, "x", 1, 2, 0, 0, 0, 0, NULL, NULL);
	CHECK_EQ(pci_bus_add_at(&m.pci, &d, 32, 0), -EINVAL);
	CHECK_EQ(pci_bus_add_at(&m.pci, &d, 3, 8), -EINVAL);
	CHECK_EQ(pci_bus_add_at(&m.pci, &d, 3, 1), -EINVAL);   /* no function 0 there */
	CHECK_EQ(pci_bus_add_at(&m.pci, &d, 0, 0), -EEXIST);   /* the i440FX is there now */
	CHECK_EQ(pci_bus_add_at(&m.pci, &d, 1, 3), -EEXIST);
	CHECK_EQ(pci_bus_add_at(&m.pci, &d, 2, 5), 0);         /* sets the nic's multi-function bit */
	CHECK_EQ_HEX(cm_cfg_read(&m, 2, 0, PCI_HEADER_TYPE, 1), 0x80);
	CHECK_EQ_HEX(cm_cfg_read(&m, 2, 5, PCI_VENDOR_ID, 4), 0x00020001u);
	cm_free(&m);
}

TEST(i440fx_pam_as_seabios_writes_it)
{
	static struct cm m;
	REQUIRE_EQ(cm_build(&m), 0);
	CHECK_EQ(m.pam_calls, 0);
	/* make_bios_writable: dwords at 0x58 and 0x5c, PAM0 = 0x30, PAM1..6 = 0x33 */
	uint32_t lo = cm_cfg_read(&m, 0, 0, 0x58, 4), hi = cm_cfg_read(&m, 0, 0, 0x5c, 4);
	CHECK_EQ_HEX(lo, 0);
	CHECK_EQ_HEX(hi, 0);
	cm_cfg_write(&m, 0, 0, 0x58, (lo & 0xff) | 0x33333000u, 4);
	cm_cfg_write(&m, 0, 0, 0x5c, 0x33333333u, 4);
	CHECK_EQ(m.pam_calls, 2);
	const uint8_t want[7] = { 0x30, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33 };
	CHECK(memcmp(m.pam, want, 7) == 0);
	/* make_bios_readonly: 0x10 and 0x11 */
	cm_cfg_write(&m, 0, 0, I440FX_PAM0, 0x10, 1);
	CHECK_EQ(m.pam_calls, 3);
	CHECK_EQ_HEX(m.pam[0], 0x10);
	/* reserved bits and the bytes around PAM ignore writes; no call for those */
	cm_cfg_write(&m, 0, 0, 0x58, 0xffffffffu, 4);
	CHECK_EQ_HEX(cm_cfg_read(&m, 0, 0, 0x58, 4), 0x33333000u);
	cm_cfg_write(&m, 0, 0, 0x60, 0xffffffffu, 4);
	CHECK_EQ_HEX(cm_cfg_read(&m, 0, 0, 0x60, 4), 0);
	CHECK_EQ(m.pam_calls, 4);   /* the write at 0x58 touches PAM1..2; the one at 0x60 nothing */
	uint8_t pam[7];
	i440fx_pam(&m.host, pam);
	CHECK_EQ_HEX(pam[0], 0x30);
	/* SMRAM: C_BASE_SEG hardwired, the rest stored */
	CHECK_EQ_HEX(cm_cfg_read(&m, 0, 0, I440FX_SMRAM, 1), 0x02);
	cm_cfg_write(&m, 0, 0, I440FX_SMRAM, 0xff, 1);
	CHECK_EQ_HEX(cm_cfg_read(&m, 0, 0, I440FX_SMRAM, 1), 0x7a);
	/* IDs are read-only */
	cm_cfg_write(&m, 0, 0, PCI_VENDOR_ID, 0, 4);
	cm_cfg_write(&m, 0, 0, PCI_SUBSYSTEM_VENDOR_ID, 0, 4);
	CHECK_EQ_HEX(cm_cfg_read(&m, 0, 0, PCI_VENDOR_ID, 4), 0x12378086u);
	CHECK_EQ_HEX(cm_cfg_read(&m, 0, 0, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x11001af4u);
	/* a reset: PAM back to 0 (reads from ROM), told */
	unsigned calls = m.pam_calls;
	i440fx_reset(&m.host);
	CHECK_EQ(m.pam_calls, calls + 1);
	CHECK(memcmp(m.pam, "\0\0\0\0\0\0\0", 7) == 0);
	CHECK_EQ_HEX(cm_cfg_read(&m, 0, 0, I440FX_SMRAM, 1), 0x02);
	cm_free(&m);
}

TEST(piix_isa_bridge_registers)
{
	static struct cm m;
	REQUIRE_EQ(cm_build(&m), 0);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 0, PIIX_PIRQRC, 4), 0x80808080u);
	/* piix_isa_bridge_setup: 10, 10, 11, 11 */
	for (unsigned i = 0; i < 4; i++)
		cm_cfg_write(&m, 1, 0, PIIX_PIRQRC + i, i < 2 ? 10 : 11, 1);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 0, PIIX_PIRQRC, 4), 0x0b0b0a0au);
	cm_cfg_write(&m, 1, 0, PIIX_PIRQRC, 0xffffffffu, 4);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 0, PIIX_PIRQRC, 4), 0x8f8f8f8fu);
	cm_cfg_write(&m, 1, 0, PCI_HEADER_TYPE, 0, 1);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 0, PCI_HEADER_TYPE, 1), 0x80);
	piix_reset(&m.piix);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 0, PIIX_PIRQRC, 4), 0x80808080u);
	cm_free(&m);
}

/* PM1_CNT of a block at base: SCI_EN, or 0xffff where nothing decodes. */
static uint32_t pm1_cnt(struct cm *m, uint16_t base)
{
	return cm_in(m, base + ACPI_PM1_CNT_OFF, 2);
}

TEST(piix_pmba_moves_the_pm_block)
{
	static struct cm m;
	REQUIRE_EQ(cm_build(&m), 0);
	/* power-on: PMBA 1, PMREGMISC 0: the block decodes nowhere */
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 3, PIIX_PMBA, 4), 1);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 3, PIIX_PMREGMISC, 1), 0);
	CHECK_EQ_HEX(pm1_cnt(&m, ACPI_PM_BASE), 0xffff);
	CHECK(!m.pm.mapped);
	/* SeaBIOS's piix4_pm_config_setup with the table loader: 0x600 | 1, then enable */
	cm_cfg_write(&m, 1, 3, PIIX_PMBA, 0x601, 4);
	CHECK_EQ_HEX(pm1_cnt(&m, 0x600), 0xffff);          /* not enabled yet */
	cm_cfg_write(&m, 1, 3, PIIX_PMREGMISC, 1, 1);
	CHECK_EQ_HEX(pm1_cnt(&m, 0x600), 1);               /* SCI_EN */
	CHECK(cm_in(&m, 0x600 + ACPI_PM_TMR_OFF, 4) <= 0xffffff);
	/* moved: the old ports dead, the new ones live, state kept */
	cm_out(&m, 0x600 + 2, 0x0100, 2);                  /* PM1_EN */
	cm_cfg_write(&m, 1, 3, PIIX_PMBA, 0xb001, 4);
	CHECK_EQ_HEX(pm1_cnt(&m, 0x600), 0xffff);
	CHECK_EQ_HEX(pm1_cnt(&m, 0xb000), 1);
	CHECK_EQ_HEX(cm_in(&m, 0xb002, 2), 0x0100);
	CHECK_EQ(m.pm.st.base, 0xb000);
	/* disabled by PMREGMISC */
	cm_cfg_write(&m, 1, 3, PIIX_PMREGMISC, 0, 1);
	CHECK_EQ_HEX(pm1_cnt(&m, 0xb000), 0xffff);
	cm_cfg_write(&m, 1, 3, PIIX_PMREGMISC, 0xff, 1);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 3, PIIX_PMREGMISC, 1), 1);
	CHECK_EQ_HEX(pm1_cnt(&m, 0xb000), 1);
	/* absurd: every bit written; only 15:6 stick, bit 0 stays. 0xffc0 is in the PCI I/O
	 * window [0xc000, 0x10000), another device's ports: refused, the block decodes nowhere,
	 * the window untouched (a BAR there still answers); then a free place works again */
	cm_cfg_write(&m, 2, 0, PCI_BAR0 + 4, 0xffc0, 4);
	cm_cfg_write(&m, 2, 0, PCI_COMMAND, PCI_COMMAND_IO, 2);
	CHECK_EQ_HEX(m.nic.bar_mapped[1], 0xffc0);
	cm_cfg_write(&m, 1, 3, PIIX_PMBA, 0xffffffffu, 4);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 3, PIIX_PMBA, 4), 0xffc1u);
	CHECK(!m.pm.mapped);
	CHECK_EQ(m.pm.st.base, 0xffc0);
	CHECK_EQ_HEX(pm1_cnt(&m, 0xb000), 0xffff);
	CHECK_EQ_HEX(pm1_cnt(&m, 0xffc0), 0xffff);          /* the nic's BAR: no bar_read */
	CHECK_EQ_HEX(m.nic.bar_mapped[1], 0xffc0);
	cm_cfg_write(&m, 1, 3, PIIX_PMBA, 0x0cc0, 2);      /* next to 0xcf8, not on it */
	CHECK_EQ_HEX(pm1_cnt(&m, 0x0cc0), 1);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 3, PCI_VENDOR_ID, 2), 0x8086); /* 0xcf8 still works */
	/* a byte write to PMBA's high byte moves it too */
	cm_cfg_write(&m, 1, 3, PIIX_PMBA + 1, 0x06, 1);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 3, PIIX_PMBA, 4), 0x06c1u);
	CHECK_EQ_HEX(pm1_cnt(&m, 0x06c0), 1);
	/* a reset: back to nowhere */
	piix_reset(&m.piix);
	CHECK_EQ_HEX(pm1_cnt(&m, 0x06c0), 0xffff);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 3, PIIX_PMBA, 4), 1);
	cm_free(&m);
}

TEST(piix_pm_other_registers)
{
	static struct cm m;
	REQUIRE_EQ(cm_build(&m), 0);
	/* DEVACTB: APMC_EN set, so SeaBIOS's piix4_apmc_smm_setup returns at once; read-only */
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 3, PIIX_DEVACTB, 4), PIIX_DEVACTB_APMC_EN);
	cm_cfg_write(&m, 1, 3, PIIX_DEVACTB, 0, 4);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 3, PIIX_DEVACTB, 4), PIIX_DEVACTB_APMC_EN);
	/* SMBus: SeaBIOS writes (pm_base + 0x100) | 1 and 0x09 */
	cm_cfg_write(&m, 1, 3, PIIX_SMBBA, 0x701, 4);
	cm_cfg_write(&m, 1, 3, PIIX_SMBHSTCFG, 0x09, 1);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 3, PIIX_SMBBA, 4), 0x701);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 3, PIIX_SMBHSTCFG, 1), 0x09);
	cm_cfg_write(&m, 1, 3, PIIX_SMBBA, 0xffffffffu, 4);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 3, PIIX_SMBBA, 4), 0xfff1u);
	CHECK_EQ_HEX(cm_in(&m, 0xfff0, 1), 0xff);           /* nothing behind it */
	/* the interrupt line is the guest's to write (SeaBIOS writes 9) */
	cm_cfg_write(&m, 1, 3, PCI_INTERRUPT_LINE, 9, 1);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 3, PCI_INTERRUPT_LINE, 1), 9);
	cm_free(&m);
}

TEST(chipset_hostile_config_writes)
{
	/* every byte of every function written with every pattern, in every width: the IDs and
	 * the hardwired bits stay, the machine stays whole */
	static struct cm m;
	REQUIRE_EQ(cm_build(&m), 0);
	static const unsigned fns[][2] = { { 0, 0 }, { 1, 0 }, { 1, 3 }, { 2, 0 }, { 0, 1 }, { 31, 7 } };
	static const uint32_t pats[] = { 0xffffffffu, 0, 0x5a5aa5a5u, 0x80000001u };
	for (unsigned f = 0; f < sizeof(fns) / sizeof(fns[0]); f++)
		for (unsigned p = 0; p < sizeof(pats) / sizeof(pats[0]); p++)
			for (unsigned len = 1; len <= 4; len *= 2)
				for (unsigned off = 0; off < 256; off += len)
					cm_cfg_write(&m, fns[f][0], fns[f][1], off, pats[p], len);
	CHECK_EQ_HEX(cm_cfg_read(&m, 0, 0, PCI_VENDOR_ID, 4), 0x12378086u);
	CHECK_EQ_HEX(cm_cfg_read(&m, 0, 0, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x11001af4u);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 0, PCI_VENDOR_ID, 4), 0x70008086u);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 0, PCI_HEADER_TYPE, 1), 0x80);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 3, PCI_VENDOR_ID, 4), 0x71138086u);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 3, PIIX_DEVACTB, 4), PIIX_DEVACTB_APMC_EN);
	CHECK_EQ(cm_cfg_read(&m, 1, 3, PIIX_PMBA, 4) & 0xffff003fu, 1);
	CHECK_EQ_HEX(cm_cfg_read(&m, 0, 0, I440FX_SMRAM, 1) & 0x87, 0x02);
	/* the last pattern left PMBA 0x0000 | enable 1: the block sits at port 0 */
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 3, PIIX_PMBA, 4), 1);
	CHECK_EQ_HEX(cm_cfg_read(&m, 1, 3, PIIX_PMREGMISC, 1), 1);
	CHECK_EQ_HEX(pm1_cnt(&m, 0), 1);
	CHECK_EQ(m.power.n, 0);
	cm_free(&m);
}

TEST(acpi_pm_timer_runs_at_3579545_hz)
{
	static struct cm m;
	REQUIRE_EQ(cm_build(&m), 0);
	cm_cfg_write(&m, 1, 3, PIIX_PMBA, 0x601, 4);
	cm_cfg_write(&m, 1, 3, PIIX_PMREGMISC, 1, 1);
	uint64_t t0 = now_ns();
	uint32_t a = cm_in(&m, 0x600 + ACPI_PM_TMR_OFF, 4);
	struct timespec ts = { 0, 200 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	uint32_t b = cm_in(&m, 0x600 + ACPI_PM_TMR_OFF, 4);
	uint64_t t1 = now_ns();
	CHECK(a <= 0xffffff && b <= 0xffffff);
	uint32_t ticks = (b - a) & 0xffffff;
	/* the ticks lie between what the time just inside and just outside the reads allow */
	double want = (double)(t1 - t0) * ACPI_PM_TMR_HZ / 1e9;
	CHECK(ticks <= want + 2);
	CHECK(ticks >= 0.2 * ACPI_PM_TMR_HZ - 2);
	/* any width at any offset inside it; its top byte is 0 */
	CHECK_EQ(cm_in(&m, 0x600 + ACPI_PM_TMR_OFF + 3, 1), 0);
	uint32_t lo = cm_in(&m, 0x600 + ACPI_PM_TMR_OFF, 2), hi = cm_in(&m, 0x600 + ACPI_PM_TMR_OFF + 2, 2);
	CHECK(hi <= 0xff && lo <= 0xffff);
	/* read-only; writes do nothing */
	cm_out(&m, 0x600 + ACPI_PM_TMR_OFF, 0, 4);
	CHECK(((cm_in(&m, 0x600 + ACPI_PM_TMR_OFF, 4) - b) & 0xffffff) < 0x800000);
	CHECK_EQ(m.power.n, 0);
	cm_free(&m);
}

TEST(port92_and_apm)
{
	static struct cm m;
	REQUIRE_EQ(cm_build(&m), 0);
	CHECK_EQ_HEX(cm_in(&m, PORT92_PORT, 1), 0x02);     /* A20 on */
	cm_out(&m, PORT92_PORT, 0x00, 1);                   /* closing A20: ignored */
	CHECK_EQ_HEX(cm_in(&m, PORT92_PORT, 1), 0x02);
	cm_out(&m, PORT92_PORT, 0x02, 1);
	CHECK_EQ(m.power.n, 0);
	cm_out(&m, PORT92_PORT, 0x03, 1);                   /* fast reset */
	CHECK_EQ(m.power.n, 1);
	CHECK_EQ(m.power.reason, VM_STOP_RESET);
	/* APM: 0xb3 reads back, 0xb2 counted */
	CHECK_EQ_HEX(cm_in(&m, APM_PORT + 1, 1), 0);
	cm_out(&m, APM_PORT + 1, 0x5a, 1);
	CHECK_EQ_HEX(cm_in(&m, APM_PORT + 1, 1), 0x5a);
	cm_out(&m, APM_PORT, 0xf1, 1);
	cm_out(&m, APM_PORT, 0x00f0, 2);                    /* a word: 0xb2 = 0xf0, 0xb3 = 0 */
	CHECK_EQ(port92_apmc_writes(&m.p92), 2);
	CHECK_EQ_HEX(cm_in(&m, APM_PORT, 2), 0x00f0);
	port92_reset(&m.p92);
	CHECK_EQ_HEX(cm_in(&m, APM_PORT, 2), 0);
	CHECK_EQ(m.power.n, 1);
	cm_free(&m);
}

TEST(reset_control_register_at_0xcf9)
{
	static struct cm m;
	REQUIRE_EQ(cm_build(&m), 0);
	pci_bus_set_cf9(&m.pci, port92_rcr_read, port92_rcr_write, &m.p92);
	cm_out(&m, 0xcf8, 0x80000000u, 4);                 /* conf1's address register still a dword */
	CHECK_EQ_HEX(cm_in(&m, 0xcf8, 4), 0x80000000u);
	CHECK_EQ_HEX(cm_in(&m, 0xcf9, 1), 0);
	cm_out(&m, 0xcf9, 0x02, 1);                         /* SYS_RST alone: stored, no reset */
	CHECK_EQ_HEX(cm_in(&m, 0xcf9, 1), 0x02);
	CHECK_EQ(m.power.n, 0);
	CHECK_EQ_HEX(cm_in(&m, 0xcf8, 4), 0x80000000u);    /* the address latch untouched */
	cm_out(&m, 0xcf9, 0x06, 1);                         /* OVMF's ResetCold */
	CHECK_EQ(m.power.n, 1);
	CHECK_EQ(m.power.reason, VM_STOP_RESET);
	CHECK_CONTAINS(m.power.why, "0xcf9");
	cm_out(&m, 0xcf9, 0x0406, 2);                       /* not a byte: not the register */
	CHECK_EQ(m.power.n, 1);
	port92_reset(&m.p92);
	CHECK_EQ_HEX(cm_in(&m, 0xcf9, 1), 0);
	cm_free(&m);
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF);
	return unit_main(argc, argv);
}
