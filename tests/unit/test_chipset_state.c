/* Unit tests for the saved states of the chipset (src/devices/chipset: sections I44F, PIIX,
 * P92 ) and of the ACPI PM block (section ACPI, version 2 with its place, version 1 still read):
 * round trips into a machine built again, and forged or short sections refused with the device
 * unchanged. No KVM. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "devices/dev_state.h"
#include "util/log.h"
#include "unit.h"
#include "chipset_machine.h"

static int load(const struct dev_state_ops *ops, void *dev, const struct enc *e, uint32_t version, char *err)
{
	struct dec d;
	dec_init(&d, e->buf, e->len);
	return ops->load(dev, &d, version, err, 256);
}

TEST(i440fx_state_round_trip)
{
	static struct cm a, b;
	REQUIRE_EQ(cm_build(&a), 0);
	REQUIRE_EQ(cm_build(&b), 0);
	cm_cfg_write(&a, 0, 0, I440FX_PAM0, 0x30, 1);
	cm_cfg_write(&a, 0, 0, I440FX_PAM0 + 3, 0x11, 1);
	cm_cfg_write(&a, 0, 0, I440FX_SMRAM, 0x0a, 1);
	struct enc e;
	enc_init(&e);
	i440fx_state_ops.save(&a.host, &e);
	REQUIRE_EQ(e.err, 0);
	CHECK_EQ(e.len, PCI_CFG_SIZE);
	char err[256] = "";
	CHECK_EQ(load(&i440fx_state_ops, &b.host, &e, 1, err), 0);
	CHECK_EQ(b.pam_calls, 1);                  /* the machine hears of the loaded PAM */
	CHECK_EQ_HEX(b.pam[0], 0x30);
	CHECK_EQ_HEX(b.pam[3], 0x11);
	CHECK_EQ_HEX(cm_cfg_read(&b, 0, 0, I440FX_SMRAM, 1), 0x0a);
	/* forged: another device ID; short; long */
	e.buf[PCI_DEVICE_ID] ^= 1;
	CHECK_EQ(load(&i440fx_state_ops, &b.host, &e, 1, err), -EINVAL);
	CHECK_CONTAINS(err, "byte 0x2");
	e.buf[PCI_DEVICE_ID] ^= 1;
	e.len--;
	CHECK_EQ(load(&i440fx_state_ops, &b.host, &e, 1, err), -EINVAL);
	e.len += 2;
	CHECK_EQ(load(&i440fx_state_ops, &b.host, &e, 1, err), -EINVAL);
	CHECK_EQ(b.pam_calls, 1);
	enc_free(&e);
	cm_free(&a);
	cm_free(&b);
}

TEST(piix_state_round_trip_places_the_pm_block)
{
	static struct cm a, b;
	REQUIRE_EQ(cm_build(&a), 0);
	REQUIRE_EQ(cm_build(&b), 0);
	cm_cfg_write(&a, 1, 0, PIIX_PIRQRC, 0x0b0b0a0au, 4);
	cm_cfg_write(&a, 1, 3, PIIX_PMBA, 0x601, 4);
	cm_cfg_write(&a, 1, 3, PIIX_PMREGMISC, 1, 1);
	cm_cfg_write(&a, 1, 3, PIIX_SMBBA, 0x701, 4);
	struct enc e;
	enc_init(&e);
	piix_state_ops.save(&a.piix, &e);
	REQUIRE_EQ(e.err, 0);
	CHECK_EQ(e.len, 2 * PCI_CFG_SIZE);
	char err[256] = "";
	CHECK_EQ_HEX(cm_in(&b, 0x604, 2), 0xffff);
	CHECK_EQ(load(&piix_state_ops, &b.piix, &e, 1, err), 0);
	CHECK_EQ_HEX(cm_cfg_read(&b, 1, 0, PIIX_PIRQRC, 4), 0x0b0b0a0au);
	CHECK_EQ_HEX(cm_cfg_read(&b, 1, 3, PIIX_SMBBA, 4), 0x701);
	CHECK_EQ_HEX(cm_in(&b, 0x604, 2), 1);        /* the PM block decodes where PMBA says */
	/* forged: the PM function's DEVACTB without APMC_EN; the ISA bridge not multi-function.
	 * Neither function changes (the first is checked before the second is applied). */
	cm_cfg_write(&a, 1, 0, PIIX_PIRQRC, 0x80808080u, 4);
	enc_free(&e);
	enc_init(&e);
	piix_state_ops.save(&a.piix, &e);
	e.buf[PCI_CFG_SIZE + PIIX_DEVACTB + 3] = 0;
	CHECK_EQ(load(&piix_state_ops, &b.piix, &e, 1, err), -EINVAL);
	CHECK_CONTAINS(err, "piix4-pm");
	CHECK_EQ_HEX(cm_cfg_read(&b, 1, 0, PIIX_PIRQRC, 4), 0x0b0b0a0au);
	e.buf[PCI_CFG_SIZE + PIIX_DEVACTB + 3] = 0x02;
	e.buf[PCI_HEADER_TYPE] = 0;
	CHECK_EQ(load(&piix_state_ops, &b.piix, &e, 1, err), -EINVAL);
	CHECK_CONTAINS(err, "piix3-isa");
	e.len = PCI_CFG_SIZE;
	CHECK_EQ(load(&piix_state_ops, &b.piix, &e, 1, err), -EINVAL);
	CHECK_EQ_HEX(cm_in(&b, 0x604, 2), 1);
	enc_free(&e);
	cm_free(&a);
	cm_free(&b);
}

TEST(acpi_pm_state_versions)
{
	static struct cm a, b;
	REQUIRE_EQ(cm_build(&a), 0);
	REQUIRE_EQ(cm_build(&b), 0);
	cm_cfg_write(&a, 1, 3, PIIX_PMBA, 0xb001, 4);
	cm_cfg_write(&a, 1, 3, PIIX_PMREGMISC, 1, 1);
	cm_out(&a, 0xb002, 0x0121, 2);
	struct enc e;
	enc_init(&e);
	acpi_pm_state_ops.save(&a.pm, &e);
	REQUIRE_EQ(e.err, 0);
	CHECK_EQ(e.len, 9);
	CHECK_EQ(acpi_pm_state_ops.version, 2);
	CHECK_EQ(acpi_pm_state_ops.min_version, 1);
	char err[256] = "";
	CHECK_EQ(load(&acpi_pm_state_ops, &b.pm, &e, 2, err), 0);
	CHECK_EQ_HEX(cm_in(&b, 0xb002, 2), 0x0121);
	/* version 1 (a direct-boot VM's: the three registers): at ACPI_PM_BASE, enabled */
	e.len = 6;
	CHECK_EQ(load(&acpi_pm_state_ops, &b.pm, &e, 1, err), 0);
	CHECK_EQ_HEX(cm_in(&b, ACPI_PM_BASE + 2, 2), 0x0121);
	CHECK_EQ_HEX(cm_in(&b, 0xb002, 2), 0xffff);
	/* a direct-boot block (registered by the machine, never moved) refuses another place */
	struct acpi_pm fixed;
	struct power_rec pr;
	acpi_pm_init(&fixed, recorder(&pr));
	e.len = 9;
	CHECK_EQ(load(&acpi_pm_state_ops, &fixed, &e, 2, err), -EINVAL);
	CHECK_CONTAINS(err, "fixed at 0x600");
	CHECK_EQ(fixed.st.pm1_en, 0);
	e.len = 6;
	CHECK_EQ(load(&acpi_pm_state_ops, &fixed, &e, 1, err), 0);
	CHECK_EQ(fixed.st.pm1_en, 0x0121);
	/* a bool that is not one */
	e.len = 9;
	e.buf[8] = 7;
	CHECK_EQ(load(&acpi_pm_state_ops, &b.pm, &e, 2, err), -EINVAL);
	enc_free(&e);
	cm_free(&a);
	cm_free(&b);
}

TEST(port92_state_round_trip)
{
	static struct cm a, b;
	REQUIRE_EQ(cm_build(&a), 0);
	REQUIRE_EQ(cm_build(&b), 0);
	cm_out(&a, APM_PORT, 0xa55a, 2);
	struct enc e;
	enc_init(&e);
	port92_state_ops.save(&a.p92, &e);
	CHECK_EQ(e.len, 2);
	char err[256] = "";
	CHECK_EQ(load(&port92_state_ops, &b.p92, &e, 1, err), 0);
	CHECK_EQ_HEX(cm_in(&b, APM_PORT, 2), 0xa55a);
	e.len = 1;
	CHECK_EQ(load(&port92_state_ops, &b.p92, &e, 1, err), -EINVAL);
	CHECK_EQ_HEX(cm_in(&b, APM_PORT, 2), 0xa55a);
	enc_free(&e);
	cm_free(&a);
	cm_free(&b);
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF);
	return unit_main(argc, argv);
}
