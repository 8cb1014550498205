/* PUT /snapshot/backup's chain fields (docs/snapshots.md#incremental-backups, docs/api.md):
 * "mode" ("full" | "incremental"), "chain_id" (the caller's opaque string, kept with each
 * disk's bitmap) and "backing" ({"drive_id": "the previous member's file name"}), checked on
 * the API's thread; and the answer's "disks" (one object per disk: drive_id, mode, why, file,
 * bytes_written, dirty_bytes, sha256). The rest of the request is ctl_snapshot.c's, which
 * calls these: they sit with the core, below the resource files. */
#include "api/core.h"
#include "block/bitmap_store.h"
#include "snapshot/snapshot.h"
#include "util/json_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BACKING_NAME_MAX 1023

struct backup_chain_request {
	struct snapshot_backup_opts o;
	char *chain_id;
	struct backup_backing backing[DEVICES_MAX_DRIVES];
	struct snapshot_backup_result res;
};

void ctl_backup_free(struct backup_chain_request *c)
{
	if (!c)
		return;
	free(c->chain_id);
	for (unsigned i = 0; i < c->o.nbacking; i++) {
		free((char *)c->backing[i].drive_id);
		free((char *)c->backing[i].file);
	}
	free(c);
}

/* A JSON string without NUL bytes of at most max bytes, or NULL. */
static const char *plain_string(json_t *v, size_t max)
{
	const char *s = json_string_value(v);
	return s && json_string_length(v) == strlen(s) && strlen(s) <= max ? s : NULL;
}

static int parse_backing(json_t *b, struct backup_chain_request *c, char *err, size_t errlen)
{
	if (!json_is_object(b))
		return error_set(err, errlen, -EINVAL, "backing: expected an object of drive ids and file names");
	const char *id;
	json_t *v;
	json_object_foreach(b, id, v) {
		const char *f = plain_string(v, BACKING_NAME_MAX);
		if (!f || !*f || f[0] == '/')
			return error_set(err, errlen, -EINVAL,
					 "backing.%s: expected the previous member's file name, relative to backup_dir", id);
		if (c->o.nbacking == DEVICES_MAX_DRIVES)
			return error_set(err, errlen, -EINVAL, "backing: more than %d drives", DEVICES_MAX_DRIVES);
		struct backup_backing *e = &c->backing[c->o.nbacking];
		if (!(e->drive_id = strdup(id)) || !(e->file = strdup(f)))
			return error_oom(err, errlen);
		c->o.nbacking++;
	}
	return 0;
}

int ctl_backup_parse(json_t *body, struct backup_chain_request **out, char *err, size_t errlen)
{
	*out = NULL;
	struct backup_chain_request *c = calloc(1, sizeof(*c));
	if (!c)
		return error_oom(err, errlen);
	c->o.mode = BACKUP_FULL;
	c->o.backing = c->backing;
	json_t *m = json_object_get(body, "mode"), *id = json_object_get(body, "chain_id"),
	       *b = json_object_get(body, "backing");
	int r = 0;
	if (m && !json_is_null(m)) {
		const char *s = json_string_value(m);
		if (!s || (strcmp(s, "full") && strcmp(s, "incremental")))
			r = error_set(err, errlen, -EINVAL, "mode: expected \"full\" or \"incremental\"");
		else
			c->o.mode = strcmp(s, "full") ? BACKUP_INCREMENTAL : BACKUP_FULL;
	}
	if (!r && id && !json_is_null(id)) {
		const char *s = plain_string(id, BACKUP_CHAIN_ID_MAX);
		if (!s)
			r = error_set(err, errlen, -EINVAL, "chain_id: expected a string of at most %d bytes",
				      BACKUP_CHAIN_ID_MAX);
		else if (!(c->chain_id = strdup(s)))
			r = error_oom(err, errlen);
	}
	if (!r && b && !json_is_null(b))
		r = parse_backing(b, c, err, errlen);
	if (!r && c->o.mode == BACKUP_INCREMENTAL && !c->o.nbacking)
		r = error_set(err, errlen, -EINVAL, "backing: an incremental backup names each drive's previous member");
	if (r < 0) {
		ctl_backup_free(c);
		return r;
	}
	c->o.chain_id = c->chain_id ? c->chain_id : "";
	*out = c;
	return 0;
}

int ctl_backup_run(struct vm *vm, const char *dir, struct backup_chain_request *c, char *err, size_t errlen)
{
	c->o.dir = dir;
	return snapshot_backup_run(vm, &c->o, &c->res, err, errlen);
}

static const char *mode_name(enum backup_mode m)
{
	return m == BACKUP_INCREMENTAL ? "incremental" : "full";
}

int ctl_backup_answer(const struct backup_chain_request *c, json_t *answer)
{
	json_t *disks = json_array();
	if (!disks)
		return -ENOMEM;
	enum backup_mode all = c->o.mode;
	const char *why = NULL;
	for (unsigned i = 0; i < c->res.ndisks; i++) {
		const struct backup_disk_result *d = &c->res.disks[i];
		json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:s}", "drive_id", d->drive_id, "mode", mode_name(d->mode),
				      "file", d->file, "bytes_written", (json_int_t)d->bytes_written, "dirty_bytes",
				      (json_int_t)d->dirty_bytes, "sha256", d->sha256);
		if (o && d->why[0])
			json_object_set_new(o, "why", json_string(d->why));
		if (!o || json_array_append_new(disks, o) < 0) {
			json_decref(disks);
			return -ENOMEM;
		}
		if (d->mode == BACKUP_FULL && all == BACKUP_INCREMENTAL) {
			all = BACKUP_FULL;
			why = d->why[0] ? d->why : NULL;
		}
	}
	json_object_set_new(answer, "mode", json_string(mode_name(all)));
	if (why)
		json_object_set_new(answer, "why", json_string(why));
	if (c->o.chain_id)
		json_object_set_new(answer, "chain_id", json_string(c->o.chain_id));
	return json_object_set_new(answer, "disks", disks) < 0 ? -ENOMEM : 0;
}
