/* libFuzzer target: the GED and VM generation ID states of a snapshot, migration or
 * replication stream (src/devices/legacy/ged.c, vmgenid.c) on arbitrary bytes. The input is
 * read as a state file (its 'GED ' and 'VGID' sections, loaded by the devices' own verbs as
 * load.c has them do) or, when it is not one, as the two payloads back to back (the first
 * byte the GED's length). Restore must refuse or accept without touching
 * guest memory outside the ID's 16 bytes; an accepted state must then survive what a loaded
 * VM does with it: a new ID, the resume notification, the guest reading the register. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "devices/dev_state.h"
#include "devices/legacy/ged.h"
#include "devices/legacy/vmgenid.h"
#include "fuzz_common.h"
#include "snapshot/format.h"
#include "snapshot/sections.h"

#define FUZZ_MEM (1u << 20) /* the first MiB: both places an ID may live */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guest_mem *mem = fuzz_guest_mem(FUZZ_MEM);
	struct ged g;
	struct vmgenid v;
	ged_init(&g, (struct irq_line){ NULL, LAYOUT_GED_GSI }, GED_PORT);
	g.present = false;
	vmgenid_init(&v, mem, &g, LAYOUT_VMGENID);
	v.present = false;

	char err[256] = "";
	uint8_t *buf = fuzz_dup(data, size);
	struct snap_reader r;
	struct dec dg, dv;
	bool have_g = false, have_v = false;
	uint32_t ver;
	if (snap_open(&r, buf, size, err, sizeof(err)) == 0) {
		have_g = snap_section_dec(&r, ged_state_ops.id, 0, 0, ged_state_ops.version, &ver, &dg, err, sizeof(err)) == 0;
		have_v = snap_section_dec(&r, vmgenid_state_ops.id, 0, 0, vmgenid_state_ops.version, &ver, &dv, err,
					  sizeof(err)) == 0;
	} else if (size >= 2) {
		/* the two payloads back to back, the first byte the GED's length */
		size_t glen = data[0] < size - 1 ? data[0] : size - 1;
		dec_init(&dg, buf + 1, glen);
		dec_init(&dv, buf + 1 + glen, size - 1 - glen);
		have_g = have_v = true;
	}

	err[0] = '\0';
	bool ok_g = have_g && ged_state_ops.load(&g, &dg, ged_state_ops.version, err, sizeof(err)) == 0;
	if (have_g && !ok_g)
		FUZZ_CHECK(err[0] != '\0' && !g.present);
	FUZZ_CHECK(!ok_g || (g.st.pending & ~GED_EVT_ALL) == 0);
	err[0] = '\0';
	bool ok_v = have_v && vmgenid_state_ops.load(&v, &dv, vmgenid_state_ops.version, err, sizeof(err)) == 0;
	if (have_v && !ok_v)
		FUZZ_CHECK(err[0] != '\0' && !v.present);
	FUZZ_CHECK(!ok_v || ok_g); /* no generation ID without its event device */
	free(buf);
	if (ok_v) {
		FUZZ_CHECK(vmgenid_gpa_ok(v.st.gpa) && v.st.gpa + VMGENID_SIZE <= FUZZ_MEM);
		FUZZ_CHECK(vmgenid_new_id(&v, true) == 0);
		FUZZ_CHECK(memcmp(mem->regions[0].hva + v.st.gpa, v.st.id, VMGENID_SIZE) == 0);
		vmgenid_resumed(&v);
		FUZZ_CHECK(g.st.pending & GED_EVT_VMGENID);
		uint8_t reg[8];
		ged_read(&g, 0, reg, 4); /* _EVT's read takes every event */
		FUZZ_CHECK(g.st.pending == 0 && (reg[0] & GED_EVT_VMGENID));
		ged_read(&g, data[0] % 8, reg, 1);
		/* leave the first MiB as it was for the next input */
		memset(mem->regions[0].hva + v.st.gpa, 0, VMGENID_SIZE);
	}
	pthread_mutex_destroy(&g.lock);
	pthread_mutex_destroy(&v.lock);
	return 0;
}
