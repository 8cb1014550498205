/* VMs made from an image (POST /vms/from-image, docs/manager.md#vms-from-an-image): what
 * `virt-install --import --cloud-init` and OpenStack's boot from an image do, inside petreld.
 *
 * Each VM is a defined VM of its own (NAME, or NAME-1 .. NAME-N for a count): its disk lives in
 * <jail base>/images-vms/NAME/ (images_vm_dir): root.base, a hard link of the image (so that
 * the image's removal cannot pull the data from under it), and root.qcow2, petrel's qcow2
 * overlay backed by the relative "root.base" (overlay.c; a jailed worker finds the base beside
 * it: jail_backing.c), as large as the image or disk_size_gib, whichever is larger (the guest's
 * growpart uses the rest). Its definition boots from that disk (boot-source.from_disk, the
 * VMM's direct boot) or through a firmware, its interface is on a host network (its MAC and
 * reservation: net_reserve.h) or a tap, and its petrel.cloud-init section gives the guest its
 * host name (the VM's name), its user, the user's SSH keys and password hash; petreld's UUID
 * for it is cloud-init's instance-id, so every VM of one image is a new instance. It is written
 * atomically, like every definition, and its seed made (cloudinit/ci_drive.h).
 *
 * All or nothing: if one VM cannot be made (or, with "start", started), every VM of the
 * request is stopped, undefined and its directory removed (batch.c), and the answer says why.
 * The VMs are busy ("from-image") until the request ends. */
#include "manager/from_image.h"
#include "manager/answer.h"
#include "manager/batch.h"
#include "manager/cloudinit/ci_drive.h"
#include "manager/definitions.h"
#include "manager/events.h"
#include "manager/fsutil.h"
#include "manager/images.h"
#include "manager/job.h"
#include "manager/mgr.h"
#include "manager/net/net_reserve.h"
#include "manager/overlay.h"
#include "manager/uefi_vars.h"
#include "manager/util.h"
#include "manager/web/web.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ROOT_DRIVE "root"
#define IFACE "eth0"

int vmimage_prepare(struct manager *m, const char *body, size_t len, struct image_vm_req **out, char *err,
		    size_t errlen)
{
	struct image_vm_req *q = calloc(1, sizeof(*q));
	if (!q)
		return error_oom(err, errlen);
	struct image_info img;
	int e = image_vm_parse(body, len, q, err, errlen);
	if (!e)
		e = images_get(m, q->image, &img, err, errlen);
	for (unsigned i = 0; !e && i < q->count; i++) {
		char name[VM_NAME_MAX + 1];
		image_vm_name(q, i, name);
		if (!strcmp(name, FROM_IMAGE_PATH))
			e = error_set(err, errlen, -EINVAL, "a VM may not be named '%s' (the path of this request)", name);
		else
			e = batch_name_free(m, name, images_vm_dir, "another name", err, errlen);
	}
	if (e < 0) {
		vmimage_free(q);
		return e;
	}
	*out = q;
	return 0;
}

void vmimage_free(struct image_vm_req *q)
{
	if (!q)
		return;
	image_vm_req_free(q);
	free(q);
}

/* The petrel.cloud-init section every VM of q starts from: the one given, with q's user added
 * (the password in clear hashed here: yescrypt, crypt(3)). NULL with the reason. */
static json_t *cloud_init_base(struct image_vm_req *q, char *err, size_t errlen)
{
	json_t *ci = q->cloud_init ? json_deep_copy(q->cloud_init) : json_object();
	if (!ci || !q->user[0]) {
		if (!ci)
			error_oom(err, errlen);
		return ci;
	}
	char hash[256] = "";
	if (q->password[0] && web_users_hash(q->password, hash, sizeof(hash)) < 0) {
		json_decref(ci);
		error_set(err, errlen, -EIO, "password: crypt(3) cannot make a yescrypt hash");
		return NULL;
	}
	explicit_bzero(q->password, sizeof(q->password));
	json_t *user = json_pack("{s:s, s:b, s:s}", "name", q->user, "sudo", 1, "shell", "/bin/bash");
	if (q->keys)
		json_object_set(user, "ssh_authorized_keys", q->keys);
	if (q->passwd[0] || hash[0])
		json_object_set_new(user, "passwd", json_string(q->passwd[0] ? q->passwd : hash));
	explicit_bzero(hash, sizeof(hash));
	json_t *users = json_object_get(ci, "users");
	if (!json_is_array(users))   /* not an array: def_parse says what is wrong with it */
		json_object_set_new(ci, "users", users = json_array());
	json_array_append_new(users, user);
	return ci;
}

/* VM i's definition: its disk in dir, its interface, its cloud-init section (from ci). */
static json_t *vm_definition(const struct image_vm_req *q, unsigned i, const char *disk, json_t *ci)
{
	static const char *const firmware[] = { [IMAGE_BOOT_SEABIOS] = "seabios", [IMAGE_BOOT_OVMF] = "ovmf" };
	char name[VM_NAME_MAX + 1], tap[FROM_IMAGE_TAP_MAX + 1];
	image_vm_name(q, i, name);
	json_t *drive = json_pack("{s:s, s:s, s:b, s:b, s:s}", "drive_id", ROOT_DRIVE, "path_on_host", disk,
				  "is_root_device", 0, "is_read_only", 0, "format", "qcow2");
	json_t *boot = q->boot == IMAGE_BOOT_DISK ? json_pack("{s:b}", "from_disk", 1)
						   : json_pack("{s:s}", "firmware", firmware[q->boot]);
	if (q->boot != IMAGE_BOOT_DISK)
		json_object_set_new(drive, "boot_index", json_integer(0));
	json_t *section = json_deep_copy(ci);
	/* the VM's own host name, unless the section given names one for a single VM */
	if (q->count > 1 || !json_is_string(json_object_get(section, "hostname")))
		json_object_set_new(section, "hostname", json_string(name));
	json_t *doc = json_pack("{s:o, s:{s:i, s:i}, s:[o], s:{s:s, s:o}}", "boot-source", boot, "machine-config",
				"vcpu_count", (int)q->vcpus, "mem_size_mib", (int)q->memory_mib, "drives", drive,
				"petrel", "name", name, "cloud-init", section);
	image_vm_tap(q, i, tap);
	if (doc && q->network[0])
		json_object_set_new(doc, "network-interfaces", json_pack("[{s:s, s:s}]", "iface_id", IFACE, "network", q->network));
	else if (doc && tap[0])
		json_object_set_new(doc, "network-interfaces", json_pack("[{s:s, s:s}]", "iface_id", IFACE, "host_dev_name", tap));
	return doc;
}

/* The job of a VM while it is made and started: the API sees it busy. */
static const struct mgr_job making = { .verb = MGR_VERB_NONE, .name = "from-image" };

/* Make VM i: its disk, its definition (checked, written atomically), its place in the inventory. */
static int make_vm(struct manager *m, const struct image_vm_req *q, unsigned i, const struct image_info *img,
		   json_t *ci, struct mgr_vm **out, char *err, size_t errlen)
{
	char name[VM_NAME_MAX + 1], dir[PATH_MAX], disk[PATH_MAX];
	image_vm_name(q, i, name);
	if (images_vm_dir(m, name, dir, sizeof(dir)) < 0)
		return error_set(err, errlen, -ENAMETOOLONG, "jail base path too long");
	if (mkdir(dir, 0700) < 0)
		return error_set(err, errlen, -errno, "cannot create %s: %s", dir, strerror(errno));
	uint64_t size = (uint64_t)q->disk_size_gib << 30;
	struct vm_def def = { 0 };
	struct mgr_vm *vm = NULL;
	char *text = NULL;
	json_t *doc = NULL;
	int e = overlay_make(dir, ROOT_DRIVE, img->path, img->format, size > img->virtual_size ? size : 0, disk,
			     sizeof(disk), err, errlen);
	if (!e && (!(doc = vm_definition(q, i, disk, ci)) || !(text = json_dumps(doc, JSON_COMPACT))))
		e = error_oom(err, errlen);
	if (!e)
		e = def_parse(text, strlen(text), &def, err, errlen);
	free(text);
	json_decref(doc);
	if (!e && !(vm = calloc(1, sizeof(*vm))))
		e = error_oom(err, errlen);
	pthread_mutex_lock(&m->lock);
	bool vars_made = false;
	if (!e && mgr_vm_find(m, name))
		e = error_set(err, errlen, -EEXIST, "a VM named '%s' was defined meanwhile", name);
	if (!e)
		e = mgr_def_files_ready(m, &def, &vars_made, err, errlen);
	bool defined = false;
	if (!e && !(e = net_vm_define(m, &def, err, errlen)))
		defined = true;
	if (!e)   /* its cloud-init seed, made now as at any define (ci_drive.h) */
		e = ci_drive_write(m, &def, err, errlen);
	if (!e)
		e = save_definition(m, &def, err, errlen);
	if (e < 0) {
		if (vars_made)
			uefi_vars_remove(m, name);
		if (defined)
			net_vm_undefine(m, name);
		ci_drive_remove(m, name);
		pthread_mutex_unlock(&m->lock);
		def_free(&def);
		free(vm);
		rm_tree(dir);
		return e;
	}
	batch_add(m, vm, &def, &making, json_pack("{s:s}", "image", q->image));
	pthread_mutex_unlock(&m->lock);
	*out = vm;
	return 0;
}

int vmimage_run(struct manager *m, struct image_vm_req *q, json_t **result, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	struct image_info img;
	int e = images_get(m, q->image, &img, err, errlen);
	if (!e && images_vm_dir(m, NULL, dir, sizeof(dir)) < 0)
		e = error_set(err, errlen, -ENAMETOOLONG, "jail base path too long");
	else if (!e && ((mkdir(m->jail_base, 0755) < 0 && errno != EEXIST) || (mkdir(dir, 0711) < 0 && errno != EEXIST)))
		e = error_set(err, errlen, -errno, "cannot create %s: %s", dir, strerror(errno));
	json_t *ci = e ? NULL : cloud_init_base(q, err, errlen);
	struct mgr_vm **made = calloc(q->count, sizeof(*made));
	if (!e && !ci)
		e = -EINVAL;
	else if (!e && !made)
		e = error_oom(err, errlen);
	uint64_t t0 = now_ms();
	for (unsigned i = 0; !e && i < q->count; i++)
		e = make_vm(m, q, i, &img, ci, &made[i], err, errlen);
	uint64_t t1 = now_ms();
	if (!e && q->start)
		e = batch_start(m, made, q->count, NULL, "VM", err, errlen);
	if (e < 0 && made) {
		batch_discard(m, made, q->count, images_vm_dir);
	} else if (!e) {
		pthread_mutex_lock(&m->lock);
		json_t *a = json_array();
		for (unsigned i = 0; i < q->count; i++) {
			made[i]->job = NULL;
			json_array_append_new(a, mgr_vm_to_json(m, made[i]));
			mgr_vm_log(m, made[i]->def.name, "made from image '%s', %u VM(s) in %llu ms%s", q->image, q->count,
				   (unsigned long long)(t1 - t0), q->start ? ", all started" : "");
		}
		*result = a;
		pthread_mutex_unlock(&m->lock);
	}
	free(made);
	json_decref(ci);
	return e;
}

struct request {
	struct manager *m;
	struct image_vm_req *q;
	api_done_fn done;
	void *opaque;
};

static void *request_thread(void *arg)
{
	struct request *r = arg;
	char err[512] = "";
	json_t *out = NULL;
	int e = vmimage_run(r->m, r->q, &out, err, sizeof(err));
	mgr_answer_later(r->done, r->opaque, e < 0 ? mgr_status_of(e) : 0, "from-image: ", err, 201, out);
	vmimage_free(r->q);
	free(r);
	return NULL;
}

int vmimage_start(struct manager *m, struct image_vm_req *q, api_done_fn done, void *opaque)
{
	struct request *r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	*r = (struct request){ m, q, done, opaque };
	int e = mgr_detached(request_thread, r);
	if (e < 0)
		free(r);
	return e;
}
