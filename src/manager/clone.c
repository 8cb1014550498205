/* Clones: N new VMs from one snapshot of a VM, on copy-on-write disks (docs/manager.md#clones),
 * the deployment path of `petrel image deploy` (docs/images.md) inside petreld.
 *
 * Clone I of VM T's snapshot S is a defined VM of its own, PREFIX + I: its definition is the one
 * S was taken with (meta.json), under its new name, with a new UUID, a new MAC per network
 * interface (and the tap the request names), each drive replaced by an overlay, and a UEFI VM's
 * variables file copied (<defs dir>/NAME.vars, uefi_vars.h). Its disks
 * live in <jail base>/clones/<name>/: DRIVE_ID.base, a hard link of T's disk (read-only from
 * now on: every clone shares it), and DRIVE_ID.qcow2, a qcow2 overlay whose backing name is the
 * relative "DRIVE_ID.base". A jailed worker finds it there too: jail_backing.c links the base
 * next to the overlay in the jail. The link keeps the base alive whatever becomes of T.
 *
 * Then (unless "start": false) every clone starts from S, two per CPU at a time: a worker that
 * loads S's state and memory (mapped privately, shared through the page cache) on the clone's
 * overlays (restore_overrides). It is all or nothing: if one clone cannot be made or started,
 * every clone of the request is stopped, undefined and removed, and the answer says why. */
#include "manager/batch.h"
#include "manager/cloudinit/ci_def.h"
#include "manager/cloudinit/ci_drive.h"
#include "manager/definitions.h"
#include "manager/defs.h"
#include "manager/events.h"
#include "manager/fsutil.h"
#include "manager/jail_fill.h"
#include "manager/job.h"
#include "manager/mgr.h"
#include "manager/net/net_iface.h"
#include "manager/overlay.h"
#include "manager/uefi_vars.h"
#include "manager/util.h"
#include "manager/verbs.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void clone_name(const struct clone_req *q, unsigned i, char out[VM_NAME_MAX + 1])
{
	/* prefix: at most VM_NAME_MAX - 4 characters, i < CLONE_MAX: it fits */
	if (snprintf(out, VM_NAME_MAX + 1, "%s%u", q->prefix, i) > VM_NAME_MAX)
		out[0] = '\0';
}

static int clone_dir(struct manager *m, const char *name, char *out, size_t size)
{
	int n = name ? snprintf(out, size, "%s/clones/%s", m->jail_base, name) : snprintf(out, size, "%s/clones", m->jail_base);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* The snapshot's definition (meta.json's), or NULL with the reason. */
static json_t *snapshot_definition(const char *snapdir, char *err, size_t errlen)
{
	char *text = NULL;
	if (defs_read(snapdir, "meta.json", &text, err, errlen) < 0)
		return NULL;
	json_t *meta = json_loads(text, 0, NULL);
	free(text);
	json_t *def = json_incref(json_object_get(meta, "definition"));
	json_decref(meta);
	if (!json_is_object(def)) {
		json_decref(def);
		error_set(err, errlen, -EINVAL, "%s/meta.json has no definition", snapdir);
		return NULL;
	}
	return def;
}

int vmclone_prepare(struct manager *m, struct mgr_vm *vm, const char *body, size_t len, struct clone_req **out,
		    char *err, size_t errlen)
{
	struct clone_req *q = malloc(sizeof(*q));
	if (!q)
		return error_set(err, errlen, -ENOMEM, "out of memory");
	int e = vmclone_parse(body, len, vm->def.name, q, err, errlen);
	if (!e && !mgr_vm_has_snapshot(m, vm->def.name, q->snap))
		e = error_set(err, errlen, -ENOENT, "VM '%s' has no snapshot '%s'", vm->def.name, q->snap);
	/* The clones' bases are vm's disks as they are now: they must not change any more. */
	if (!e && vm->pid > 0 && json_array_size(json_object_get(vm->def.doc, "drives")))
		e = error_set(err, errlen, -EBUSY, "VM '%s' is running: its disks, the clones' bases, would change under "
			    "them; shut it down first", vm->def.name);
	for (unsigned i = 0; !e && i < q->count; i++) {
		char name[VM_NAME_MAX + 1];
		clone_name(q, i, name);
		e = batch_name_free(m, name, clone_dir, "another prefix", err, errlen);
	}
	if (e < 0) {
		vmclone_free(q);
		return e;
	}
	*out = q;
	return 0;
}

/* A locally administered unicast MAC of the clone's own, from its name (FNV-1a). */
static void clone_mac(const char *name, unsigned iface, char out[18])
{
	uint64_t h = 0xcbf29ce484222325ull ^ iface;
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	snprintf(out, 18, "06:%02x:%02x:%02x:%02x:%02x", (unsigned)(h >> 32) & 0xff, (unsigned)(h >> 24) & 0xff,
		 (unsigned)(h >> 16) & 0xff, (unsigned)(h >> 8) & 0xff, (unsigned)h & 0xff);
}

/* The overlay of one drive in cdir: DRIVE_ID.base (the template's disk) and DRIVE_ID.qcow2. */
static int make_overlay(const char *cdir, json_t *drive, char *err, size_t errlen)
{
	const char *id = json_string_value(json_object_get(drive, "drive_id"));
	const char *disk = json_string_value(json_object_get(drive, "path_on_host"));
	const char *fmt = json_string_value(json_object_get(drive, "format"));
	if (fmt && !strcmp(fmt, "auto"))
		fmt = NULL;
	char top[PATH_MAX];
	int e = disk_stands_alone(disk, fmt, err, errlen);
	if (e == -ENOTSUP)
		return error_set(err, errlen, e, "drive '%s': '%s' has a backing file itself (a clone's disk?): "
				 "clone from a VM whose disks stand alone", id, disk);
	if (e < 0)
		return e;
	e = overlay_make(cdir, id, disk, fmt, 0, top, sizeof(top), err, errlen);
	if (e < 0)
		return e;
	json_object_set_new(drive, "path_on_host", json_string(top));
	json_object_set_new(drive, "format", json_string("qcow2"));
	return 0;
}

/* The clone's definition from the template's: name, UUID, MACs, taps, overlays. */
static int clone_definition(const struct clone_req *q, unsigned i, json_t *tmpl, const char *cdir, json_t **out,
			    char *err, size_t errlen)
{
	char name[VM_NAME_MAX + 1];
	clone_name(q, i, name);
	json_t *doc = json_deep_copy(tmpl), *p = json_object_get(doc, "petrel"), *el;
	if (!json_is_object(p)) {
		json_decref(doc);
		return error_set(err, errlen, -EINVAL, "the snapshot's definition has no petrel section");
	}
	json_object_set_new(p, "name", json_string(name));
	json_object_del(p, "uuid"); /* def_parse gives a new one: cloud-init's instance-id */
	/* and its own host name, the clone's name (ci_def.h), however the VM cloned named its own */
	json_object_del(json_object_get(p, CI_SECTION), "hostname");
	size_t k;
	int e = 0;
	json_array_foreach(json_object_get(doc, "drives"), k, el)
		if ((e = make_overlay(cdir, el, err, errlen)) < 0)
			break;
	json_array_foreach(json_object_get(doc, "network-interfaces"), k, el) {
		char mac[18], tap[TAP_MAX + 16];
		clone_mac(name, (unsigned)k, mac);
		json_object_set_new(el, "guest_mac", json_string(mac));
		const char *pat = json_string_value(json_object_get(q->net, json_string_value(json_object_get(el, "iface_id"))));
		const char *pct = pat ? strstr(pat, "%d") : NULL;
		if (pct)
			snprintf(tap, sizeof(tap), "%.*s%u%s", (int)(pct - pat), pat, i, pct + 2);
		else if (pat)
			snprintf(tap, sizeof(tap), "%s", pat);
		if (pat)   /* the tap given takes the place of a network's (net_iface.h) */
			net_iface_to_worker(el, tap);
	}
	if (e < 0)
		json_decref(doc);
	else
		*out = doc;
	return e;
}

/* The job of a clone while it is made and started: the API sees it busy, "clone". */
static const struct mgr_job cloned = { .verb = MGR_VERB_CLONE, .name = "clone" };

/* Make clone i: its disks, its definition (written atomically), its place in the inventory. */
static int make_clone(struct manager *m, struct mgr_vm *src, const struct clone_req *q, unsigned i, json_t *tmpl,
		      struct mgr_vm **out, char *err, size_t errlen)
{
	char name[VM_NAME_MAX + 1], cdir[PATH_MAX];
	clone_name(q, i, name);
	if (clone_dir(m, name, cdir, sizeof(cdir)) < 0)
		return error_set(err, errlen, -ENAMETOOLONG, "jail base path too long");
	if (mkdir(cdir, 0700) < 0)
		return error_set(err, errlen, -errno, "cannot create %s: %s", cdir, strerror(errno));
	json_t *doc = NULL;
	char *text = NULL;
	struct vm_def def = { 0 };
	struct mgr_vm *vm = NULL;
	int e = clone_definition(q, i, tmpl, cdir, &doc, err, errlen);
	if (!e && !(text = json_dumps(doc, JSON_COMPACT)))
		e = error_set(err, errlen, -ENOMEM, "out of memory");
	if (!e)
		e = def_parse(text, strlen(text), &def, err, errlen);
	free(text);
	json_decref(doc);
	if (!e && !(vm = calloc(1, sizeof(*vm))))
		e = error_set(err, errlen, -ENOMEM, "out of memory");
	pthread_mutex_lock(&m->lock);
	if (!e && mgr_vm_find(m, name))
		e = error_set(err, errlen, -EEXIST, "a VM named '%s' was defined meanwhile", name);
	/* A UEFI clone's variables: a copy of its template's file as it is now (a start from the
	 * snapshot then loads the flash contents of the snapshot's instant). */
	const char *vars_from = uefi_vars_of(tmpl);
	char own[PATH_MAX];
	bool copied = false, made = false;
	if (!e && vars_from) {   /* its own file, never the template VM's */
		if (uefi_vars_own_path(m, name, own, sizeof(own)) < 0)
			e = error_set(err, errlen, -ENAMETOOLONG, "%s: path too long", m->defs_dir);
		else
			json_object_set_new(json_object_get(def.doc, "boot-source"), UEFI_VARS_KEY, json_string(own));
	}
	if (!e && vars_from && access(vars_from, R_OK) == 0)
		copied = (e = uefi_vars_create(m, name, vars_from, err, errlen)) == 0;
	if (!e)   /* from the template when the template VM's file is gone */
		e = uefi_vars_prepare(m, &def, &made, err, errlen);
	if (!e)   /* its own cloud-init seed (ci_drive.h) */
		e = ci_drive_write(m, &def, err, errlen);
	if (!e)
		e = save_definition(m, &def, err, errlen);
	if (e < 0) {
		if (copied || made)
			uefi_vars_remove(m, name);
		ci_drive_remove(m, name);
		pthread_mutex_unlock(&m->lock);
		def_free(&def);
		free(vm);
		rm_tree(cdir);
		return e;
	}
	batch_add(m, vm, &def, &cloned, json_pack("{s:s, s:s}", "clone_of", src->def.name, "snapshot", q->snap));
	pthread_mutex_unlock(&m->lock);
	*out = vm;
	return 0;
}

int vmclone_run(struct manager *m, struct mgr_vm *src, const struct clone_req *q, json_t **result, char *err,
		size_t errlen)
{
	char snapdir[PATH_MAX], dir[PATH_MAX];
	int e = 0;
	if (mgr_vm_snapshot_dir(m, src->def.name, q->snap, snapdir, sizeof(snapdir)) < 0 ||
	    clone_dir(m, NULL, dir, sizeof(dir)) < 0)
		e = error_set(err, errlen, -ENAMETOOLONG, "path too long");
	json_t *tmpl = e ? NULL : snapshot_definition(snapdir, err, errlen);
	struct mgr_vm **made = calloc(q->count, sizeof(*made));
	if (!e && !tmpl)
		e = -EINVAL;
	else if (!e && !made)
		e = error_set(err, errlen, -ENOMEM, "out of memory");
	else if (!e && json_array_size(json_object_get(tmpl, "pmem")))
		e = error_set(err, errlen, -ENOTSUP, "the snapshot's VM has pmem devices: their files cannot be shared");
	else if (!e && ((mkdir(m->jail_base, 0755) < 0 && errno != EEXIST) || (mkdir(dir, 0711) < 0 && errno != EEXIST)))
		e = error_set(err, errlen, -errno, "cannot create %s: %s", dir, strerror(errno));
	uint64_t t0 = now_ms();
	for (unsigned i = 0; !e && i < q->count; i++)
		e = make_clone(m, src, q, i, tmpl, &made[i], err, errlen);
	uint64_t t1 = now_ms();
	if (!e && q->start)
		e = batch_start(m, made, q->count, snapdir, "clone", err, errlen);
	if (e < 0) {
		batch_discard(m, made, q->count, clone_dir);
	} else {
		pthread_mutex_lock(&m->lock);
		json_t *a = json_array();
		for (unsigned i = 0; i < q->count; i++) {
			made[i]->job = NULL;
			json_array_append_new(a, mgr_vm_to_json(m, made[i]));
		}
		*result = a;
		pthread_mutex_unlock(&m->lock);
		mgr_vm_log(m, src->def.name, "%u clone(s) of snapshot '%s': made in %llu ms, started in %llu ms", q->count,
		       q->snap, (unsigned long long)(t1 - t0), (unsigned long long)(now_ms() - t1));
	}
	free(made);
	json_decref(tmpl);
	return e;
}
