/* Writing a paused VM's snapshot: the state file and the memory file. */
#include "snapshot/snapshot.h"
#include "arch/x86/cpu_state_codec.h"
#include "snapshot/page_map.h"
#include "snapshot/state_file.h"
#include "util/bitmap.h"
#include "util/error.h"
#include "util/log.h"
#include "util/util.h"
#include "vm/vm.h"
#include "vm/vm_state.h"

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
	int e = !msrs || !cs ? -ENOMEM : cpu_msr_list(vm_kvm(vm), vm_vcpu_fd(vm, 0), msrs);
	for (unsigned i = 0; !e && i < vm_vcpu_count(vm); i++) {
		if (!vcpu_hotplug_is_present(vm, i))
			continue; /* ejected by the guest: nothing of it to keep */
		e = cpu_state_get(vm_vcpu_fd(vm, i), msrs, cs);
		if (!e) {
			struct enc en;
			enc_init(&en);
			cpu_state_put(&en, cs);
			snap_section_enc(w, SEC_CPU, i, SEC_VERSION, &en);
			enc_free(&en);
		}
	}
	free(msrs);
	free(cs);
	return e;
}

/* Every device's state through its own save verb (devices/dev_state.h), in the VM's list. */
static void save_devices(struct vm *vm, struct snap_writer *w)
{
	struct vm_state_unit *u = malloc(VM_STATE_MAX_UNITS * sizeof(*u));
	if (!u) {
		w->err = w->err ? w->err : -ENOMEM;
		return;
	}
	unsigned n = vm_state_units(vm, u);
	for (unsigned i = 0; i < n; i++) {
		if (!u[i].saved)
			continue;
		struct enc e;
		enc_init(&e);
		u[i].ops->save(u[i].dev, &e);
		snap_section_enc(w, u[i].ops->id, u[i].instance, u[i].ops->version, &e);
		enc_free(&e);
	}
	free(u);
	struct vcpu_hotplug_state hs;
	if (vcpu_hotplug_save(vm, &hs)) {
		struct enc e;
		enc_init(&e);
		cpu_hotplug_state_put(&e, &hs);
		snap_section_enc(w, SEC_CPUHP, 0, SEC_VERSION, &e);
		enc_free(&e);
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
	if (fd < 0)
		return error_set(err, errlen, fd, "memory file %s: %s", tmp, strerror(-fd));
	const struct guest_mem *mem = vm_guest_mem(vm);
	int e = ftruncate(fd, (off_t)mem->total) < 0 ? -errno : 0;
	uint64_t off = 0;
	for (unsigned r = 0; !e && r < mem->nregions; r++) {
		const struct guest_region *g = &mem->regions[r];
		uint8_t *touched = dirty ? NULL : guest_region_touched(g);
		for (uint64_t p = 0; !e && p < g->size;) {
			/* Runs of pages to write go out in one write. */
			uint64_t run = 0, pg;
			while (p + run < g->size && run < (64u << 20) &&
			       (pg = (p + run) / 4096, dirty ? bitmap_test(dirty[r], pg)
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
		  uint64_t *const *dirty, uint8_t id[16], char *err, size_t errlen);

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
	const struct guest_mem *mem = vm_guest_mem(vm);
	for (unsigned r = 0; r < mem->nregions; r++)
		if (!(b[r] = calloc(guest_region_bitmap_words(&mem->regions[r]), 8)))
			return -ENOMEM;
	return vm_take_dirty(vm, b);
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
	int refused = vm_state_saveable(vm, "a snapshot", err, errlen);
	if (refused < 0)
		return refused;
	if (!vm_is_paused(vm) || !vm_devices_quiesced(vm))
		return error_set(err, errlen, -EBUSY, "the VM must be paused for a snapshot");
	if (o->diff && !vm_dirty_logging(vm))
		return error_set(err, errlen, -EINVAL, "a Diff snapshot needs dirty page tracking (machine-config "
			 "track_dirty_pages, or track_dirty_pages when loading)");
	if (o->diff && !vm_snapshot_parent(vm, NULL))
		return error_set(err, errlen, -EINVAL, "a Diff snapshot needs an earlier snapshot of this VM to build on: take a Full one first");
	uint64_t *dirty[GUEST_MEM_MAX_REGIONS];
	bool logged = vm_dirty_logging(vm);
	int de = logged ? take_dirty(vm, dirty) : 0;
	char *state_abs = absolute(o->state_path), *mem_abs = absolute(o->mem_path);
	int e = de < 0 ? de : !state_abs || !mem_abs ? -ENOMEM : 0;
	uint8_t id[16] = { 0 };
	if (e == 0)
		e = create(vm, o, mem_abs, o->diff ? dirty : NULL, id, err, errlen);
	else
		e = error_set(err, errlen, e, "reading the dirty page log: %s", strerror(-e));
	if (logged)
		free_bitmaps(dirty);
	free(mem_abs);
	if (e) {
		free(state_abs);
		state_abs = NULL; /* after a failure only a Full can follow */
	}
	vm_set_snapshot_parent(vm, state_abs, id);
	return e;
}

/* The VM section and the machine's definition: what a receiver needs to build the machine
 * before any state arrives (migration sends just these first, while the guest runs). */
static void put_definition(struct vm *vm, struct snap_writer *w, const struct snap_vm *sv,
			   const char *mem_abs, char *const *drive_paths)
{
	snap_vm_put(w, sv);
	snap_section(w, SEC_MEMF, 0, SEC_VERSION, mem_abs, strlen(mem_abs));
	const struct vm_config *cfg = vm_config(vm);
	json_t *conf = vm_config_to_json(cfg);
	json_t *drives = json_object_get(conf, "drives");
	for (unsigned i = 0; drive_paths && i < cfg->ndrives; i++)
		json_object_set_new(json_array_get(drives, i), "path_on_host", json_string(drive_paths[i]));
	json_section(w, SEC_CONF, conf);
	json_section(w, SEC_EXTN, vm_config_extensions_to_json(cfg));

	const struct guest_mem *mem = vm_guest_mem(vm);
	struct snap_mem sm = { .nregions = mem->nregions, .total = mem->total };
	for (unsigned r = 0; r < mem->nregions; r++) {
		sm.r[r].gpa = mem->regions[r].gpa;
		sm.r[r].size = mem->regions[r].size;
		sm.r[r].file_off = r ? sm.r[r - 1].file_off + sm.r[r - 1].size : 0;
	}
	snap_mem_put(w, &sm);
}

static int new_id(struct vm *vm, struct snap_vm *sv, char *err, size_t errlen)
{
	unsigned present, target;
	vcpu_hotplug_counts(vm, &present, &target); /* the vCPUs whose registers are saved */
	*sv = (struct snap_vm){ .nvcpus = present, .nvirtio = vm_virtio_count(vm), .pvm = vm_is_pvm(vm) };
	if (getrandom(sv->id, sizeof(sv->id), 0) != sizeof(sv->id))
		return error_set(err, errlen, -EIO, "getrandom: %s", strerror(EIO));
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
	return e < 0 ? error_set(err, errlen, e, "building the VM definition: %s", strerror(-e)) : 0;
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
		uint8_t parent_id[SNAP_PARENT_ID_LEN];
		const char *parent = vm_snapshot_parent(vm, parent_id);
		snap_begin(w, SEC_PRNT, 0, SEC_VERSION);
		snap_put(w, parent_id, SNAP_PARENT_ID_LEN);
		snap_put(w, parent, strlen(parent));
		snap_end(w);
		snap_page_map_put(w, vm_guest_mem(vm), dirty); /* the pages its memory file holds */
	}
	struct vm_kvm_state ks;
	if ((e = vm_kvm_state_get(vm_kvm(vm), &ks)) < 0)
		return error_set(err, errlen, e, "reading the interrupt controllers and clock: %s", strerror(-e));
	struct enc en;
	enc_init(&en);
	vm_kvm_state_put(&en, &ks);
	snap_section_enc(w, SEC_KVM, 0, SEC_VERSION, &en);
	enc_free(&en);
	if ((e = save_cpus(vm, w)) < 0)
		return error_set(err, errlen, e, "reading the vCPUs: %s", strerror(-e));
	save_devices(vm, w);
	e = snap_finish(w);
	return e < 0 ? error_set(err, errlen, e, "building the state file: %s", strerror(-e)) : 0;
}

/* The snapshot itself: the state file's sections, then both files (memory first). */
static int create(struct vm *vm, const struct snapshot_create_opts *o, const char *mem_abs,
		  uint64_t *const *dirty, uint8_t id[16], char *err, size_t errlen)
{
	uint64_t t0 = now_ns();
	struct snap_writer w;
	snap_writer_init(&w);
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
		log_info("snapshot: state %s (%.2f ms), memory %s (%.2f ms)", o->state_path,
			 (double)(t1 - t0) / 1e6, o->mem_path ? o->mem_path : "-", (double)(t2 - t1) / 1e6);
	return e;
}
