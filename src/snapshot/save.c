/* Writing a paused VM's snapshot: the state file and the memory file. */
#include "snapshot/snapshot.h"
#include "arch/x86/cpu_state.h"
#include "snapshot/page_map.h"
#include "snapshot/state_file.h"
#include "util/log.h"
#include "util/util.h"
#include "vm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, int e, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, strerror(-e));
	return e;
}

static int state_build(struct vm *vm, const struct snap_vm *svp, const char *mem_abs, char *const *drive_paths,
		       uint64_t *const *dirty, struct snap_writer *w, char *err, size_t errlen);

static void json_section(struct snap_writer *w, uint32_t id, json_t *o)
{
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	if (!text) {
		w->err = w->err ? w->err : -ENOMEM;
		return;
	}
	snap_section(w, id, 0, SEC_VERSION, text, strlen(text));
	free(text);
}

static int save_cpus(struct vm *vm, struct snap_writer *w)
{
	struct msr_list *msrs = malloc(sizeof(*msrs));
	struct cpu_state *cs = malloc(sizeof(*cs));
	int e = !msrs || !cs ? -ENOMEM : cpu_msr_list(vm->kvm.fd, vm->vcpus[0].fd, msrs);
	for (unsigned i = 0; !e && i < vm->nvcpus; i++) {
		if (!vcpu_hotplug_is_present(vm, i))
			continue; /* ejected by the guest: nothing of it to keep */
		e = cpu_state_get(vm->vcpus[i].fd, msrs, cs);
		if (!e)
			snap_section(w, SEC_CPU, i, SEC_VERSION, cs, sizeof(*cs));
	}
	free(msrs);
	free(cs);
	return e;
}

static void save_virtio(struct vm *vm, struct snap_writer *w)
{
	struct vm_devices *vd = &vm->devs;
	for (unsigned i = 0; i < vd->nvirtio; i++) {
		struct vm_virtio *v = &vd->virtio[i];
		struct virtio_dev *d = v->vdev;
		struct snap_virtio sv = { .device_id = d->device_id, .mmio = v->mmio,
					  .host_features = d->host_features };
		pthread_mutex_lock(&d->lock);
		sv.st = d->st;
		if (!v->mmio) {
			struct snap_vpci p = { .cfg = v->tr.pci.pci.st, .msix = v->tr.pci.msix.st };
			snap_section(w, SEC_VPCI, i, SEC_VERSION, &p, sizeof(p));
		}
		switch (d->device_id) {
		case VIRTIO_ID_BLOCK: {
			struct virtio_blk *b = v->dev;
			snap_section(w, SEC_BLK, i, SEC_VERSION, &b->st, sizeof(b->st));
			break;
		}
		case VIRTIO_ID_NET: {
			struct virtio_net *n = v->dev;
			snap_section(w, SEC_NET, i, SEC_VERSION, &n->st, sizeof(n->st));
			break;
		}
		case VIRTIO_ID_VSOCK: {
			struct virtio_vsock *s = v->dev;
			snap_section(w, SEC_VSOCK, i, SEC_VERSION, &s->st, sizeof(s->st));
			break;
		}
		case VIRTIO_ID_BALLOON: {
			struct virtio_balloon *b = v->dev;
			snap_section(w, SEC_BALLOON, i, BALLOON_STATE_VERSION, &b->st, sizeof(b->st));
			break;
		}
		case VIRTIO_ID_MEM: {
			size_t len = 0;
			void *blob = virtio_mem_save_locked(v->dev, &len);
			/* a missing section fails the load, which names it */
			if (blob)
				snap_section(w, SEC_VMEM, i, SEC_VERSION, blob, len);
			free(blob);
			break;
		}
		case VIRTIO_ID_PMEM: {
			struct virtio_pmem *pm = v->dev;
			snap_section(w, SEC_PMEM, i, SEC_VERSION, &pm->st, sizeof(pm->st));
			break;
		}
		default:
			break; /* rng: nothing beyond the common state */
		}
		pthread_mutex_unlock(&d->lock);
		snap_section(w, SEC_VIRTIO, i, SEC_VERSION, &sv, sizeof(sv));
	}
}

static int save_e1000(struct vm *vm, struct snap_writer *w)
{
	size_t len = PCI_CFG_SIZE + e1000_save_size();
	uint8_t *buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	for (unsigned i = 0; i < vm->devs.ne1000; i++) {
		struct e1000 *e = vm->devs.e1000[i];
		pthread_mutex_lock(&e->lock);
		memcpy(buf, e->pci.st.cfg, PCI_CFG_SIZE);
		e1000_save(e, buf + PCI_CFG_SIZE);
		pthread_mutex_unlock(&e->lock);
		snap_section(w, SEC_E1000, i, E1000_STATE_VERSION, buf, len);
	}
	free(buf);
	return 0;
}

static void save_legacy(struct vm *vm, struct snap_writer *w)
{
	pthread_mutex_lock(&vm->serial.lock);
	snap_section(w, SEC_SERIAL, 0, SEC_VERSION, &vm->serial.st, sizeof(vm->serial.st));
	pthread_mutex_unlock(&vm->serial.lock);
	pthread_mutex_lock(&vm->i8042.lock);
	snap_section(w, SEC_I8042, 0, SEC_VERSION, &vm->i8042.st, sizeof(vm->i8042.st));
	pthread_mutex_unlock(&vm->i8042.lock);
	pthread_mutex_lock(&vm->rtc.lock);
	snap_section(w, SEC_RTC, 0, SEC_VERSION, &vm->rtc.st, sizeof(vm->rtc.st));
	pthread_mutex_unlock(&vm->rtc.lock);
	pthread_mutex_lock(&vm->pm.lock);
	snap_section(w, SEC_ACPI, 0, SEC_VERSION, &vm->pm.st, sizeof(vm->pm.st));
	pthread_mutex_unlock(&vm->pm.lock);
	uint32_t latch = pci_bus_cfg_addr(&vm->devs.pci);
	snap_section(w, SEC_PCIBUS, 0, SEC_VERSION, &latch, sizeof(latch));
	if (vm->devs.ged.present) {
		struct ged_state gs;
		ged_save(&vm->devs.ged, &gs);
		snap_section(w, SEC_GED, 0, SEC_VERSION, &gs, sizeof(gs));
	}
	if (vm->devs.vcpuhp.on) {
		struct vcpu_hotplug_state hs;
		cpu_hotplug_save(&vm->devs.vcpuhp.dev, &hs);
		snap_section(w, SEC_CPUHP, 0, SEC_VERSION, &hs, sizeof(hs));
	}
	if (vm->devs.genid.present) {
		struct vmgenid_state vs;
		vmgenid_save(&vm->devs.genid, &vs);
		snap_section(w, SEC_VMGENID, 0, SEC_VERSION, &vs, sizeof(vs));
	}
}

/* Guest RAM into path: regions back to back, zero pages left as holes; then fsync, tag it with
 * the snapshot id and rename it over path. With dirty (a Diff): only those pages, each written
 * even if zero, so the file's data extents are exactly the pages that changed. */
static int write_mem_file(struct vm *vm, const char *path, const uint8_t id[16], uint64_t *const *dirty,
			  char *err, size_t errlen)
{
	char tmp[4096];
	int fd = open_new_tmp(path, tmp, sizeof(tmp));
	if (fd < 0) {
		snprintf(err, errlen, "memory file %s: %s", tmp, strerror(-fd));
		return fd;
	}
	int e = ftruncate(fd, (off_t)vm->mem.total) < 0 ? -errno : 0;
	uint64_t off = 0;
	for (unsigned r = 0; !e && r < vm->mem.nregions; r++) {
		const struct guest_region *g = &vm->mem.regions[r];
		uint8_t *touched = dirty ? NULL : guest_region_touched(g);
		for (uint64_t p = 0; !e && p < g->size;) {
			/* Runs of pages to write go out in one write. */
			uint64_t run = 0, pg;
			while (p + run < g->size && run < (64u << 20) &&
			       (pg = (p + run) / 4096, dirty ? (dirty[r][pg / 64] >> (pg % 64)) & 1
							     : (!touched || touched[pg]) && !guest_page_is_zero(g->hva + p + run)))
				run += 4096;
			if (!run) {
				p += 4096;
				continue;
			}
			for (uint64_t done = 0; !e && done < run;) {
				ssize_t n = pwrite(fd, g->hva + p + done, run - done, (off_t)(off + p + done));
				if (n <= 0)
					e = n < 0 ? -errno : -EIO;
				else
					done += (uint64_t)n;
			}
			p += run;
		}
		free(touched);
		off += g->size;
	}
	return snap_mem_commit(fd, tmp, path, id, e, err, errlen);
}

static int create(struct vm *vm, const struct snapshot_create_opts *o, const char *mem_abs,
		  uint64_t *const *dirty, char *err, size_t errlen);

static void free_bitmaps(uint64_t **b)
{
	for (unsigned r = 0; r < GUEST_MEM_MAX_REGIONS; r++)
		free(b[r]);
}

/* Every page written since the last snapshot (KVM's log and petrel's own), and a fresh start:
 * a Full snapshot is the new base as much as a Diff. */
static int take_dirty(struct vm *vm, uint64_t **b)
{
	memset(b, 0, GUEST_MEM_MAX_REGIONS * sizeof(*b));
	for (unsigned r = 0; r < vm->mem.nregions; r++)
		if (!(b[r] = calloc((vm->mem.regions[r].size / 4096 + 63) / 64, 8)))
			return -ENOMEM;
	return guest_mem_take_dirty(&vm->mem, &vm->kvm, b);
}

static char *absolute(const char *path)
{
	if (path[0] == '/')
		return strdup(path);
	char cwd[4096], *s = NULL;
	if (!getcwd(cwd, sizeof(cwd)) || asprintf(&s, "%s/%s", cwd, path) < 0)
		return NULL;
	return s;
}

int snapshot_create(struct vm *vm, const struct snapshot_create_opts *o, char *err, size_t errlen)
{
	if (!vm_is_paused(vm) || !vm->devices_paused) {
		snprintf(err, errlen, "the VM must be paused for a snapshot");
		return -EBUSY;
	}
	if (o->diff && !vm->mem.dirty_log) {
		snprintf(err, errlen, "a Diff snapshot needs dirty page tracking (machine-config "
			 "track_dirty_pages, or track_dirty_pages when loading)");
		return -EINVAL;
	}
	if (o->diff && !vm->snap_parent) {
		snprintf(err, errlen, "a Diff snapshot needs an earlier snapshot of this VM to build on: take a Full one first");
		return -EINVAL;
	}
	uint64_t *dirty[GUEST_MEM_MAX_REGIONS];
	int de = vm->mem.dirty_log ? take_dirty(vm, dirty) : 0;
	char *state_abs = absolute(o->state_path), *mem_abs = absolute(o->mem_path);
	int e = de < 0 ? de : !state_abs || !mem_abs ? -ENOMEM : 0;
	if (e == 0)
		e = create(vm, o, mem_abs, o->diff ? dirty : NULL, err, errlen);
	else
		snprintf(err, errlen, "reading the dirty page log: %s", strerror(-e));
	if (vm->mem.dirty_log)
		free_bitmaps(dirty);
	free(mem_abs);
	free(vm->snap_parent);
	vm->snap_parent = e == 0 ? state_abs : NULL; /* after a failure only a Full can follow */
	if (e)
		free(state_abs);
	return e;
}

/* The VM section and the machine's definition: what a receiver needs to build the machine
 * before any state arrives (migration sends just these first, while the guest runs). */
static void put_definition(struct vm *vm, struct snap_writer *w, const struct snap_vm *sv,
			   const char *mem_abs, char *const *drive_paths)
{
	snap_section(w, SEC_VM, 0, SEC_VERSION, sv, sizeof(*sv));
	snap_section(w, SEC_MEMF, 0, SEC_VERSION, mem_abs, strlen(mem_abs));
	json_t *conf = vm_config_to_json(vm->cfg);
	json_t *drives = json_object_get(conf, "drives");
	for (unsigned i = 0; drive_paths && i < vm->cfg->ndrives; i++)
		json_object_set_new(json_array_get(drives, i), "path_on_host", json_string(drive_paths[i]));
	json_section(w, SEC_CONF, conf);
	json_section(w, SEC_EXTN, vm_config_extensions_to_json(vm->cfg));

	struct snap_mem sm = { .nregions = vm->mem.nregions, .total = vm->mem.total };
	for (unsigned r = 0; r < vm->mem.nregions; r++) {
		sm.r[r].gpa = vm->mem.regions[r].gpa;
		sm.r[r].size = vm->mem.regions[r].size;
		sm.r[r].file_off = r ? sm.r[r - 1].file_off + sm.r[r - 1].size : 0;
	}
	snap_section(w, SEC_MEM, 0, SEC_VERSION, &sm, sizeof(sm));
}

static int new_id(struct vm *vm, struct snap_vm *sv, char *err, size_t errlen)
{
	unsigned present, target;
	vcpu_hotplug_counts(vm, &present, &target); /* the vCPUs whose registers are saved */
	*sv = (struct snap_vm){ .nvcpus = present, .nvirtio = vm->devs.nvirtio, .pvm = vm->pvm };
	if (getrandom(sv->id, sizeof(sv->id), 0) != sizeof(sv->id))
		return fail(err, errlen, -EIO, "getrandom");
	return 0;
}

int snapshot_definition_build(struct vm *vm, struct snap_writer *w, char *err, size_t errlen)
{
	struct snap_vm sv;
	int e = new_id(vm, &sv, err, errlen);
	if (e < 0)
		return e;
	put_definition(vm, w, &sv, "", NULL);
	e = snap_finish(w);
	return e < 0 ? fail(err, errlen, e, "building the VM definition") : 0;
}

int snapshot_state_build(struct vm *vm, const char *mem_abs, char *const *drive_paths, uint64_t *const *dirty,
			 struct snap_writer *w, uint8_t id[16], char *err, size_t errlen)
{
	struct snap_vm sv;
	vcpu_hotplug_hold(vm); /* the vCPUs saved and the CPUH section agree */
	int e = new_id(vm, &sv, err, errlen);
	if (e == 0)
		e = state_build(vm, &sv, mem_abs, drive_paths, dirty, w, err, errlen);
	vcpu_hotplug_release(vm);
	if (e == 0)
		memcpy(id, sv.id, sizeof(sv.id));
	return e;
}

static int state_build(struct vm *vm, const struct snap_vm *svp, const char *mem_abs, char *const *drive_paths,
		       uint64_t *const *dirty, struct snap_writer *w, char *err, size_t errlen)
{
	const struct snap_vm sv = *svp;
	int e;
	put_definition(vm, w, &sv, mem_abs, drive_paths);
	if (dirty) {
		struct snap_parent par;
		memcpy(par.id, vm->snap_parent_id, sizeof(par.id));
		snap_begin(w, SEC_PRNT, 0, SEC_VERSION);
		snap_put(w, &par, sizeof(par));
		snap_put(w, vm->snap_parent, strlen(vm->snap_parent));
		snap_end(w);
		snap_page_map_put(w, &vm->mem, dirty); /* the pages its memory file holds */
	}
	struct vm_kvm_state ks;
	if ((e = vm_kvm_state_get(vm->kvm.vm_fd, &ks)) < 0)
		return fail(err, errlen, e, "reading the interrupt controllers and clock");
	snap_section(w, SEC_KVM, 0, SEC_VERSION, &ks, sizeof(ks));
	if ((e = save_cpus(vm, w)) < 0)
		return fail(err, errlen, e, "reading the vCPUs");
	if (vm->pvm) {
		struct pvm_syscall *ps = &vm->pvm_syscall;
		pthread_mutex_lock(&ps->lock);
		struct snap_pvm sp = { ps->lstar, ps->shim, ps->shim_gpa, ps->orig_pf, ps->installed, { 0 } };
		pthread_mutex_unlock(&ps->lock);
		snap_section(w, SEC_PVM, 0, SEC_VERSION, &sp, sizeof(sp));
	}
	save_legacy(vm, w);
	save_virtio(vm, w);
	if ((e = save_e1000(vm, w)) < 0)
		return fail(err, errlen, e, "saving the E1000 cards");
	e = snap_finish(w);
	return e < 0 ? fail(err, errlen, e, "building the state file") : 0;
}

/* The snapshot itself: the state file's sections, then both files (memory first). */
static int create(struct vm *vm, const struct snapshot_create_opts *o, const char *mem_abs,
		  uint64_t *const *dirty, char *err, size_t errlen)
{
	uint64_t t0 = now_ns();
	struct snap_writer w;
	snap_writer_init(&w);
	uint8_t id[16];
	int e = snapshot_state_build(vm, mem_abs, o->drive_paths, dirty, &w, id, err, errlen);
	if (e < 0) {
		snap_writer_free(&w);
		return e;
	}
	uint64_t t1 = now_ns();
	/* Memory first, state last: a state file at state_path always has its memory beside it
	 * (the id in both catches a pair torn by a crash between the two renames). */
	if ((e = write_mem_file(vm, o->mem_path, id, dirty, err, errlen)) < 0) {
		snap_writer_free(&w);
		return e;
	}
	uint64_t t2 = now_ns();
	e = snap_write_file(o->state_path, w.buf, w.len, err, errlen);
	snap_writer_free(&w);
	if (e == 0)
		memcpy(vm->snap_parent_id, id, sizeof(id));
	if (e == 0)
		log_info("snapshot: state %s (%.2f ms), memory %s (%.2f ms)", o->state_path,
			 (double)(t1 - t0) / 1e6, o->mem_path ? o->mem_path : "-", (double)(t2 - t1) / 1e6);
	return e;
}
