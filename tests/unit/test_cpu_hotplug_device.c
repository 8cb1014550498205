/* Unit tests for the vCPU hot-plug register block (src/devices/legacy/cpu_hotplug.c) without
 * KVM: as the guest's AML drives it, and with hostile register values. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "devices/legacy/cpu_hotplug.h"
#include "unit.h"

static unsigned ejected[8], nejected;

static void record_eject(void *opaque, unsigned cpu)
{
	(void)opaque;
	if (nejected < 8)
		ejected[nejected] = cpu;
	nejected++;
}

static void sel(struct cpu_hotplug *h, uint32_t cpu)
{
	uint8_t b[4] = { (uint8_t)cpu, (uint8_t)(cpu >> 8), (uint8_t)(cpu >> 16), (uint8_t)(cpu >> 24) };
	cpu_hotplug_write(h, CPUHP_SEL_OFF, b, 4);
}

static uint8_t status(struct cpu_hotplug *h)
{
	uint8_t b = 0xee;
	cpu_hotplug_read(h, CPUHP_STATUS_OFF, &b, 1);
	return b;
}

static void ctl(struct cpu_hotplug *h, uint8_t v)
{
	cpu_hotplug_write(h, CPUHP_STATUS_OFF, &v, 1);
}

/* What the DSDT's CSTA/CSCN/_EJ0 do, register by register. */
TEST(register_block_as_the_aml_uses_it)
{
	struct cpu_hotplug h;
	nejected = 0;
	cpu_hotplug_init(&h, 4, 2, CPUHP_PORT, record_eject, NULL);
	CHECK_EQ_HEX(h.st.present, 0x3);
	sel(&h, 0);
	CHECK_EQ_HEX(status(&h), CPUHP_ST_PRESENT);
	sel(&h, 2);
	CHECK_EQ_HEX(status(&h), 0);
	/* the selector reads back, whole or byte by byte */
	uint8_t b[4];
	cpu_hotplug_read(&h, 0, b, 4);
	CHECK_EQ(b[0], 2);
	CHECK_EQ(b[1] | b[2] | b[3], 0);

	/* hot-add of vCPU 2: present + inserting; the scan clears inserting by writing 1 */
	REQUIRE_EQ(cpu_hotplug_insert(&h, 2), 0);
	CHECK_EQ(cpu_hotplug_insert(&h, 2), -EINVAL); /* already there */
	CHECK_EQ_HEX(status(&h), CPUHP_ST_PRESENT | CPUHP_ST_INSERTING);
	ctl(&h, CPUHP_ST_INSERTING);
	CHECK_EQ_HEX(status(&h), CPUHP_ST_PRESENT);
	CHECK_EQ(cpu_hotplug_count(&h, NULL), 3);

	/* removal: removing bit, which the scan's acknowledgement leaves set, then _EJ0 ejects */
	REQUIRE_EQ(cpu_hotplug_request_remove(&h, 2), 0);
	unsigned removing = 0;
	CHECK_EQ(cpu_hotplug_count(&h, &removing), 3);
	CHECK_EQ(removing, 1);
	CHECK_EQ_HEX(status(&h), CPUHP_ST_PRESENT | CPUHP_ST_REMOVING);
	ctl(&h, CPUHP_ST_REMOVING);
	CHECK_EQ_HEX(status(&h), CPUHP_ST_PRESENT | CPUHP_ST_REMOVING);
	ctl(&h, CPUHP_CTL_EJECT);
	CHECK_EQ_HEX(status(&h), 0); /* _STA right after _EJ0 reads absent */
	CHECK_EQ(nejected, 1);
	CHECK_EQ(ejected[0], 2);
	CHECK_EQ(cpu_hotplug_count(&h, NULL), 2);
	CHECK_EQ(h.ejects, 1);

	/* the guest may eject a present CPU nobody asked for (sysfs eject): it goes */
	sel(&h, 1);
	ctl(&h, CPUHP_CTL_EJECT | CPUHP_ST_INSERTING | CPUHP_ST_REMOVING);
	CHECK_EQ(nejected, 2);
	CHECK_EQ(ejected[1], 1);
	CHECK_EQ_HEX(h.st.present, 0x1);
	/* and the same vCPU can come back */
	REQUIRE_EQ(cpu_hotplug_insert(&h, 1), 0);
	CHECK_EQ_HEX(status(&h), CPUHP_ST_PRESENT | CPUHP_ST_INSERTING);
}

TEST(hostile_register_values)
{
	struct cpu_hotplug h;
	nejected = 0;
	cpu_hotplug_init(&h, 4, 4, CPUHP_PORT, record_eject, NULL);
	/* vCPU 0, the boot CPU, is never ejected */
	sel(&h, 0);
	ctl(&h, 0xff);
	CHECK_EQ(nejected, 0);
	CHECK_EQ_HEX(status(&h), CPUHP_ST_PRESENT);
	CHECK_EQ(h.ignored, 1);
	/* selectors at and past max_cpus: status 0, control writes change nothing */
	static const uint32_t bad[] = { 4, 63, 64, 65, 0x80000000u, 0xffffffffu };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sel(&h, bad[i]);
		CHECK_EQ_HEX(status(&h), 0);
		ctl(&h, 0xff);
		CHECK_EQ(nejected, 0);
	}
	CHECK_EQ_HEX(h.st.present, 0xf);
	CHECK_EQ_HEX(h.st.inserting | h.st.removing, 0);
	/* a selector written byte by byte (WordAcc, ByteAcc from a hostile guest) */
	uint8_t one = 3;
	cpu_hotplug_write(&h, 0, &one, 1);
	uint8_t zero[3] = { 0 };
	cpu_hotplug_write(&h, 1, zero, 3);
	CHECK_EQ(h.st.selector, 3);
	/* ejecting an absent vCPU does nothing; twice in one write ejects once */
	ctl(&h, CPUHP_CTL_EJECT);
	CHECK_EQ(nejected, 1);
	ctl(&h, CPUHP_CTL_EJECT);
	CHECK_EQ(nejected, 1);
	/* reserved bytes read zero, writes to them are ignored; reads past the block too */
	uint8_t r[8];
	memset(r, 0xaa, sizeof(r));
	cpu_hotplug_write(&h, 5, (const uint8_t[]){ 0xff, 0xff, 0xff }, 3);
	cpu_hotplug_read(&h, 0, r, 8);
	CHECK_EQ(r[5] | r[6] | r[7], 0);
	cpu_hotplug_read(&h, 6, r, 4); /* runs past the 8 bytes: the bus never does, still safe */
	CHECK_EQ(r[0] | r[1] | r[2] | r[3], 0);
	/* a write covering selector and status at once selects first, then acts */
	sel(&h, 0);
	uint8_t wide[5] = { 2, 0, 0, 0, CPUHP_CTL_EJECT };
	cpu_hotplug_write(&h, 0, wide, 5);
	CHECK_EQ(nejected, 2);
	CHECK_EQ(ejected[1], 2);
	/* the VMM side refuses what does not fit */
	CHECK_EQ(cpu_hotplug_insert(&h, 4), -EINVAL);
	CHECK_EQ(cpu_hotplug_request_remove(&h, 0), -EINVAL);
	CHECK_EQ(cpu_hotplug_request_remove(&h, 2), -EINVAL); /* absent */
	CHECK_EQ(cpu_hotplug_cancel_remove(&h, 1), -EINVAL);  /* not asked to leave */
	/* max_cpus is clamped to the bitmaps */
	struct cpu_hotplug big;
	cpu_hotplug_init(&big, 1000, 1000, CPUHP_PORT, NULL, NULL);
	CHECK_EQ(big.st.max_cpus, CPUHP_MAX_CPUS);
	CHECK_EQ_HEX(big.st.present, ~0ull);
	sel(&big, 63);
	CHECK_EQ_HEX(status(&big), CPUHP_ST_PRESENT);
	ctl(&big, CPUHP_CTL_EJECT); /* no callback: still consistent */
	CHECK_EQ(cpu_hotplug_count(&big, NULL), 63);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
