/* Unit tests for vCPU hot-plug without KVM: the register block (src/devices/legacy/
 * cpu_hotplug.c) as the guest's AML drives it, hostile register values, the VMM side's
 * removal and eject path (src/vm/vcpu_hotplug.c) on a VM struct with no KVM behind it, the
 * state through the snapshot format and back with corrupt states refused, the AML of the
 * processor container (byte-exact and through iasl -d), the MADT's online-capable entries
 * and the "vcpu-hotplug" config section. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"
#include "arch/x86/layout.h"
#include "config/vm_config.h"
#include "devices/legacy/cpu_hotplug.h"
#include "devices/legacy/ged.h"
#include "memory/guest_mem.h"
#include "snapshot/format.h"
#include "snapshot/sections.h"
#include "snapshot/snapshot.h"
#include "unit.h"
#include "sc_steps.h"
#include "vm/vm.h"

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

	/* removal: removing bit, cleared by the scan, then _EJ0 ejects */
	REQUIRE_EQ(cpu_hotplug_request_remove(&h, 2), 0);
	unsigned removing = 0;
	CHECK_EQ(cpu_hotplug_count(&h, &removing), 3);
	CHECK_EQ(removing, 1);
	CHECK_EQ_HEX(status(&h), CPUHP_ST_PRESENT | CPUHP_ST_REMOVING);
	ctl(&h, CPUHP_ST_REMOVING);
	CHECK_EQ_HEX(status(&h), CPUHP_ST_PRESENT);
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

/* ---- the VMM side on a VM struct with no KVM behind it (removal needs none) ---- */

static struct vm V;
static struct vm_config VC;

static void fake_vm(unsigned boot, unsigned max)
{
	memset(&V, 0, sizeof(V));
	vm_config_init(&VC);
	VC.vcpus = boot;
	VC.has_vcpu_hotplug = true;
	VC.vcpu_hotplug.max_vcpu_count = max;
	V.cfg = &VC;
	pthread_mutex_init(&V.lock, NULL);
	pthread_cond_init(&V.cond, NULL);
	bus_init(&V.pio, "port I/O");
	ged_init(&V.devs.ged, (struct irq_line){ NULL, LAYOUT_GED_GSI }, GED_PORT);
	V.nvcpus = boot;
	for (unsigned i = 0; i < boot; i++) {
		V.vcpus[i].vm = &V;
		V.vcpus[i].id = i;
		V.vcpus[i].fd = -1;
	}
}

static void fake_vm_free(void)
{
	vm_config_free(&VC);
}

TEST(vmm_removal_and_eject)
{
	fake_vm(4, 8);
	REQUIRE_EQ(vcpu_hotplug_create(&V), 0);
	CHECK(V.devs.vcpuhp.on);
	CHECK_EQ(V.devs.acpi.cpu_max, 8);
	CHECK_EQ(V.devs.acpi.cpuhp_port, CPUHP_PORT);
	CHECK_EQ(vcpu_hotplug_possible(&VC), 8);
	unsigned present, target;
	vcpu_hotplug_counts(&V, &present, &target);
	CHECK_EQ(present, 4);
	CHECK_EQ(target, 4);
	char err[256] = "";
	CHECK_EQ(vcpu_hotplug_set(&V, 0, err, sizeof(err)), -EINVAL);
	CHECK_EQ(vcpu_hotplug_set(&V, 9, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "outside [1, 8]");
	/* down to 2: the two highest are asked to leave, the GED says so */
	REQUIRE_EQ(vcpu_hotplug_set(&V, 2, err, sizeof(err)), 0);
	CHECK_EQ_HEX(V.devs.vcpuhp.dev.st.removing, 0xc);
	CHECK_EQ_HEX(V.devs.ged.st.pending, GED_EVT_CPU_HOTPLUG);
	vcpu_hotplug_counts(&V, &present, &target);
	CHECK_EQ(present, 4);
	CHECK_EQ(target, 2);
	/* back to 3 before the guest acted: vCPU 2 stays */
	V.devs.ged.st.pending = 0;
	REQUIRE_EQ(vcpu_hotplug_set(&V, 3, err, sizeof(err)), 0);
	CHECK_EQ_HEX(V.devs.vcpuhp.dev.st.removing, 0x8);
	/* the same count again changes nothing and raises nothing */
	REQUIRE_EQ(vcpu_hotplug_set(&V, 3, err, sizeof(err)), 0);
	CHECK_EQ_HEX(V.devs.ged.st.pending, 0);
	/* the guest's _EJ0 for vCPU 3, through the port bus as a vCPU would */
	uint8_t s[4] = { 3, 0, 0, 0 }, e = CPUHP_CTL_EJECT | CPUHP_ST_REMOVING;
	bus_access(&V.pio, CPUHP_PORT + CPUHP_SEL_OFF, s, 4, true);
	bus_access(&V.pio, CPUHP_PORT + CPUHP_STATUS_OFF, &e, 1, true);
	CHECK(V.vcpus[3].unplugged);
	CHECK(!V.vcpus[2].unplugged);
	CHECK_EQ(V.devs.vcpuhp.ejected, 1);
	CHECK(!vcpu_hotplug_is_present(&V, 3));
	CHECK(vcpu_hotplug_is_present(&V, 2));
	vcpu_hotplug_counts(&V, &present, &target);
	CHECK_EQ(present, 3);
	CHECK_EQ(target, 3);
	/* not configured: PATCH is refused */
	struct vcpu_hotplug saved = V.devs.vcpuhp;
	V.devs.vcpuhp.on = false;
	CHECK_EQ(vcpu_hotplug_set(&V, 2, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "not configured");
	V.devs.vcpuhp = saved;
	fake_vm_free();
}

/* Removal asked from the API thread and the guest's eject through the port bus on a vCPU
 * thread, under the seccomp filters petrel installs (sc_steps.h). */
static void sc_ask_removal(void)
{
	char err[256];
	if (vcpu_hotplug_set(&V, 3, err, sizeof(err)) < 0)
		fail(50);
}

static void sc_guest_ejects(void)
{
	uint8_t s[4] = { 3, 0, 0, 0 }, e = CPUHP_CTL_EJECT | CPUHP_ST_REMOVING;
	bus_access(&V.pio, CPUHP_PORT + CPUHP_SEL_OFF, s, 4, true);
	bus_access(&V.pio, CPUHP_PORT + CPUHP_STATUS_OFF, &e, 1, true);
	if (!V.vcpus[3].unplugged)
		fail(51);
}

TEST(removal_and_eject_under_the_filters)
{
	fake_vm(4, 8);
	REQUIRE_EQ(vcpu_hotplug_create(&V), 0);
	const struct step steps[] = {
		{ SC_API, "fc_api", sc_ask_removal },
		{ SC_VCPU, "fc_vcpu 1", sc_guest_ejects },
	};
	CHECK_STEPS_CLEAN(steps);
	fake_vm_free();
}

/* Save the state into a state file's section and back into a fresh VM built from the same
 * definition; then states that must not load. */
TEST(state_round_trip_and_corrupt_states_refused)
{
	fake_vm(2, 4);
	REQUIRE_EQ(vcpu_hotplug_create(&V), 0);
	REQUIRE_EQ(cpu_hotplug_request_remove(&V.devs.vcpuhp.dev, 1), 0);
	struct vcpu_hotplug_state st;
	cpu_hotplug_save(&V.devs.vcpuhp.dev, &st);
	st.selector = 0xdeadbeef; /* whatever the guest wrote last is kept */
	struct snap_writer w;
	snap_writer_init(&w);
	snap_section(&w, SEC_CPUHP, 0, SEC_VERSION, &st, sizeof(st));
	REQUIRE_EQ(snap_finish(&w), 0);
	struct snap_reader r;
	char err[256] = "";
	REQUIRE_EQ(snap_open(&r, w.buf, w.len, err, sizeof(err)), 0);
	struct vcpu_hotplug_state back;
	REQUIRE_EQ(snap_get(&r, SEC_CPUHP, 0, SEC_VERSION, &back, sizeof(back), err, sizeof(err)), 0);
	snap_writer_free(&w);
	fake_vm_free();

	fake_vm(2, 4);
	REQUIRE_EQ(vcpu_hotplug_create(&V), 0);
	/* the count of saved vCPUs must be the present ones */
	CHECK_EQ(vcpu_hotplug_load(&V, &back, 1, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "present");
	REQUIRE_EQ(vcpu_hotplug_load(&V, &back, 2, err, sizeof(err)), 0);
	CHECK_EQ_HEX(V.devs.vcpuhp.dev.st.removing, 0x2);
	CHECK_EQ_HEX(V.devs.vcpuhp.dev.st.selector, 0xdeadbeef);
	CHECK(!V.vcpus[0].unplugged && !V.vcpus[1].unplugged);

	/* a guest that had vCPU 1 ejected: loads with it unplugged */
	struct vcpu_hotplug_state s = back;
	s.present = 0x1;
	s.removing = 0;
	REQUIRE_EQ(vcpu_hotplug_load(&V, &s, 1, err, sizeof(err)), 0);
	CHECK(V.vcpus[1].unplugged);

	s = back; s.max_cpus = 8;
	CHECK_EQ(vcpu_hotplug_load(&V, &s, 2, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "possible vCPUs");
	s = back; s.port = 0x621;
	CHECK_EQ(vcpu_hotplug_load(&V, &s, 2, err, sizeof(err)), -EINVAL);
	s = back; s.present = 0x2;
	CHECK_EQ(vcpu_hotplug_load(&V, &s, 1, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "boot CPU");
	s = back; s.present = 0x13;
	CHECK_EQ(vcpu_hotplug_load(&V, &s, 3, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "beyond");
	s = back; s.inserting = 0x4;
	CHECK_EQ(vcpu_hotplug_load(&V, &s, 2, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "absent");
	s = back; s.removing = 1ull << 63;
	CHECK_EQ(vcpu_hotplug_load(&V, &s, 2, err, sizeof(err)), -EINVAL);
	s = back; s.pad[3] = 1;
	CHECK_EQ(vcpu_hotplug_load(&V, &s, 2, err, sizeof(err)), -EINVAL);
	/* refused states leave the device as it was */
	CHECK_EQ_HEX(V.devs.vcpuhp.dev.st.present, 0x1);
	/* a definition without vcpu-hotplug refuses a CPUH state */
	V.devs.vcpuhp.on = false;
	CHECK_EQ(vcpu_hotplug_load(&V, &back, 2, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "no vcpu-hotplug");
	/* a section of another size is refused by the format */
	snap_writer_init(&w);
	snap_section(&w, SEC_CPUHP, 0, SEC_VERSION, &st, sizeof(st) - 8);
	REQUIRE_EQ(snap_finish(&w), 0);
	REQUIRE_EQ(snap_open(&r, w.buf, w.len, err, sizeof(err)), 0);
	CHECK_EQ(snap_get(&r, SEC_CPUHP, 0, SEC_VERSION, &back, sizeof(back), err, sizeof(err)), -EINVAL);
	snap_writer_free(&w);
	fake_vm_free();
}

/* `petrel snapshot info` names the present vCPUs and what is pending: an older state file
 * (the fuzzer's seed) with a CPUH section added. */
TEST(snapshot_info_shows_the_vcpus)
{
	const char *seed = PETREL_SRC_ROOT "/tests/fuzz/corpus/fuzz_snapshot/counter-1vcpu.state";
	uint8_t *buf = NULL;
	size_t len = 0;
	char err[256] = "";
	if (snap_read_file(seed, &buf, &len, err, sizeof(err)) < 0) {
		printf("SKIP snapshot_info_shows_the_vcpus: %s\n", err);
		return;
	}
	struct snap_reader r;
	REQUIRE_EQ(snap_open(&r, buf, len, err, sizeof(err)), 0);
	struct snap_writer w;
	snap_writer_init(&w);
	size_t cur = 0;
	struct snap_section sec;
	while (snap_next(&r, &cur, &sec))
		snap_section(&w, sec.id, sec.instance, sec.version, sec.payload, (size_t)sec.len);
	struct vcpu_hotplug_state hs = { .present = 0x7, .inserting = 0x4, .removing = 0x2, .max_cpus = 4,
					 .port = CPUHP_PORT };
	snap_section(&w, SEC_CPUHP, 0, SEC_VERSION, &hs, sizeof(hs));
	REQUIRE_EQ(snap_finish(&w), 0);
	char path[] = "/tmp/petrel-cpuhp-info-XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	CHECK_EQ(write(fd, w.buf, w.len), (ssize_t)w.len);
	close(fd);
	char *text = NULL;
	size_t tlen = 0;
	FILE *out = open_memstream(&text, &tlen);
	REQUIRE(out != NULL);
	CHECK_EQ(snapshot_info(path, out, err, sizeof(err)), 0);
	fclose(out);
	CHECK_CONTAINS(text, "vCPU hot-plug: 4 possible, present 0 1 (asked to leave) 2 (inserting)");
	unlink(path);
	free(text);
	snap_writer_free(&w);
	free(buf);
}

/* The GED carries the new event bit through a snapshot. */
TEST(ged_restores_the_cpu_event)
{
	struct ged g;
	ged_init(&g, (struct irq_line){ NULL, LAYOUT_GED_GSI }, GED_PORT);
	ged_raise(&g, GED_EVT_CPU_HOTPLUG);
	struct ged_state gs;
	ged_save(&g, &gs);
	CHECK_EQ_HEX(gs.pending, GED_EVT_CPU_HOTPLUG);
	char err[128];
	struct ged g2;
	ged_init(&g2, (struct irq_line){ NULL, LAYOUT_GED_GSI }, GED_PORT);
	CHECK_EQ(ged_restore(&g2, &gs, err, sizeof(err)), 0);
	CHECK_EQ_HEX(g2.st.pending, GED_EVT_CPU_HOTPLUG);
	gs.pending = 1u << 2;
	CHECK_EQ(ged_restore(&g2, &gs, err, sizeof(err)), -EINVAL);
}

/* ---- AML ---- */

/* Device (CPUS) for two possible vCPUs at port 0x620, byte by byte (ACPI 6.4, chapter 20). */
static const uint8_t cpus2[] = {
	0x5b, 0x82, 0xc1, 0x1d, 0x00, 0x00, 'C', 'P', 'U', 'S',          /* Device (CPUS), PkgLength 465 */
	0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C', 'P', 'I', '0', '0', '1', '0', 0x00,
	0x08, '_', 'C', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x05,          /* EisaId ("PNP0A05") */
	0x5b, 0x01, 'C', 'P', 'L', 'K', 0x00,                            /* Mutex (CPLK, 0) */
	0x5b, 0x80, 'P', 'R', 'S', 'T', 0x01, 0x0b, 0x20, 0x06, 0x0a, 0x08, /* OperationRegion (SystemIO) */
	0x5b, 0x81, 0xce, 0x00, 0x00, 0x00, 'P', 'R', 'S', 'T', 0x03,    /* Field (DWordAcc, Preserve) */
	'C', 'S', 'E', 'L', 0x20,
	0x5b, 0x81, 0xcf, 0x01, 0x00, 0x00, 'P', 'R', 'S', 'T', 0x41,    /* Field (ByteAcc, WriteAsZeros) */
	0x00, 0x20,                                                      /* Offset (4) */
	'C', 'P', 'E', 'N', 0x01, 'C', 'I', 'N', 'S', 0x01, 'C', 'R', 'M', 'V', 0x01, 'C', 'E', 'J', 'F', 0x01,
	0x14, 0xc1, 0x03, 0x00, 0x00, 'C', 'S', 'T', 'A', 0x09,          /* Method (CSTA, 1, Serialized) */
	0x5b, 0x23, 'C', 'P', 'L', 'K', 0xff, 0xff,                      /* Acquire (CPLK, 0xFFFF) */
	0x70, 0x68, 'C', 'S', 'E', 'L',                                  /* CSEL = Arg0 */
	0x70, 0x00, 0x60,                                                /* Local0 = Zero */
	0xa0, 0xce, 0x00, 0x00, 0x00, 0x93, 'C', 'P', 'E', 'N', 0x01,    /* If (CPEN == One) */
	0x70, 0x0a, 0x0f, 0x60,                                          /* Local0 = 0x0F */
	0x5b, 0x27, 'C', 'P', 'L', 'K', 0xa4, 0x60,                      /* Release; Return (Local0) */
	0x14, 0xc3, 0x02, 0x00, 0x00, 'C', 'E', 'J', '0', 0x09,          /* Method (CEJ0, 1, Serialized) */
	0x5b, 0x23, 'C', 'P', 'L', 'K', 0xff, 0xff, 0x70, 0x68, 'C', 'S', 'E', 'L',
	0x70, 0x01, 'C', 'E', 'J', 'F', 0x5b, 0x27, 'C', 'P', 'L', 'K',  /* CEJF = One; Release */
	0x14, 0xc5, 0x02, 0x00, 0x00, 'C', 'T', 'F', 'Y', 0x02,          /* Method (CTFY, 2) */
	0xa0, 0xcd, 0x00, 0x00, 0x00, 0x93, 0x68, 0x00, 0x86, 'C', '0', '0', '0', 0x69, /* If (Arg0 == 0) Notify (C000, Arg1) */
	0xa0, 0xcd, 0x00, 0x00, 0x00, 0x93, 0x68, 0x01, 0x86, 'C', '0', '0', '1', 0x69,
	0x14, 0xca, 0x05, 0x00, 0x00, 'C', 'S', 'C', 'N', 0x08,          /* Method (CSCN, 0, Serialized) */
	0x5b, 0x23, 'C', 'P', 'L', 'K', 0xff, 0xff, 0x70, 0x00, 0x60,
	0xa2, 0xcf, 0x03, 0x00, 0x00, 0x95, 0x60, 0x0a, 0x02,            /* While (Local0 < 2) */
	0x70, 0x60, 'C', 'S', 'E', 'L',
	0xa0, 0xc6, 0x01, 0x00, 0x00, 0x93, 'C', 'I', 'N', 'S', 0x01,    /* If (CINS == One) */
	'C', 'T', 'F', 'Y', 0x60, 0x01, 0x70, 0x01, 'C', 'I', 'N', 'S',  /* CTFY (Local0, 1); CINS = One */
	0xa0, 0xc7, 0x01, 0x00, 0x00, 0x93, 'C', 'R', 'M', 'V', 0x01,    /* If (CRMV == One) */
	'C', 'T', 'F', 'Y', 0x60, 0x0a, 0x03, 0x70, 0x01, 'C', 'R', 'M', 'V',
	0x75, 0x60, 0x5b, 0x27, 'C', 'P', 'L', 'K',                      /* Local0++; Release */
	0x5b, 0x82, 0xc1, 0x04, 0x00, 0x00, 'C', '0', '0', '0',          /* Device (C000) */
	0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C', 'P', 'I', '0', '0', '0', '7', 0x00,
	0x08, '_', 'U', 'I', 'D', 0x00,
	0x14, 0xcf, 0x00, 0x00, 0x00, '_', 'S', 'T', 'A', 0x00, 0xa4, 'C', 'S', 'T', 'A', 0x00,
	0x08, '_', 'M', 'A', 'T', 0x11, 0xce, 0x00, 0x00, 0x00, 0x0a, 0x08, /* Buffer (8) { LAPIC 0/0, enabled } */
	0x00, 0x08, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
	0x5b, 0x82, 0xc0, 0x05, 0x00, 0x00, 'C', '0', '0', '1',          /* Device (C001) */
	0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C', 'P', 'I', '0', '0', '0', '7', 0x00,
	0x08, '_', 'U', 'I', 'D', 0x01,
	0x14, 0xcf, 0x00, 0x00, 0x00, '_', 'S', 'T', 'A', 0x00, 0xa4, 'C', 'S', 'T', 'A', 0x01,
	0x08, '_', 'M', 'A', 'T', 0x11, 0xce, 0x00, 0x00, 0x00, 0x0a, 0x08,
	0x00, 0x08, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00,
	0x14, 0xce, 0x00, 0x00, 0x00, '_', 'E', 'J', '0', 0x01, 'C', 'E', 'J', '0', 0x01, /* _EJ0 (1) { CEJ0 (1) } */
};

TEST(aml_container_byte_exact)
{
	uint8_t buf[1024];
	struct aml a;
	aml_init(&a, buf, sizeof(buf));
	acpi_build_cpus(&a, 2, CPUHP_PORT);
	REQUIRE(!a.overflow);
	CHECK_EQ(a.len, sizeof(cpus2));
	for (size_t i = 0; i < a.len && i < sizeof(cpus2); i++)
		if (buf[i] != cpus2[i]) {
			UNIT_FAIL_("byte %zu: 0x%02x, expected 0x%02x", i, buf[i], cpus2[i]);
			break;
		}
	/* a short buffer overflows cleanly */
	aml_init(&a, buf, 100);
	acpi_build_cpus(&a, 2, CPUHP_PORT);
	CHECK(a.overflow);
}

static struct guest_mem M;

static void mem_init(void)
{
	memset(&M, 0, sizeof(M));
	M.regions[0] = (struct guest_region){ 0, 2u << 20, calloc(1, 2u << 20) };
	M.nregions = 1;
	M.total = 2u << 20;
}

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static void hotplug_devices(struct acpi_devices *d, unsigned max)
{
	memset(d, 0, sizeof(*d));
	d->ged = true;
	d->ged_port = GED_PORT;
	d->ged_gsi = LAYOUT_GED_GSI;
	d->cpu_max = max;
	d->cpuhp_port = CPUHP_PORT;
}

/* The table with signature sig that the XSDT lists (or the DSDT through the FADT). */
static const uint8_t *find_table(uint64_t rsdp, const char *sig)
{
	const uint8_t *p = M.regions[0].hva;
	uint64_t xsdt = rd64(p + rsdp + 24);
	for (unsigned i = 0; i < (rd32(p + xsdt + 4) - 36) / 8; i++) {
		const uint8_t *t = p + rd64(p + xsdt + 36 + 8 * i);
		if (!memcmp(sig, "DSDT", 4) && !memcmp(t, "FACP", 4))
			return p + rd64(t + 140);
		if (!memcmp(t, sig, 4))
			return t;
	}
	return NULL;
}

TEST(madt_lists_possible_cpus_online_capable)
{
	mem_init();
	struct acpi_devices d;
	hotplug_devices(&d, 5);
	uint64_t rsdp;
	REQUIRE_EQ(acpi_build_devices(&M, 2, &d, &rsdp), 0);
	const uint8_t *madt = find_table(rsdp, "APIC");
	REQUIRE(madt != NULL);
	CHECK_EQ(madt[8], 5); /* revision 5: Linux honours the online-capable bit */
	unsigned n = 0;
	for (uint32_t off = 44; off < rd32(madt + 4); off += madt[off + 1]) {
		if (madt[off] != 0)
			continue;
		CHECK_EQ(madt[off + 2], n); /* UID */
		CHECK_EQ(madt[off + 3], n); /* APIC ID */
		CHECK_EQ_HEX(rd32(madt + off + 4), n < 2 ? 1u : 2u); /* enabled / online capable */
		n++;
	}
	CHECK_EQ(n, 5);
	/* a max below the boot count, or past 255, is refused */
	d.cpu_max = 1;
	CHECK_EQ(acpi_build_devices(&M, 2, &d, &rsdp), -EINVAL);
	d.cpu_max = 256;
	CHECK_EQ(acpi_build_devices(&M, 2, &d, &rsdp), -EINVAL);
	/* the largest machine still fits below the VM generation ID page */
	d.cpu_max = VM_MAX_VCPUS;
	CHECK_EQ(acpi_build_devices(&M, 2, &d, &rsdp), 0);
	free(M.regions[0].hva);
}

static bool has_bytes(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (!memcmp(hay + i, needle, m))
			return true;
	return false;
}

TEST(ged_evt_calls_the_scan)
{
	mem_init();
	struct acpi_devices d;
	hotplug_devices(&d, 2);
	uint64_t rsdp;
	REQUIRE_EQ(acpi_build_devices(&M, 1, &d, &rsdp), 0);
	const uint8_t *dsdt = find_table(rsdp, "DSDT");
	REQUIRE(dsdt != NULL);
	/* If (And (Local0, 0x02, Zero)) { \_SB.CPUS.CSCN () } */
	static const uint8_t evt[] = { 0xa0, 0xc8, 0x01, 0x00, 0x00, 0x7b, 0x60, 0x0a, 0x02, 0x00, '\\', 0x2f,
				       0x03, '_', 'S', 'B', '_', 'C', 'P', 'U', 'S', 'C', 'S', 'C', 'N' };
	CHECK(has_bytes(dsdt, rd32(dsdt + 4), evt, sizeof(evt)));
	CHECK(has_bytes(dsdt, rd32(dsdt + 4), cpus2, sizeof(cpus2)));
	/* the container comes before the GED that calls into it */
	const uint8_t *cpus = NULL, *ged = NULL;
	for (uint32_t i = 0; i + 4 < rd32(dsdt + 4); i++) {
		if (!cpus && !memcmp(dsdt + i, "CPUS", 4))
			cpus = dsdt + i;
		if (!ged && !memcmp(dsdt + i, "GED0", 4))
			ged = dsdt + i;
	}
	CHECK(cpus && ged && cpus < ged);
	free(M.regions[0].hva);
}

TEST(dsdt_with_cpus_disassembles_with_iasl)
{
	if (system("command -v iasl >/dev/null 2>&1") != 0) {
		printf("SKIP dsdt_with_cpus_disassembles_with_iasl: no iasl (apt-get install acpica-tools)\n");
		return;
	}
	mem_init();
	struct acpi_devices d;
	hotplug_devices(&d, 4);
	uint64_t rsdp;
	REQUIRE_EQ(acpi_build_devices(&M, 2, &d, &rsdp), 0);
	const uint8_t *dsdt = find_table(rsdp, "DSDT"), *madt = find_table(rsdp, "APIC");
	REQUIRE(dsdt && madt);
	char dir[] = "/tmp/petrel-cpuhp-XXXXXX";
	REQUIRE(mkdtemp(dir) != NULL);
	char path[128], cmd[512];
	const uint8_t *tabs[2] = { dsdt, madt };
	const char *names[2] = { "dsdt", "apic" };
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s.dat", dir, names[i]);
		FILE *f = fopen(path, "wb");
		REQUIRE(f != NULL);
		CHECK_EQ(fwrite(tabs[i], 1, rd32(tabs[i] + 4), f), rd32(tabs[i] + 4));
		fclose(f);
	}
	snprintf(cmd, sizeof(cmd), "cd %s && iasl -d dsdt.dat apic.dat >iasl.log 2>&1", dir);
	CHECK_EQ(system(cmd), 0);
	static char dsl[131072];
	size_t n = 0;
	snprintf(path, sizeof(path), "%s/dsdt.dsl", dir);
	FILE *f = fopen(path, "r");
	if (f) {
		n = fread(dsl, 1, sizeof(dsl) - 1, f);
		fclose(f);
	}
	dsl[n] = 0;
	CHECK_CONTAINS(dsl, "Device (CPUS)");
	CHECK_CONTAINS(dsl, "Name (_HID, \"ACPI0010\"");
	CHECK_CONTAINS(dsl, "Mutex (CPLK, 0x00)");
	CHECK_CONTAINS(dsl, "OperationRegion (PRST, SystemIO, 0x0620, 0x08)");
	CHECK_CONTAINS(dsl, "Field (PRST, ByteAcc, NoLock, WriteAsZeros)");
	CHECK_CONTAINS(dsl, "Method (CSTA, 1, Serialized)");
	CHECK_CONTAINS(dsl, "Method (CSCN, 0, Serialized)");
	CHECK_CONTAINS(dsl, "While ((Local0 < 0x04))");
	CHECK_CONTAINS(dsl, "CTFY (Local0, 0x03)");
	CHECK_CONTAINS(dsl, "Notify (C003, Arg1)");
	CHECK_CONTAINS(dsl, "Device (C003)");
	CHECK_CONTAINS(dsl, "Name (_HID, \"ACPI0007\"");
	CHECK_CONTAINS(dsl, "Return (CSTA (0x03))");
	CHECK_CONTAINS(dsl, "0x00, 0x08, 0x03, 0x03, 0x01, 0x00, 0x00, 0x00");
	CHECK_CONTAINS(dsl, "CEJ0 (0x03)");
	CHECK_CONTAINS(dsl, "\\_SB.CPUS.CSCN ()");
	CHECK(!strstr(dsl, "CEJ0 (Zero)")); /* the boot CPU has no _EJ0 */
	snprintf(path, sizeof(path), "%s/apic.dsl", dir);
	static char apic[65536];
	n = 0;
	if ((f = fopen(path, "r"))) {
		n = fread(apic, 1, sizeof(apic) - 1, f);
		fclose(f);
	}
	apic[n] = 0;
	CHECK_CONTAINS(apic, "Runtime Online Capable : 1");
	CHECK_CONTAINS(apic, "Processor Enabled : 0");
	if (!strstr(dsl, "Device (CPUS)")) {
		snprintf(cmd, sizeof(cmd), "cat %s/iasl.log", dir);
		CHECK_EQ(system(cmd), 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_EQ(system(cmd), 0);
	free(M.regions[0].hva);
}

/* ---- "vcpu-hotplug" in the VM definition ---- */

#define BOOT "\"boot-source\": {\"kernel_image_path\": \"/k\"}"

TEST(config_section)
{
	struct vm_config c;
	char err[512] = "";
	vm_config_init(&c);
	REQUIRE_EQ(vm_config_parse_json("{" BOOT ", \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 128}, "
					"\"vcpu-hotplug\": {\"max_vcpu_count\": 8}}", &c, err, sizeof(err)), 0);
	CHECK(c.has_vcpu_hotplug);
	CHECK_EQ(c.vcpu_hotplug.max_vcpu_count, 8);
	CHECK_EQ(vm_config_validate(&c, err, sizeof(err)), 0);
	CHECK_EQ(vcpu_hotplug_possible(&c), 8);
	/* GET /vm/config carries it and loads again */
	json_t *o = vm_config_to_json(&c);
	REQUIRE(o != NULL);
	CHECK_EQ(json_integer_value(json_object_get(json_object_get(o, "vcpu-hotplug"), "max_vcpu_count")), 8);
	char *text = json_dumps(o, 0);
	struct vm_config d;
	vm_config_init(&d);
	CHECK_EQ(vm_config_parse_json(text, &d, err, sizeof(err)), 0);
	CHECK(d.has_vcpu_hotplug && d.vcpu_hotplug.max_vcpu_count == 8);
	free(text);
	json_decref(o);
	vm_config_free(&d);
	/* fewer than the boot vCPUs, or odd with SMT: refused at validation */
	c.vcpus = 9;
	CHECK_EQ(vm_config_validate(&c, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "less than machine-config's vcpu_count 9");
	c.vcpus = 2;
	c.smt = true;
	c.vcpu_hotplug.max_vcpu_count = 7;
	CHECK_EQ(vm_config_validate(&c, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "smt");
	vm_config_free(&c);
	/* without the section: the boot vCPUs, and no key in the document */
	vm_config_init(&c);
	o = vm_config_to_json(&c);
	CHECK(json_object_get(o, "vcpu-hotplug") == NULL);
	CHECK_EQ(vcpu_hotplug_possible(&c), 1);
	json_decref(o);
	vm_config_free(&c);

	static const struct { const char *json, *err; } bad[] = {
		{ "{" BOOT ", \"vcpu-hotplug\": {}}", "vcpu-hotplug.max_vcpu_count: missing required field" },
		{ "{" BOOT ", \"vcpu-hotplug\": {\"max_vcpu_count\": 0}}", "vcpu-hotplug.max_vcpu_count: must be between 1 and 64" },
		{ "{" BOOT ", \"vcpu-hotplug\": {\"max_vcpu_count\": 65}}", "must be between 1 and 64" },
		{ "{" BOOT ", \"vcpu-hotplug\": {\"max_vcpu_count\": \"4\"}}", "expected an integer" },
		{ "{" BOOT ", \"vcpu-hotplug\": {\"max_vcpu_count\": 4, \"x\": 1}}", "vcpu-hotplug.x: unknown field" },
		{ "{" BOOT ", \"vcpu-hotplug\": [4]}", "vcpu-hotplug: expected an object" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vm_config_init(&c);
		err[0] = 0;
		CHECK_EQ(vm_config_parse_json(bad[i].json, &c, err, sizeof(err)), -EINVAL);
		CHECK_CONTAINS(err, bad[i].err);
		CHECK(!c.has_vcpu_hotplug);
		vm_config_free(&c);
	}
	/* null means absent, as for Firecracker's optional sections */
	vm_config_init(&c);
	CHECK_EQ(vm_config_parse_json("{" BOOT ", \"vcpu-hotplug\": null}", &c, err, sizeof(err)), 0);
	CHECK(!c.has_vcpu_hotplug);
	vm_config_free(&c);
}

TEST(patch_body)
{
	unsigned n = 0;
	char err[256] = "";
	json_t *b = json_loads("{\"vcpu_count\": 3}", 0, NULL);
	CHECK_EQ(hotplug_vcpu_update_from_json(b, &n, err, sizeof(err)), 0);
	CHECK_EQ(n, 3);
	json_decref(b);
	static const char *const bad[] = { "{}", "{\"vcpu_count\": 0}", "{\"vcpu_count\": 65}", "{\"vcpu_count\": -1}",
					   "{\"vcpu_count\": 1.5}", "{\"vcpu_count\": 2, \"max_vcpu_count\": 4}", "[]" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = json_loads(bad[i], JSON_DECODE_ANY, NULL);
		REQUIRE(b != NULL);
		CHECK_EQ(hotplug_vcpu_update_from_json(b, &n, err, sizeof(err)), -EINVAL);
		json_decref(b);
	}
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
