/* Unit tests for the VMM side of vCPU hot-plug (src/vm/vcpu_hotplug.c) on a VM struct with no
 * KVM behind it: removal and eject (also under the seccomp filters), the state through the
 * snapshot format and back with corrupt states refused, `petrel snapshot info`, and the GED's
 * event through a snapshot. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "config/vm_config.h"
#include "devices/legacy/cpu_hotplug.h"
#include "util/codec.h"
#include "devices/legacy/ged.h"
#include "snapshot/format.h"
#include "snapshot/sections.h"
#include "snapshot/snapshot.h"
#include "unit.h"
#include "sc_steps.h"
#include "vm/vm_internal.h"

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
		V.vcpus[i].env = vm_vcpu_env(&V);
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
	struct enc e;
	enc_init(&e);
	cpu_hotplug_state_put(&e, &st);
	CHECK_EQ(e.len, 3 * 8 + 2 * 4 + 2); /* no padding */
	snap_section_enc(&w, SEC_CPUHP, 0, SEC_VERSION, &e);
	REQUIRE_EQ(snap_finish(&w), 0);
	struct snap_reader r;
	char err[256] = "";
	REQUIRE_EQ(snap_open(&r, w.buf, w.len, err, sizeof(err)), 0);
	struct vcpu_hotplug_state back;
	struct dec d;
	uint32_t ver;
	REQUIRE_EQ(snap_section_dec(&r, SEC_CPUHP, 0, 0, SEC_VERSION, &ver, &d, err, sizeof(err)), 0);
	REQUIRE_EQ(cpu_hotplug_state_get(&d, &back, err, sizeof(err)), 0);
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
	/* a section cut short, or longer than its fields, is refused by its decoder */
	dec_init(&d, e.buf, e.len - 1);
	CHECK_EQ(cpu_hotplug_state_get(&d, &back, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "shorter");
	uint8_t longer[64] = { 0 };
	memcpy(longer, e.buf, e.len);
	dec_init(&d, longer, e.len + 8);
	CHECK_EQ(cpu_hotplug_state_get(&d, &back, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "8 bytes more");
	enc_free(&e);
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
	struct enc e;
	enc_init(&e);
	cpu_hotplug_state_put(&e, &hs);
	snap_section_enc(&w, SEC_CPUHP, 0, SEC_VERSION, &e);
	enc_free(&e);
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

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
