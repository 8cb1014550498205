/* The image store (images.h, docs/manager.md#images). An image is an untrusted file: petreld
 * reads its first cluster with petrel's own qcow2 header parser (src/block, fuzzed) to tell
 * qcow2 from raw and to learn its size and whether it names a backing file, and nothing else;
 * what is inside (partitions, file systems, GRUB's configuration) is read by the jailed worker
 * of a VM that boots from it (docs/images.md).
 *
 * Files: <image dir>/NAME.qcow2 or NAME.raw (the data), NAME.json (format, virtual_size,
 * imported_at, source, moved), .NAME.partial while an import copies (made with O_EXCL: two
 * imports of one name cannot both copy). The data is published with a rename that replaces
 * nothing, then its NAME.json: an image is listed once both exist. */
#include "manager/images.h"
#include "manager/answer.h"
#include "manager/defs.h"
#include "manager/events.h"
#include "manager/fsutil.h"
#include "manager/jail_fill.h"
#include "manager/mgr.h"
#include "manager/overlay.h"
#include "manager/util.h"
#include "block/qcow2.h"
#include "block/qcow2_format.h"
#include "util/error.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHAIN_MAX 16   /* petrel's own limit on a backing chain */

int images_vm_dir(struct manager *m, const char *name, char *out, size_t size)
{
	int n = name ? snprintf(out, size, "%s/images-vms/%s", m->jail_base, name)
		     : snprintf(out, size, "%s/images-vms", m->jail_base);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int data_path(struct manager *m, const char *name, const char *format, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s.%s", m->image_dir, name, format);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* NAME.json of the store, parsed, or NULL. */
static json_t *read_meta(struct manager *m, const char *name)
{
	char file[VM_NAME_MAX + 8], err[256], *text = NULL;
	snprintf(file, sizeof(file), "%s.json", name);
	if (defs_read(m->image_dir, file, &text, err, sizeof(err)) < 0)
		return NULL;
	json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	free(text);
	return o;
}

int images_get(struct manager *m, const char *name, struct image_info *out, char *err, size_t errlen)
{
	if (!mgr_vm_name_ok(name))
		return error_set(err, errlen, -EINVAL, "an image's name is 1 to %d of [A-Za-z0-9-], not '%.80s'",
				 VM_NAME_MAX, name);
	json_t *o = read_meta(m, name);
	const char *fmt = json_string_value(json_object_get(o, "format"));
	json_t *size = json_object_get(o, "virtual_size");
	int e = 0;
	if (!o)
		e = error_set(err, errlen, -ENOENT, "no image named '%s'", name);
	else if (!fmt || (strcmp(fmt, "qcow2") && strcmp(fmt, "raw")) || !json_is_integer(size) ||
		 json_integer_value(size) <= 0)
		e = error_set(err, errlen, -EINVAL, "%s/%s.json: no format (qcow2 or raw) and virtual_size", m->image_dir,
			      name);
	if (!e) {
		snprintf(out->name, sizeof(out->name), "%s", name);
		snprintf(out->format, sizeof(out->format), "%s", fmt);
		out->virtual_size = (uint64_t)json_integer_value(size);
		if (data_path(m, name, fmt, out->path, sizeof(out->path)) < 0 || access(out->path, R_OK) < 0)
			e = error_set(err, errlen, -ENOENT, "image '%s': its file %s/%s.%s is missing", name, m->image_dir,
				      name, fmt);
	}
	json_decref(o);
	return e;
}

/* Whether the disk at path, or a file of its qcow2 backing chain, is the file st (dev, inode). */
static bool chain_uses(const char *path, bool qcow2, const struct stat *img)
{
	char host[PATH_MAX];
	snprintf(host, sizeof(host), "%s", path);
	struct qcow2_header *h = malloc(sizeof(*h));
	bool found = false;
	for (int depth = 0; h && !found && depth < CHAIN_MAX; depth++) {
		struct stat st;
		if (stat(host, &st) < 0)
			break;
		if (st.st_dev == img->st_dev && st.st_ino == img->st_ino) {
			found = true;
			break;
		}
		char why[256], next[PATH_MAX];
		/* only a disk the definition says is qcow2 is followed (jail_backing.c's rule) */
		if (!qcow2 || disk_qcow2_header(host, NULL, h, why, sizeof(why)) <= 0 || !h->backing_file[0])
			break;
		const char *slash = strrchr(host, '/');
		if (h->backing_file[0] == '/')
			snprintf(next, sizeof(next), "%s", h->backing_file);
		else if (snprintf(next, sizeof(next), "%.*s/%s", slash ? (int)(slash - host) : 1, slash ? host : ".",
				  h->backing_file) >= (int)sizeof(next))
			break;
		snprintf(host, sizeof(host), "%s", next);
	}
	free(h);
	return found;
}

/* The VMs whose disks use the file img: a JSON array of their names. m->lock held. */
static json_t *image_users(struct manager *m, const struct stat *img)
{
	json_t *a = json_array();
	for (struct mgr_vm *vm = m->vms; vm; vm = vm->next) {
		size_t i;
		json_t *d;
		json_array_foreach(json_object_get(vm->def.doc, "drives"), i, d) {
			const char *path = json_string_value(json_object_get(d, "path_on_host"));
			const char *fmt = json_string_value(json_object_get(d, "format"));
			if (path && chain_uses(path, fmt && !strcmp(fmt, "qcow2"), img)) {
				json_array_append_new(a, json_string(vm->def.name));
				break;
			}
		}
	}
	return a;
}

/* The image as the API shows it: NAME.json's fields, its path, its bytes on the disk, its VMs. */
static json_t *image_json(struct manager *m, const char *name)
{
	struct image_info info;
	char err[256];
	json_t *o = read_meta(m, name);
	struct stat st;
	if (!o || images_get(m, name, &info, err, sizeof(err)) < 0 || stat(info.path, &st) < 0) {
		json_decref(o);
		return NULL;
	}
	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "path", json_string(info.path));
	json_object_set_new(o, "bytes", json_integer((json_int_t)st.st_blocks * 512));
	json_object_set_new(o, "vms", image_users(m, &st));
	return o;
}

json_t *images_list(struct manager *m)
{
	json_t *a = json_array();
	DIR *d = opendir(m->image_dir);
	if (!d)
		return a;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		char name[VM_NAME_MAX + 1];
		if (de->d_name[0] == '.' || n < 6 || n - 5 > VM_NAME_MAX || strcmp(de->d_name + n - 5, ".json"))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(n - 5), de->d_name);
		json_t *o = mgr_vm_name_ok(name) ? image_json(m, name) : NULL;
		if (o)
			json_array_append_new(a, o);
	}
	closedir(d);
	return a;
}

/* The format and virtual size of the file at path, and that it stands alone. */
static int probe(const char *path, char fmt[8], uint64_t *size, char *err, size_t errlen)
{
	char why[512];
	int e = qcow2_image_info(path, NULL, fmt, 8, size, why, sizeof(why));
	if (e < 0)
		return error_set(err, errlen, -EINVAL, "%s", why);
	if (!strcmp(fmt, "qcow2") && (e = disk_stands_alone(path, "qcow2", why, sizeof(why))) < 0)
		return error_set(err, errlen, -EINVAL, "%s%s", why,
				 e == -ENOTSUP ? ": an image must stand alone (qemu-img convert makes one of it)" : "");
	if (!*size)
		return error_set(err, errlen, -EINVAL, "'%s' is empty", path);
	return 0;
}

/* The data of q into place as dest (a rename that replaces nothing, or a sparse copy through
 * partial). 0 or -errno with the reason. */
static int put_data(const struct image_import *q, const char *partial, const char *dest, bool *renamed, char *err,
		    size_t errlen)
{
	*renamed = false;
	if (q->move) {
		if (renameat2(AT_FDCWD, q->path, AT_FDCWD, dest, RENAME_NOREPLACE) == 0) {
			*renamed = true;
			/* jailed workers of any uid read it through their links: readable by all, written by none */
			return chmod(dest, 0644) < 0 ? error_set(err, errlen, -errno, "cannot chmod %s: %s", dest, strerror(errno)) : 0;
		}
		if (errno != EXDEV)
			return error_set(err, errlen, errno == EEXIST ? -EEXIST : -errno, "cannot move '%s' to %s: %s",
					 q->path, dest, strerror(errno));
	}
	int e = copy_sparse(q->path, partial, 0644);
	if (e < 0)
		return error_set(err, errlen, e == -EEXIST ? -EEXIST : e, "cannot copy '%s' to %s: %s", q->path, partial,
				 e == -EEXIST ? "another import of that name is under way" : strerror(-e));
	if (renameat2(AT_FDCWD, partial, AT_FDCWD, dest, RENAME_NOREPLACE) < 0) {
		e = error_set(err, errlen, -errno, "cannot rename %s to %s: %s", partial, dest, strerror(errno));
		unlink(partial);
	}
	return e;
}

int images_import(struct manager *m, const struct image_import *q, json_t **out, char *err, size_t errlen)
{
	char fmt[8], dest[PATH_MAX], partial[PATH_MAX], other[PATH_MAX];
	uint64_t size = 0;
	struct stat st;
	struct image_info have;
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", m->image_dir);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent) {   /* /var/lib/petreld, made with the store when it is missing */
		*slash = '\0';
		mkdir(parent, 0755);
	}
	if (mkdir(m->image_dir, 0750) < 0 && errno != EEXIST)
		return error_set(err, errlen, -errno, "cannot create %s: %s", m->image_dir, strerror(errno));
	if (stat(q->path, &st) < 0)
		return error_set(err, errlen, -(errno == ENOENT ? ENOENT : EINVAL), "'%s': %s", q->path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return error_set(err, errlen, -EINVAL, "'%s' is not a regular file", q->path);
	if (images_get(m, q->name, &have, err, errlen) != -ENOENT)
		return error_set(err, errlen, -EEXIST, "an image named '%s' exists already", q->name);
	int e = probe(q->path, fmt, &size, err, errlen);
	if (e < 0)
		return e;
	/* NAME.qcow2 and NAME.raw: one image a name, whatever the other's format */
	if (data_path(m, q->name, strcmp(fmt, "raw") ? "raw" : "qcow2", other, sizeof(other)) < 0 ||
	    data_path(m, q->name, fmt, dest, sizeof(dest)) < 0 ||
	    snprintf(partial, sizeof(partial), "%s/.%s.partial", m->image_dir, q->name) >= (int)sizeof(partial))
		return error_set(err, errlen, -ENAMETOOLONG, "%s: path too long", m->image_dir);
	if (access(other, F_OK) == 0)
		return error_set(err, errlen, -EEXIST, "%s exists: an image named '%s' exists already (or an import "
				 "of it stopped half-way: remove the file)", other, q->name);
	uint64_t t0 = now_ms();
	bool renamed;
	if ((e = put_data(q, partial, dest, &renamed, err, errlen)) < 0 && renamed)
		rename(dest, q->path);
	if (e < 0)
		return e == -EEXIST ? error_set(err, errlen, -EEXIST, "an image named '%s' exists already, or its import "
						"is under way", q->name) : e;
	/* What is in the store is what counts: the source may have changed since it was probed. */
	char fmt2[8];
	if ((e = probe(dest, fmt2, &size, err, errlen)) == 0 && strcmp(fmt, fmt2))
		e = error_set(err, errlen, -EINVAL, "'%s' changed while it was imported", q->path);
	json_t *meta = json_pack("{s:s, s:I, s:I, s:s, s:b}", "format", fmt, "virtual_size", (json_int_t)size,
				 "imported_at", (json_int_t)time(NULL), "source", q->path, "moved", q->move);
	char *text = meta ? json_dumps(meta, JSON_INDENT(2)) : NULL;
	json_decref(meta);
	if (!e && !text)
		e = error_set(err, errlen, -ENOMEM, "out of memory");
	if (!e)
		e = defs_write_atomic(m->image_dir, q->name, text, err, errlen);
	free(text);
	if (e < 0) {
		if (renamed && rename(dest, q->path) == 0)
			return e;   /* moved back where it was */
		unlink(dest);
		return e;
	}
	if (q->move && !renamed)
		unlink(q->path);
	pthread_mutex_lock(&m->lock);
	*out = image_json(m, q->name);
	mgr_image_event_emit(m, q->name, "image imported",
			     json_pack("{s:s, s:I, s:s, s:b, s:I}", "format", fmt, "virtual_size", (json_int_t)size,
				       "source", q->path, "moved", q->move, "ms", (json_int_t)(now_ms() - t0)));
	pthread_mutex_unlock(&m->lock);
	return *out ? 0 : error_set(err, errlen, -EIO, "image '%s' imported, but it cannot be read back", q->name);
}

int images_remove(struct manager *m, const char *name, char *err, size_t errlen)
{
	struct image_info info;
	struct stat st;
	int e = images_get(m, name, &info, err, errlen);
	if (e < 0)
		return e == -EINVAL && mgr_vm_name_ok(name) ? -ENOENT : e;
	if (stat(info.path, &st) < 0)
		return error_set(err, errlen, -errno, "%s: %s", info.path, strerror(errno));
	json_t *users = image_users(m, &st);
	if (json_array_size(users)) {
		char list[512] = "";
		size_t i, off = 0;
		json_t *v;
		json_array_foreach(users, i, v)
			if (off < sizeof(list))
				off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "", json_string_value(v));
		json_decref(users);
		return error_set(err, errlen, -EBUSY, "image '%s' is the base of the disks of VM(s) %s: undefine them first",
				 name, list);
	}
	json_decref(users);
	/* the description first: a crash between the two leaves a file no listing shows, not an
	 * image without its data */
	if ((e = defs_remove(m->image_dir, name, err, errlen)) < 0)
		return e;
	if (unlink(info.path) < 0)
		return error_set(err, errlen, -errno, "cannot remove %s: %s", info.path, strerror(errno));
	mgr_image_event_emit(m, name, "image removed", NULL);
	return 0;
}

void images_vm_dir_remove(struct manager *m, const struct vm_def *def)
{
	char dir[PATH_MAX];
	if (images_vm_dir(m, def->name, dir, sizeof(dir)) < 0)
		return;
	size_t n = strlen(dir), i;
	json_t *d;
	json_array_foreach(json_object_get(def->doc, "drives"), i, d) {
		const char *path = json_string_value(json_object_get(d, "path_on_host"));
		if (path && !strncmp(path, dir, n) && path[n] == '/') {
			rm_tree(dir);
			return;
		}
	}
}

struct import_request {
	struct manager *m;
	struct image_import q;
	api_done_fn done;
	void *opaque;
};

static void *import_thread(void *arg)
{
	struct import_request *r = arg;
	char err[512] = "";
	json_t *out = NULL;
	int e = images_import(r->m, &r->q, &out, err, sizeof(err));
	mgr_answer_later(r->done, r->opaque, e < 0 ? mgr_status_of(e) : 0, "", err, 201, out);
	free(r);
	return NULL;
}

int images_import_start(struct manager *m, const struct image_import *q, api_done_fn done, void *opaque)
{
	struct import_request *r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	*r = (struct import_request){ .m = m, .q = *q, .done = done, .opaque = opaque };
	int e = mgr_detached(import_thread, r);
	if (e < 0)
		free(r);
	return e;
}
