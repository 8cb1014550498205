/* libFuzzer target: the VM-state format reader (src/snapshot/format.c) on arbitrary bytes.
 * snap_open must accept or refuse without reading out of bounds; when it accepts, iterating,
 * finding and fixed-size reads must stay inside the buffer, and the decoders of the sections
 * the snapshot code reads itself (VM, MEM, KVM, CPU, CPUH, PGMP: sections.c, cpu_state_codec.c,
 * cpu_hotplug.c) must refuse or accept each without reading past it. Half the inputs get a valid CRC
 * and END section appended (re-sealed), so the fuzzer reaches the section walk behind it.
 * snap_get looks a section up from the start, so it is tried on the first GET_CHECKS sections
 * only: on all of them an input of a few thousand small sections costs quadratic time (most of
 * this target's CPU once its corpus held 13 KiB inputs) and reaches no more code. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "arch/x86/cpu_state_codec.h"
#include "devices/legacy/cpu_hotplug.h"
#include "snapshot/format.h"
#include "snapshot/sections.h"

#define GET_CHECKS 64

/* A section's payload through its decoder, if it is one the snapshot code decodes itself; a
 * copy of exactly its length, so a read past it is the sanitizer's to see. */
static void decode(const struct snap_section *s)
{
	static struct cpu_state cs;
	static struct vm_kvm_state ks;
	struct vcpu_hotplug_state hs;
	char err[256] = "";
	uint8_t *p = fuzz_dup(s->payload, (size_t)s->len);
	struct dec d;
	dec_init(&d, p, (size_t)s->len);
	int e = 0;
	if (s->id == SEC_CPU)
		e = cpu_state_decode(&d, &cs, err, sizeof(err));
	else if (s->id == SEC_KVM)
		e = vm_kvm_state_decode(&d, &ks, err, sizeof(err));
	else if (s->id == SEC_CPUHP)
		e = cpu_hotplug_state_get(&d, &hs, err, sizeof(err));
	FUZZ_CHECK(e == 0 || (e == -EINVAL && err[0]));
	FUZZ_CHECK(e || s->id != SEC_CPU || (cs.nmsrs <= CPU_STATE_MAX_MSRS && cs.xcrs.nr_xcrs <= KVM_MAX_XCRS));
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = fuzz_dup(data, size);
	char err[256];
	struct snap_reader r;
	if (snap_open(&r, buf, size, err, sizeof(err)) == 0) {
		size_t cur = 0;
		struct snap_section s;
		unsigned n = 0;
		while (snap_next(&r, &cur, &s)) {
			FUZZ_CHECK(s.payload >= buf && s.payload + s.len <= buf + size);
			uint8_t out[64];
			if (s.len <= sizeof(out) && n < GET_CHECKS)
				FUZZ_CHECK(snap_get(&r, s.id, s.instance, s.version, out, (size_t)s.len, err,
						    sizeof(err)) == 0);
			n++;
			decode(&s);
		}
		FUZZ_CHECK(n == r.nsections);
		struct snap_vm sv;
		struct snap_mem *sm = malloc(sizeof(*sm));
		if (snap_vm_read(&r, &sv, err, sizeof(err)) < 0)
			FUZZ_CHECK(err[0]);
		if (sm && snap_mem_read(&r, sm, err, sizeof(err)) == 0)
			FUZZ_CHECK(sm->nregions <= GUEST_MEM_MAX_REGIONS);
		free(sm);
	} else {
		FUZZ_CHECK(err[0] != '\0');
	}
	free(buf);

	/* Re-seal: the bytes after a header become sections of a writer-made file. */
	if (size >= 4) {
		struct snap_writer w;
		snap_writer_init(&w);
		size_t off = 0;
		while (off + 4 <= size) {
			uint32_t len = data[off] % 64;
			uint32_t id = data[off + 1] | (uint32_t)data[off + 2] << 8;
			off += 4;
			if (len > size - off)
				len = (uint32_t)(size - off);
			snap_section(&w, id, data[off - 1], 1, data + off, len);
			off += len;
		}
		FUZZ_CHECK(snap_finish(&w) == 0);
		FUZZ_CHECK(snap_open(&r, w.buf, w.len, err, sizeof(err)) == 0);
		snap_writer_free(&w);
	}
	return 0;
}
