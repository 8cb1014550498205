/* `petrel snapshot info FILE`: what a state file holds, for people and scripts. */
#include "snapshot/snapshot.h"
#include "arch/x86/cpu_state_codec.h"
#include "snapshot/state_file.h"
#include "devices/legacy/cpu_hotplug.h"
#include "devices/virtio/pmem.h"
#include "devices/dev_state.h"
#include "devices/virtio/virtio_pci.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_json_section(FILE *out, const struct snap_reader *r, uint32_t id, const char *title)
{
	uint32_t v;
	const void *p;
	uint64_t len;
	if (snap_find(r, id, 0, &v, &p, &len) < 0)
		return;
	json_t *o = json_loadb(p, (size_t)len, 0, NULL);
	char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	fprintf(out, "%s:\n%s\n", title, text ? text : "  (not valid JSON)");
	free(text);
	json_decref(o);
}

/* The next section `id` of the expected version after *cur, for decoding into d: 1, or 0 at
 * the end. The file's sections, not its counts: a count is only a number in the file. */
static int next_of(const struct snap_reader *rd, size_t *cur, uint32_t id, struct dec *d, unsigned *instance)
{
	struct snap_section s;
	while (snap_next(rd, cur, &s))
		if (s.id == id && s.version == SEC_VERSION) {
			dec_init(d, s.payload, (size_t)s.len);
			*instance = s.instance;
			return 1;
		}
	return 0;
}

/* Where each vCPU stands: enough to tell a guest stopped mid-event from a settled one. */
static void print_vcpus(FILE *out, const struct snap_reader *rd)
{
	struct cpu_state *cs = malloc(sizeof(*cs));
	char err[160];
	size_t cur = 0;
	unsigned i;
	struct dec d;
	while (cs && next_of(rd, &cur, SEC_CPU, &d, &i)) {
		if (cpu_state_decode(&d, cs, err, sizeof(err)) < 0) {
			fprintf(out, "vCPU %u: %s\n", i, err);
			continue;
		}
		const struct kvm_vcpu_events *e = &cs->events;
		fprintf(out, "vCPU %u: mp_state %u rip %#llx cs %#x cpl %u rflags %#llx; exception %s%s nr %u; "
			"interrupt %s nr %u; nmi %s%s; interrupt shadow %u\n", i, cs->mp_state.mp_state,
			(unsigned long long)cs->regs.rip, cs->sregs.cs.selector, cs->sregs.cs.dpl,
			(unsigned long long)cs->regs.rflags, e->exception.injected ? "injected" : "-",
			e->exception.pending ? " pending" : "", e->exception.nr, e->interrupt.injected ? "injected" : "-",
			e->interrupt.nr, e->nmi.injected ? "injected" : "-", e->nmi.pending ? " pending" : "",
			e->interrupt.shadow);
		const struct kvm_lapic_state *l = &cs->lapic;
		uint32_t svr = lapic_reg(l, LAPIC_SVR), lvt0 = lapic_reg(l, LAPIC_LVT0), lvtt = lapic_reg(l, LAPIC_LVTT);
		int irr = lapic_highest_vector(l, LAPIC_IRR), isr = lapic_highest_vector(l, LAPIC_ISR);
		fprintf(out, "  local APIC: base %#llx SVR %#x LINT0 %#x timer %#x, highest IRR %d ISR %d\n",
			(unsigned long long)cs->sregs.apic_base, svr, lvt0, lvtt, irr, isr);
	}
	free(cs);
	struct vm_kvm_state *ks = malloc(sizeof(*ks));
	uint32_t v;
	if (ks && snap_section_dec(rd, SEC_KVM, 0, 0, SEC_VERSION, &v, &d, err, sizeof(err)) == 0 &&
	    vm_kvm_state_decode(&d, ks, err, sizeof(err)) == 0) {
		const struct kvm_pic_state *m = &ks->pic_master.chip.pic, *sl = &ks->pic_slave.chip.pic;
		fprintf(out, "8259s: master base %#x IMR %#x IRR %#x ISR %#x; slave base %#x IMR %#x IRR %#x ISR %#x\n",
			m->irq_base, m->imr, m->irr, m->isr, sl->irq_base, sl->imr, sl->irr, sl->isr);
	}
	free(ks);
}

int snapshot_info(const char *path, FILE *out, char *err, size_t errlen)
{
	struct snap_state_file f;
	int e = snap_state_open(path, &f, err, errlen);
	if (e < 0)
		return e;
	struct snap_mem sm;
	if ((e = snap_mem_read(&f.r, &sm, err, errlen)) < 0) {
		snap_state_close(&f);
		return e == -ENOENT ? -EINVAL : e;
	}
	const struct snap_reader *rd = &f.r;
	const struct snap_vm sv = f.vm;
	size_t len = f.len;
	fprintf(out, "file: %s (%zu bytes, format version %u, checksum good)\nsnapshot id: ", path, len,
		SNAP_FORMAT_VERSION);
	for (int i = 0; i < 16; i++)
		fprintf(out, "%02x", sv.id[i]);
	uint32_t v;
	const void *pp;
	uint64_t plen;
	if (snap_find(rd, SEC_PRNT, 0, &v, &pp, &plen) == 0 && plen > SNAP_PARENT_ID_LEN)
		fprintf(out, "\nparent: %.*s (a Diff snapshot: only pages written since then)",
			(int)(plen - SNAP_PARENT_ID_LEN), (const char *)pp + SNAP_PARENT_ID_LEN);
	else
		fprintf(out, "\nparent: none (full snapshot)");
	if (snap_find(rd, SEC_MEMF, 0, &v, &pp, &plen) == 0)
		fprintf(out, "\nmemory file written to: %.*s", (int)plen, (const char *)pp);
	fprintf(out, "\nvCPUs: %u, virtio devices: %u, PVM workarounds: %s\n", sv.nvcpus, sv.nvirtio,
		sv.pvm ? "on" : "off");
	struct vcpu_hotplug_state hs;
	struct dec d;
	if (snap_section_dec(rd, SEC_CPUHP, 0, 0, SEC_VERSION, &v, &d, err, errlen) == 0 &&
	    cpu_hotplug_state_get(&d, &hs, err, errlen) == 0) {
		fprintf(out, "vCPU hot-plug: %u possible, present", hs.max_cpus);
		for (unsigned i = 0; i < 64; i++)
			if ((hs.present >> i) & 1)
				fprintf(out, " %u%s%s", i, (hs.inserting >> i) & 1 ? " (inserting)" : "",
					(hs.removing >> i) & 1 ? " (asked to leave)" : "");
		fprintf(out, "\n");
	}
	fprintf(out, "memory: %llu MiB in %u region(s)\n", (unsigned long long)(sm.total >> 20), sm.nregions);
	/* A Diff's page map: how many pages it holds (its memory file may be a copy without holes). */
	if (snap_find(rd, SEC_PGMP, 0, &v, &pp, &plen) == 0 && plen % 8 == 0) {
		uint64_t n = 0;
		dec_init(&d, pp, (size_t)plen);
		for (uint64_t off = 0; off < plen; off += 8)
			n += (uint64_t)__builtin_popcountll(get_u64(&d)); /* le64 words */
		fprintf(out, "pages in this Diff: %llu (%llu MiB)\n", (unsigned long long)n, (unsigned long long)(n >> 8));
	}
	for (unsigned i = 0; i < sm.nregions && i < GUEST_MEM_MAX_REGIONS; i++)
		fprintf(out, "  guest 0x%llx-0x%llx at file offset 0x%llx\n", (unsigned long long)sm.r[i].gpa,
			(unsigned long long)(sm.r[i].gpa + sm.r[i].size), (unsigned long long)sm.r[i].file_off);
	print_vcpus(out, rd);
	size_t vcur = 0;
	unsigned i;
	while (next_of(rd, &vcur, virtio_pci_state_ops.id, &d, &i)) {
		/* its first fields (the virtio core's, docs/snapshots.md): device id, transport,
		 * features offered, driver status */
		static const char *const kinds[] = { [VIRTIO_ID_NET] = "net", [VIRTIO_ID_BLOCK] = "blk",
						     [VIRTIO_ID_RNG] = "rng", [VIRTIO_ID_VSOCK] = "vsock",
						     [VIRTIO_ID_PMEM] = "pmem" };
		uint32_t id = get_u32(&d);
		uint8_t tr = get_u8(&d);
		(void)get_u64(&d);
		uint8_t status = get_u8(&d);
		if (d.err)
			continue;
		const char *kind = id < sizeof(kinds) / sizeof(kinds[0]) && kinds[id] ? kinds[id] : "?";
		fprintf(out, "virtio #%u: %s (device id %u) on virtio-%s, driver status %#x\n", i, kind, id,
			tr == VIRTIO_SAVED_MMIO ? "mmio" : "pci", status);
	}
	fprintf(out, "sections (%u):\n", rd->nsections);
	size_t cur = 0;
	struct snap_section s;
	while (snap_next(rd, &cur, &s)) {
		char name[5];
		snap_id_name(s.id, name);
		fprintf(out, "  %s #%-3u v%u %8llu bytes\n", name, s.instance, s.version, (unsigned long long)s.len);
	}
	print_json_section(out, rd, SEC_CNSY, "consistency");
	print_json_section(out, rd, SEC_CONF, "VM config");
	snap_state_close(&f);
	return 0;
}
