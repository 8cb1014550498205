/* Loading a snapshot into a new VM: check everything, build the machine, load every state. */
#include "snapshot/snapshot.h"
#include "arch/x86/cpu_state_codec.h"
#include "memory/uffd.h"
#include "snapshot/chain.h"
#include "snapshot/state_file.h"
#include "util/error.h"
#include "util/log.h"
#include "util/util.h"
#include "vm/vm.h"
#include "vm/vm_state.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* A JSON text section, parsed (NULL and a message if absent or not JSON). */
static json_t *json_of(const struct snap_reader *r, uint32_t id, char *err, size_t errlen)
{
	uint32_t version;
	const void *p;
	uint64_t len;
	if (snap_find(r, id, 0, &version, &p, &len) < 0 || version != SEC_VERSION) {
		char name[5];
		snap_id_name(id, name);
		error_set(err, errlen, -EINVAL, "snapshot lacks its '%s' section (or has another version of it)", name);
		return NULL;
	}
	json_error_t je;
	json_t *o = json_loadb(p, (size_t)len, JSON_REJECT_DUPLICATES, &je);
	if (!o)
		error_set(err, errlen, -EINVAL, "snapshot's VM definition is not valid JSON: %s", je.text);
	return o;
}

static int apply_overrides(const struct snapshot_load_opts *o, struct vm_config *cfg, char *err,
			   size_t errlen)
{
	for (unsigned i = 0; i < o->nnet; i++) {
		unsigned k;
		for (k = 0; k < cfg->nnets; k++)
			if (strcmp(cfg->nets[k].iface_id, o->net[i].iface_id) == 0)
				break;
		if (k == cfg->nnets)
			return error_set(err, errlen, -EINVAL, "network_overrides: the snapshot has no interface '%s'",
				 o->net[i].iface_id);
		char *dev = strdup(o->net[i].host_dev_name);
		if (!dev)
			return -ENOMEM;
		free(cfg->nets[k].host_dev_name);
		cfg->nets[k].host_dev_name = dev;
	}
	if (o->has_guest_agent_fd && cfg->has_guest_agent && cfg->guest_agent.enabled) {
		cfg->guest_agent_fd_set = true;
		cfg->guest_agent_fd = o->guest_agent_fd;
	}
	if (o->vsock_uds_path) {
		if (!cfg->has_vsock)
			return error_set(err, errlen, -EINVAL, "vsock_override: the snapshot has no vsock device");
		char *p = strdup(o->vsock_uds_path);
		if (!p)
			return -ENOMEM;
		free(cfg->vsock.uds_path);
		cfg->vsock.uds_path = p;
	}
	for (unsigned i = 0; i < o->ndrive; i++) {
		unsigned k;
		for (k = 0; k < cfg->ndrives; k++)
			if (strcmp(cfg->drives[k].drive_id, o->drive[i].drive_id) == 0)
				break;
		if (k == cfg->ndrives)
			return error_set(err, errlen, -EINVAL, "drive_overrides: the snapshot has no drive '%s'", o->drive[i].drive_id);
		char *path = strdup(o->drive[i].path_on_host);
		if (!path)
			return -ENOMEM;
		free(cfg->drives[k].path_on_host);
		cfg->drives[k].path_on_host = path;
		if (o->drive[i].has_format)
			cfg->drives[k].format = o->drive[i].format;
	}
	cfg->track_dirty_pages = o->track_dirty_pages;
	if (o->has_huge_pages)
		cfg->huge_pages = o->huge_pages;
	if (cfg->huge_pages == GUEST_MEM_PAGES_2M) {
		/* the memory comes from a file mapping or a userfaultfd, both in 4 KiB pages */
		return error_set(err, errlen, -EINVAL, "huge_pages: a snapshot cannot be restored into 2 MiB huge pages; "
			 "load it with huge_pages None or Transparent");
	}
	return 0;
}

static int config_of(const struct snap_state_file *l, const struct snapshot_load_opts *o,
		     struct vm_config *cfg, char *err, size_t errlen)
{
	int e = 0;
	json_t *conf = json_of(&l->r, SEC_CONF, err, errlen), *extn = NULL;
	char *text = conf ? json_dumps(conf, JSON_COMPACT) : NULL;
	e = !conf ? -EINVAL : !text ? -ENOMEM : vm_config_parse_json(text, cfg, err, errlen);
	if (!e)
		e = (extn = json_of(&l->r, SEC_EXTN, err, errlen)) ? 0 : -EINVAL;
	if (!e)
		e = vm_config_extensions_from_json(extn, cfg, err, errlen);
	if (!e)
		e = apply_overrides(o, cfg, err, errlen);
	if (!e)
		e = vm_config_validate(cfg, err, errlen);
	/* with vCPU hot-plug the present ones are saved: load_cpu_hotplug checks their count */
	if (!e && !cfg->has_vcpu_hotplug && cfg->vcpus != l->vm.nvcpus)
		e = error_set(err, errlen, -EINVAL, "snapshot records %u vCPUs and a definition with %u", l->vm.nvcpus, cfg->vcpus);
	free(text);
	json_decref(conf);
	json_decref(extn);
	if (e < 0)
		vm_config_free(cfg);
	return e;
}

int snapshot_read_config(const struct snapshot_load_opts *o, struct vm_config *cfg, char *err,
			 size_t errlen)
{
	vm_config_init(cfg);
	struct snap_state_file l;
	int e = snap_state_open(o->state_path, &l, err, errlen);
	if (e < 0)
		return e;
	e = config_of(&l, o, cfg, err, errlen);
	snap_state_close(&l);
	return e;
}

int snapshot_config_from_buf(const uint8_t *buf, size_t len, const struct snapshot_load_opts *o,
			     struct vm_config *cfg, char *err, size_t errlen)
{
	vm_config_init(cfg);
	struct snap_state_file l;
	int e = snap_state_open_buf(buf, len, &l, err, errlen);
	if (e < 0)
		return e;
	e = config_of(&l, o, cfg, err, errlen);
	snap_state_close(&l);
	return e;
}

static int check_layout(const struct guest_mem *mem, const struct snap_mem *sm, char *err, size_t errlen)
{
	bool same = sm->nregions == mem->nregions && sm->total == mem->total;
	for (unsigned r = 0; same && r < sm->nregions; r++)
		same = sm->r[r].gpa == mem->regions[r].gpa && sm->r[r].size == mem->regions[r].size &&
		       sm->r[r].file_off == mem->regions[r].file_off;
	if (!same)
		return error_set(err, errlen, -EINVAL, "snapshot's memory layout does not match its machine definition");
	return 0;
}

/* vCPU registers (section CPU, instance = vCPU), for those present. */
static int load_cpus(struct vm *vm, struct snap_reader *r, char *err, size_t errlen)
{
	struct cpu_state *cs = malloc(sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	int e = 0;
	for (unsigned i = 0; !e && i < vm_vcpu_count(vm); i++) {
		if (!vcpu_hotplug_is_present(vm, i))
			continue;
		struct dec d;
		uint32_t v;
		if ((e = snap_section_dec(r, SEC_CPU, i, 0, SEC_VERSION, &v, &d, err, errlen)) == 0 &&
		    (e = cpu_state_decode(&d, cs, err, errlen)) == 0)
			e = cpu_state_set(vm_vcpu_fd(vm, i), cs, err, errlen);
	}
	free(cs);
	return e;
}

/* vCPU hot-plug (vm/vcpu_hotplug.h): before the vCPUs' registers, as it creates those
 * hot-added after the boot. A snapshot without the section has the boot vCPUs, all present. */
static int load_cpu_hotplug(struct vm *vm, struct snap_reader *r, const struct snap_vm *sv, char *err,
			    size_t errlen)
{
	uint32_t version;
	const void *p;
	uint64_t len;
	struct vcpu_hotplug_state hs;
	struct dec d;
	bool has = snap_find(r, SEC_CPUHP, 0, &version, &p, &len) == 0;
	if (!has && !vcpu_hotplug_on(vm))
		return 0;
	if (!has)
		return error_set(err, errlen, -EINVAL, "snapshot's definition has vcpu-hotplug and it lacks its 'CPUH' section");
	if (snap_find(r, ged_state_ops.id, 0, &version, &p, &len) < 0)
		return error_set(err, errlen, -EINVAL, "snapshot has CPU hot-plug and no event device to announce it");
	int e = snap_section_dec(r, SEC_CPUHP, 0, 0, SEC_VERSION, &version, &d, err, errlen);
	if (e == 0)
		e = cpu_hotplug_state_get(&d, &hs, err, errlen);
	return e < 0 ? e : vcpu_hotplug_load(vm, &hs, sv->nvcpus, err, errlen);
}

/* Every device's state through its own load verb (devices/dev_state.h), in the VM's order. */
static int load_devices(struct vm *vm, struct snap_reader *r, const struct snap_vm *sv, char *err, size_t errlen)
{
	if (sv->nvirtio != vm_virtio_count(vm))
		return error_set(err, errlen, -EINVAL, "snapshot has %u virtio devices, its definition builds %u", sv->nvirtio,
			 vm_virtio_count(vm));
	struct vm_state_unit *u = malloc(VM_STATE_MAX_UNITS * sizeof(*u));
	if (!u)
		return -ENOMEM;
	unsigned n = vm_state_units(vm, u);
	int e = 0;
	for (unsigned i = 0; !e && i < n; i++) {
		const struct dev_state_ops *ops = u[i].ops;
		struct dec d;
		uint32_t version;
		e = snap_section_dec(r, ops->id, u[i].instance, ops->min_version, ops->version, &version, &d, err, errlen);
		if (e == -ENOENT && ops->absent) {
			ops->absent(u[i].dev);
			e = 0;
		} else if (e == 0) {
			e = ops->load(u[i].dev, &d, version, err, errlen);
		}
	}
	free(u);
	return e;
}

static int load_states(struct vm *vm, struct snap_reader *r, const struct snap_vm *sv,
		       const struct snapshot_load_opts *o, char *err, size_t errlen)
{
	struct vm_kvm_state ks;
	struct dec d;
	uint32_t v;
	int e;
	if ((e = snap_section_dec(r, SEC_KVM, 0, 0, SEC_VERSION, &v, &d, err, errlen)) < 0 ||
	    (e = vm_kvm_state_decode(&d, &ks, err, errlen)) < 0 ||
	    (e = vm_kvm_state_set(vm_kvm(vm), &ks, o->clock_realtime, err, errlen)) < 0 ||
	    (e = load_cpu_hotplug(vm, r, sv, err, errlen)) < 0 || (e = load_cpus(vm, r, err, errlen)) < 0)
		return e;
	return load_devices(vm, r, sv, err, errlen);
}

int snapshot_states_from_buf(struct vm *vm, const uint8_t *buf, size_t len, const struct snapshot_load_opts *o,
			     char *err, size_t errlen)
{
	struct snap_state_file l;
	struct snap_mem sm;
	int e = snap_state_open_buf(buf, len, &l, err, errlen);
	if (e < 0)
		return e;
	if ((e = snap_mem_read(&l.r, &sm, err, errlen)) == 0 && (e = check_layout(vm_guest_mem(vm), &sm, err, errlen)) == 0)
		e = load_states(vm, &l.r, &l.vm, o, err, errlen);
	snap_state_close(&l);
	return e;
}

/* A lazily filled guest memory gets the Diffs' pages written before userfaultfd takes over,
 * and every page present then is left alone. With transparent huge pages (the host's
 * "always", or huge_pages Transparent) one written page makes its whole 2 MiB present, as
 * zeros, and the full snapshot's data for the rest of it never came in: under nested KVM a
 * Lazy load of a Diff chain read zeros over the guest's kernel and triple-faulted. Small
 * pages only for such memory (khugepaged leaves it alone too). */
static void small_pages_only(struct guest_mem *mem)
{
	for (unsigned r = 0; r < mem->nregions; r++)
		if (madvise(mem->regions[r].hva, mem->regions[r].size, MADV_NOHUGEPAGE) < 0)
			log_warn("snapshot: cannot keep huge pages out of guest memory (%s): a lazy load of a "
				 "Diff chain may read zeros", strerror(errno));
}

/* Guest memory for the chain: the full snapshot's memory file mapped (File) or anonymous
 * memory to be filled lazily, with the Diffs' pages laid over it either way; then a lazy
 * backend takes over the pages still missing. */
static int build_memory(struct vm *vm, const struct vm_config *cfg, const struct snapshot_load_opts *o,
			const struct snap_chain *chain, const struct snap_mem *sm, int console_out_fd,
			char *err, size_t errlen)
{
	int fd = -1;
	if (o->backend != SNAP_MEM_UFFD &&
	    (fd = snap_mem_open(chain->link[0].mem, chain->link[0].id, sm->total, err, errlen)) < 0)
		return fd;
	int e = vm_create_restored(vm, cfg, console_out_fd, o->backend == SNAP_MEM_FILE ? fd : -1);
	if (e < 0) {
		e = error_set(err, errlen, e, "cannot build the snapshot's machine: %s", strerror(-e));
		if (fd >= 0)
			close(fd);
		vm_destroy(vm); /* what the half-built machine holds (KVM, memory, devices) */
		return e;
	}
	struct guest_mem *mem = vm_guest_mem(vm);
	if (o->backend != SNAP_MEM_FILE && chain->n > 1)
		small_pages_only(mem);
	if ((e = check_layout(mem, sm, err, errlen)) == 0 && (e = snap_chain_apply(chain, mem, err, errlen)) == 0) {
		if (o->backend == SNAP_MEM_LAZY)
			e = uffd_lazy_pager(mem, fd, err, errlen);
		else if (o->backend == SNAP_MEM_UFFD)
			e = uffd_lazy_external(mem, o->mem_path, err, errlen);
	}
	if (fd >= 0)
		close(fd); /* the mappings keep the file */
	if (e < 0)
		vm_destroy(vm);
	return e;
}

int snapshot_load(struct vm *vm, const struct vm_config *cfg, const struct snapshot_load_opts *o,
		  int console_out_fd, char *err, size_t errlen)
{
	uint64_t t0 = now_ns();
	struct snap_state_file l;
	int e = snap_state_open(o->state_path, &l, err, errlen);
	if (e < 0)
		return e;
	struct snap_mem sm;
	uint32_t v;
	const void *p;
	uint64_t n;
	if (o->backend == SNAP_MEM_UFFD && snap_find(&l.r, SEC_PRNT, 0, &v, &p, &n) == 0) {
		snap_state_close(&l);
		return error_set(err, errlen, -EINVAL, "a Diff snapshot cannot be served by an external page-fault handler "
				 "(its memory file holds only the changed pages): merge the chain first (petrel "
				 "snapshot merge), or load it with the File or Lazy backend");
	}
	struct snap_chain *chain = calloc(1, sizeof(*chain));
	if (!chain || (e = snap_mem_read(&l.r, &sm, err, errlen)) < 0 ||
	    (e = snap_chain_resolve(o->state_path, o->mem_path, chain, err, errlen)) < 0) {
		snap_state_close(&l);
		free(chain);
		return e < 0 ? e : -ENOMEM;
	}
	/* The chain read the state file again: it must be the one whose states are loaded here. */
	if ((e = snap_chain_check_top(chain, l.vm.id, o->state_path, "loaded", "load", err, errlen)) < 0) {
		snap_chain_free(chain);
		free(chain);
		snap_state_close(&l);
		return e;
	}
	bool built = (e = build_memory(vm, cfg, o, chain, &sm, console_out_fd, err, errlen)) == 0;
	if (built)
		e = load_states(vm, &l.r, &l.vm, o, err, errlen);
	/* A loaded snapshot may be one of many clones: a new generation ID, notified when the VM
	 * runs (migration and replication load the same states and keep the ID: the same VM). */
	if (!e && (e = vm_new_generation(vm)) < 0)
		e = error_set(err, errlen, e, "cannot write a new VM generation ID: %s", strerror(-e));
	/* A Diff taken from here on builds on this snapshot. */
	char *parent = e ? NULL : realpath(o->state_path, NULL);
	if (!e && !parent)
		e = -errno;
	if (!e)
		vm_set_snapshot_parent(vm, parent, l.vm.id);
	unsigned depth = chain->n;
	snap_chain_free(chain);
	free(chain);
	snap_state_close(&l);
	if (e < 0) {
		if (built)
			vm_destroy(vm);
		return e;
	}
	log_info("snapshot: loaded %s (%u in its chain, memory: %s) in %.2f ms", o->state_path, depth,
		 o->backend == SNAP_MEM_FILE ? "file" : o->backend == SNAP_MEM_LAZY ? "petrel's pager"
										  : "external handler",
		 (double)(now_ns() - t0) / 1e6);
	return 0;
}
