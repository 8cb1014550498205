/* Unit tests for the ACPI Generic Event Device (src/devices/legacy/ged.c) and the VM
 * generation ID (src/devices/legacy/vmgenid.c): the event register, the ID in guest memory,
 * their states through the snapshot format and back, and hostile states refused. No KVM: the
 * GED's interrupt line has no VM (irq_line_set does nothing). */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "config/vm_config.h"
#include "devices/dev_state.h"
#include "devices/legacy/ged.h"
#include "devices/legacy/vmgenid.h"
#include "memory/guest_mem.h"
#include "snapshot/format.h"
#include "snapshot/sections.h"
#include "snapshot/snapshot.h"
#include "unit.h"

#define MEM_SIZE (2u << 20)

static struct guest_mem M;
static struct ged G;
static struct vmgenid V;

static void setup(void)
{
	memset(&M, 0, sizeof(M));
	M.regions[0] = (struct guest_region){ 0, MEM_SIZE, calloc(1, MEM_SIZE) };
	M.nregions = 1;
	M.total = MEM_SIZE;
	ged_init(&G, (struct irq_line){ NULL, LAYOUT_GED_GSI }, GED_PORT);
	vmgenid_init(&V, &M, &G, LAYOUT_VMGENID);
}

static void teardown(void)
{
	free(M.regions[0].hva);
	memset(&M, 0, sizeof(M));
}

static uint32_t read_reg(uint64_t off, uint32_t len)
{
	uint8_t b[4] = { 0 };
	ged_read(&G, off, b, len);
	return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

TEST(ged_register_reads_and_clears)
{
	setup();
	CHECK_EQ_HEX(read_reg(0, 4), 0);
	ged_raise(&G, GED_EVT_VMGENID);
	ged_raise(&G, 0x80000000u); /* unknown events are not latched */
	CHECK_EQ_HEX(G.st.pending, GED_EVT_VMGENID);
	CHECK_EQ_HEX(read_reg(0, 4), GED_EVT_VMGENID);
	CHECK_EQ_HEX(read_reg(0, 4), 0); /* the read cleared it */
	/* a byte read clears only that byte's bits */
	G.st.pending = 0x0101;
	CHECK_EQ_HEX(read_reg(1, 1), 0x01);
	CHECK_EQ_HEX(G.st.pending, 0x0001);
	/* beyond the register: all ones; writes change nothing */
	CHECK_EQ_HEX(read_reg(4, 1), 0xff);
	uint8_t w[4] = { 0xff, 0xff, 0xff, 0xff };
	ged_write(&G, 0, w, 4);
	CHECK_EQ_HEX(G.st.pending, 0x0001);
	/* absent (a snapshot whose guest has none): reads as an unclaimed port, raises nothing */
	G.present = false;
	CHECK_EQ_HEX(read_reg(0, 4), 0xffffffffu);
	G.st.pending = 0;
	ged_raise(&G, GED_EVT_VMGENID);
	CHECK_EQ_HEX(G.st.pending, 0);
	teardown();
}

TEST(vmgenid_lives_in_reserved_memory)
{
	/* The page is E820-reserved, 8-byte aligned, and below the 0xf0000 signature scans. */
	setup();
	struct e820_entry map[E820_MAX];
	int n = e820_build(&M, map);
	bool reserved = false;
	for (int i = 0; i < n; i++)
		if (map[i].addr <= LAYOUT_VMGENID && LAYOUT_VMGENID + VMGENID_SIZE <= map[i].addr + map[i].size)
			reserved = map[i].type == E820_RESERVED;
	CHECK(reserved);
	CHECK(vmgenid_gpa_ok(LAYOUT_VMGENID));
	CHECK(LAYOUT_VMGENID + 4096 <= 0xf0000);
	CHECK(!vmgenid_gpa_ok(LAYOUT_VMGENID + 4));          /* not 8-byte aligned */
	CHECK(!vmgenid_gpa_ok(0x100000));                     /* guest RAM the OS uses */
	CHECK(!vmgenid_gpa_ok(LAYOUT_ACPI_END - 8));          /* runs past the area */
	CHECK(!vmgenid_gpa_ok(0xfffffffffffffff8ull));        /* wraps */
	CHECK(vmgenid_gpa_ok(0x9fff0));                       /* the EBDA (Firecracker's place) */
	teardown();
}

TEST(new_id_goes_to_guest_memory)
{
	setup();
	const uint8_t *page = M.regions[0].hva + LAYOUT_VMGENID;
	REQUIRE_EQ(vmgenid_new_id(&V, false), 0);
	CHECK(memcmp(page, V.st.id, VMGENID_SIZE) == 0);
	uint8_t zero[VMGENID_SIZE] = { 0 }, first[VMGENID_SIZE];
	CHECK(memcmp(V.st.id, zero, VMGENID_SIZE) != 0);
	memcpy(first, V.st.id, VMGENID_SIZE);
	CHECK_EQ(V.st.notify, 0);
	/* first boot: no notification */
	vmgenid_resumed(&V);
	CHECK_EQ_HEX(G.st.pending, 0);
	/* a snapshot load: a new ID, notified once when the VM runs */
	REQUIRE_EQ(vmgenid_new_id(&V, true), 0);
	CHECK(memcmp(first, V.st.id, VMGENID_SIZE) != 0);
	CHECK(memcmp(page, V.st.id, VMGENID_SIZE) == 0);
	CHECK_EQ(V.st.notify, 1);
	CHECK_EQ_HEX(G.st.pending, 0); /* not before the resume */
	vmgenid_resumed(&V);
	CHECK_EQ_HEX(G.st.pending, GED_EVT_VMGENID);
	CHECK_EQ(V.st.notify, 0);
	G.st.pending = 0;
	vmgenid_resumed(&V); /* a later resume (after a pause) sends nothing */
	CHECK_EQ_HEX(G.st.pending, 0);
	/* only the 16 bytes were written */
	for (unsigned i = VMGENID_SIZE; i < 4096; i++)
		if (page[i] != 0) {
			UNIT_FAIL_("byte %u of the page written", i);
			break;
		}
	teardown();
}

TEST(new_id_is_noted_for_diff_snapshots)
{
	setup();
	uint64_t bits[MEM_SIZE / 4096 / 64] = { 0 };
	M.dirty_log = true;
	M.regions[0].dirty = bits;
	REQUIRE_EQ(vmgenid_new_id(&V, true), 0);
	uint64_t pg = LAYOUT_VMGENID / 4096;
	CHECK((bits[pg / 64] >> (pg % 64)) & 1);
	M.regions[0].dirty = NULL;
	teardown();
}

TEST(new_id_outside_memory_fails)
{
	setup();
	V.st.gpa = MEM_SIZE; /* no RAM there */
	CHECK_EQ(vmgenid_new_id(&V, true), -EFAULT);
	CHECK_EQ(V.st.notify, 0);
	teardown();
}

/* Save both states into a state file's sections, read them back and restore them into fresh
 * devices: what a snapshot, a migration or a replication does. */
TEST(state_round_trip_through_the_format)
{
	setup();
	REQUIRE_EQ(vmgenid_new_id(&V, true), 0);
	G.st.pending = GED_EVT_VMGENID;
	struct snap_writer w;
	snap_writer_init(&w);
	struct enc e;
	enc_init(&e);
	ged_state_ops.save(&G, &e);
	snap_section_enc(&w, ged_state_ops.id, 0, ged_state_ops.version, &e);
	CHECK_EQ(e.len, 4 + 4 + 2); /* pending, gsi, port: no padding */
	enc_free(&e);
	enc_init(&e);
	vmgenid_state_ops.save(&V, &e);
	snap_section_enc(&w, vmgenid_state_ops.id, 0, vmgenid_state_ops.version, &e);
	CHECK_EQ(e.len, 8 + VMGENID_SIZE + 1);
	enc_free(&e);
	REQUIRE_EQ(snap_finish(&w), 0);
	struct snap_reader r;
	char err[256] = "";
	REQUIRE_EQ(snap_open(&r, w.buf, w.len, err, sizeof(err)), 0);
	uint8_t id[VMGENID_SIZE];
	memcpy(id, V.st.id, sizeof(id));

	struct ged g2;
	struct vmgenid v2;
	ged_init(&g2, (struct irq_line){ NULL, LAYOUT_GED_GSI }, GED_PORT);
	g2.present = false; /* as after a load that has not reached the section yet */
	vmgenid_init(&v2, &M, &g2, LAYOUT_VMGENID);
	struct dec d;
	uint32_t ver;
	/* the VM generation ID needs its GED: refused while the GED is absent */
	REQUIRE_EQ(snap_section_dec(&r, vmgenid_state_ops.id, 0, 0, vmgenid_state_ops.version, &ver, &d, err, sizeof(err)), 0);
	CHECK_EQ(vmgenid_state_ops.load(&v2, &d, ver, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "no event device");
	REQUIRE_EQ(snap_section_dec(&r, ged_state_ops.id, 0, 0, ged_state_ops.version, &ver, &d, err, sizeof(err)), 0);
	CHECK_EQ(ged_state_ops.load(&g2, &d, ver, err, sizeof(err)), 0);
	REQUIRE_EQ(snap_section_dec(&r, vmgenid_state_ops.id, 0, 0, vmgenid_state_ops.version, &ver, &d, err, sizeof(err)), 0);
	CHECK_EQ(vmgenid_state_ops.load(&v2, &d, ver, err, sizeof(err)), 0);
	CHECK(g2.present && v2.present);
	CHECK_EQ_HEX(g2.st.pending, GED_EVT_VMGENID);
	CHECK(memcmp(v2.st.id, id, sizeof(id)) == 0); /* restoring keeps the ID */
	CHECK_EQ_HEX(v2.st.gpa, LAYOUT_VMGENID);
	CHECK_EQ(v2.st.notify, 1); /* a notification still owed is carried over */
	/* a section without its last byte is refused by name, the device unchanged */
	REQUIRE_EQ(snap_section_dec(&r, ged_state_ops.id, 0, 0, ged_state_ops.version, &ver, &d, err, sizeof(err)), 0);
	d.len--;
	g2.st.pending = 0;
	CHECK_EQ(ged_state_ops.load(&g2, &d, ver, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "GED");
	CHECK_EQ_HEX(g2.st.pending, 0);
	snap_writer_free(&w);
	teardown();
}

TEST(hostile_states_refused)
{
	setup();
	char err[256];
	struct ged_state gs;
	ged_save(&G, &gs);
	gs.gsi = 7;
	err[0] = 0;
	CHECK_EQ(ged_restore(&G, &gs, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "GSI 7");
	ged_save(&G, &gs);
	gs.port = 0x611;
	CHECK_EQ(ged_restore(&G, &gs, err, sizeof(err)), -EINVAL);
	ged_save(&G, &gs);
	gs.pending = 0x10;
	err[0] = 0;
	CHECK_EQ(ged_restore(&G, &gs, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "unknown pending");
	CHECK_EQ_HEX(G.st.pending, 0);
	/* a GED state for a VM built without one (--no-vmgenid) */
	struct ged none;
	memset(&none, 0, sizeof(none));
	ged_save(&G, &gs);
	CHECK_EQ(ged_restore(&none, &gs, err, sizeof(err)), -EINVAL);

	struct vmgenid_state vs;
	vmgenid_save(&V, &vs);
	static const uint64_t bad[] = { 0x100000, LAYOUT_VMGENID + 1, LAYOUT_ACPI_END - 8, 0,
					MEM_SIZE, 0xfffffffffffffff8ull };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vs.gpa = bad[i];
		err[0] = 0;
		CHECK_EQ(vmgenid_restore(&V, &vs, err, sizeof(err)), -EINVAL);
		CHECK(err[0] != 0);
		CHECK_EQ_HEX(V.st.gpa, LAYOUT_VMGENID);
	}
	vmgenid_save(&V, &vs);
	vs.notify = 2;
	CHECK_EQ(vmgenid_restore(&V, &vs, err, sizeof(err)), -EINVAL);
	/* guest memory that does not reach the page */
	vmgenid_save(&V, &vs);
	M.regions[0].size = 0x80000;
	CHECK_EQ(vmgenid_restore(&V, &vs, err, sizeof(err)), -EINVAL);
	M.regions[0].size = MEM_SIZE;
	struct vmgenid off;
	memset(&off, 0, sizeof(off));
	CHECK_EQ(vmgenid_restore(&off, &vs, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "turns it off");
	CHECK_EQ(vmgenid_restore(&V, &vs, err, sizeof(err)), 0);
	/* a firmware boot's place, the last page of low RAM: its own machine restores it, one that
	 * placed it elsewhere does not */
	struct vmgenid fw;
	vmgenid_init(&fw, &M, &G, MEM_SIZE - 4096);
	vmgenid_save(&fw, &vs);
	CHECK_EQ(vmgenid_restore(&fw, &vs, err, sizeof(err)), 0);
	CHECK_EQ(vmgenid_restore(&V, &vs, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "not where this machine places it");
	vs.gpa = MEM_SIZE - 4096 + 4;
	fw.st.gpa = vs.gpa;
	CHECK_EQ(vmgenid_restore(&fw, &vs, err, sizeof(err)), -EINVAL); /* never unaligned */
	teardown();
}

/* --no-vmgenid travels in petrel's extensions to the VM definition (a snapshot's EXTN
 * section); a definition from before has no key and means on. */
TEST(config_extension_round_trip)
{
	struct vm_config c;
	vm_config_init(&c);
	c.no_vmgenid = true;
	json_t *o = vm_config_extensions_to_json(&c);
	REQUIRE(o != NULL);
	CHECK(json_is_false(json_object_get(o, "vmgenid")));
	struct vm_config d;
	vm_config_init(&d);
	char err[256] = "";
	CHECK_EQ(vm_config_extensions_from_json(o, &d, err, sizeof(err)), 0);
	CHECK(d.no_vmgenid);
	json_object_del(o, "vmgenid");
	CHECK_EQ(vm_config_extensions_from_json(o, &d, err, sizeof(err)), 0);
	CHECK(!d.no_vmgenid);
	json_object_set_new(o, "vmgenid", json_string("yes"));
	CHECK_EQ(vm_config_extensions_from_json(o, &d, err, sizeof(err)), -EINVAL);
	json_decref(o);
	vm_config_free(&c);
	vm_config_free(&d);
}

/* A state file from before the VM generation ID (the fuzzer's seed, taken by an earlier petrel):
 * it has neither section, and its definition (no "vmgenid" in its extensions) reads back with
 * the device on, which load.c then marks absent for want of the sections. */
TEST(snapshot_from_before_loads_its_definition)
{
	const char *path = PETREL_SRC_ROOT "/tests/fuzz/corpus/fuzz_snapshot/counter-1vcpu.state";
	if (access(path, R_OK) != 0) {
		printf("SKIP snapshot_from_before_loads_its_definition: %s not found\n", path);
		return;
	}
	uint8_t *buf = NULL;
	size_t len = 0;
	char err[256] = "";
	REQUIRE_EQ(snap_read_file(path, &buf, &len, err, sizeof(err)), 0);
	struct snap_reader r;
	REQUIRE_EQ(snap_open(&r, buf, len, err, sizeof(err)), 0);
	CHECK_EQ(snap_count(&r, ged_state_ops.id), 0);
	CHECK_EQ(snap_count(&r, vmgenid_state_ops.id), 0);
	CHECK(snap_count(&r, SEC_EXTN) == 1);
	struct snapshot_load_opts o = { .state_path = path };
	struct vm_config c;
	CHECK_EQ(snapshot_config_from_buf(buf, len, &o, &c, err, sizeof(err)), 0);
	CHECK(!c.no_vmgenid);
	vm_config_free(&c);
	free(buf);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
