/* A VM's chain of backups (backup_chain.h). A chain is a full member and the incrementals after
 * it, each naming the one before it ("parent" in meta.json; its disk members' qcow2 backing
 * files "../PARENT/FILE"). Its id, "KEY:FIRST" (KEY "job:ID" for a backup job's, "api" for the
 * backup verb's; FIRST the full member's name), is the chain_id the worker keeps with each
 * disk's bitmap: another chain's request, or a stale bitmap, gets a full member. */
#include "manager/backup_chain.h"
#include "manager/defs.h"
#include "manager/fsutil.h"
#include "manager/verbs.h"
#include "util/error.h"
#include "util/json_util.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static json_t *member_meta(const char *parent, const char *name)
{
	char dir[PATH_MAX + VM_NAME_MAX + 2];
	snprintf(dir, sizeof(dir), "%s/%s", parent, name);
	return meta_dir_read(dir);
}

void backup_member_file(json_t *meta, const char *id, char *out, size_t size)
{
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(meta, "disks"), i, d) {
		const char *f = json_str_or_empty(d, "file");
		if (!strcmp(json_str_or_empty(d, "drive_id"), id) && f[0] && f[0] != '.' && !strchr(f, '/')) {
			snprintf(out, size, "%s", f);
			return;
		}
	}
	snprintf(out, size, "%s.img", id);
}

/* The newest member of the chain key in parent (by "created", then name), other than name. */
static bool newest_member(const char *parent, const char *key, const char *name, char *out, size_t size)
{
	DIR *d = opendir(parent);
	if (!d)
		return false;
	json_int_t best = -1;
	size_t klen = strlen(key);
	struct dirent *de;
	out[0] = '\0';
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strchr(de->d_name, '.') || !strcmp(de->d_name, name) ||
		    !mgr_vm_name_ok(de->d_name))
			continue;
		json_t *meta = member_meta(parent, de->d_name);
		const char *id = json_str_or_empty(meta, "chain_id");
		json_int_t t = json_integer_value(json_object_get(meta, "created"));
		if (!strncmp(id, key, klen) && id[klen] == ':' && json_is_array(json_object_get(meta, "disks")) &&
		    (t > best || (t == best && strcmp(de->d_name, out) > 0))) {
			best = t;
			snprintf(out, size, "%.*s", VM_NAME_MAX, de->d_name);
		}
		json_decref(meta);
	}
	closedir(d);
	return out[0] != '\0';
}

void backup_plan_full(struct backup_plan *p, const char *key, const char *name, const char *why)
{
	p->incremental = false;
	snprintf(p->why, sizeof(p->why), "%s", why);
	snprintf(p->chain_id, sizeof(p->chain_id), "%s:%s", key, name);
	p->prev[0] = '\0';
	p->nlinks = 0;
	json_decref(p->backing);
	p->backing = NULL;
}

/* Walk p->prev's chain to its full member into p->links: NULL, or why it cannot be built on. */
static const char *walk_chain(const char *parent, struct backup_plan *p, char *why, size_t size)
{
	char cur[VM_NAME_MAX + 1];
	snprintf(cur, sizeof(cur), "%s", p->prev);
	while (cur[0]) {
		if (p->nlinks == BACKUP_LINK_MAX)
			return NULL;   /* full: the chain is long enough */
		json_t *meta = member_meta(parent, cur);
		if (!meta) {
			snprintf(why, size, "member '%s' of the chain is missing", cur);
			return why;
		}
		snprintf(p->links[p->nlinks++], VM_NAME_MAX + 1, "%s", cur);
		const char *up = json_str_or_empty(meta, "parent");
		snprintf(cur, sizeof(cur), "%s", mgr_vm_name_ok(up) ? up : "");
		json_decref(meta);
	}
	return NULL;
}

void backup_chain_plan(const char *parent, const char *name, json_t *drives, const struct vmbackup_mode *mode,
		       struct backup_plan *p)
{
	*p = (struct backup_plan){ 0 };
	char why[200];
	if (!mode->incremental) {
		backup_plan_full(p, mode->key, name, "");
		return;
	}
	if (!newest_member(parent, mode->key, name, p->prev, sizeof(p->prev))) {
		backup_plan_full(p, mode->key, name, "the chain has no member yet");
		return;
	}
	const char *bad = walk_chain(parent, p, why, sizeof(why));
	if (!bad && p->nlinks >= BACKUP_LINK_MAX) {
		snprintf(why, sizeof(why), "the chain has %d members, the most a disk's backing chain opens", BACKUP_LINK_MAX);
		bad = why;
	}
	if (!bad && mode->full_every && p->nlinks >= mode->full_every) {
		snprintf(why, sizeof(why), "a full member every %u backups (full-every)", mode->full_every);
		bad = why;
	}
	json_t *meta = bad ? NULL : member_meta(parent, p->prev);
	p->backing = json_object();
	size_t i;
	json_t *d;
	json_array_foreach(bad ? NULL : drives, i, d) {
		const char *id = json_str_or_empty(d, "drive_id");
		char file[VM_NAME_MAX + 80], path[PATH_MAX + 300], rel[2 * VM_NAME_MAX + 100];
		backup_member_file(meta, id, file, sizeof(file));
		snprintf(path, sizeof(path), "%s/%s/%s", parent, p->prev, file);
		if (access(path, R_OK) < 0) {
			snprintf(why, sizeof(why), "drive %s has no member in backup '%s'", id, p->prev);
			bad = why;
			break;
		}
		snprintf(rel, sizeof(rel), "../%s/%s", p->prev, file);
		json_object_set_new(p->backing, id, json_string(rel));
	}
	if (!bad)
		snprintf(p->chain_id, sizeof(p->chain_id), "%s", json_str_or_empty(meta, "chain_id"));
	json_decref(meta);
	if (bad)
		backup_plan_full(p, mode->key, name, bad);
	else
		p->incremental = true;
}

void backup_plan_free(struct backup_plan *p)
{
	json_decref(p->backing);
	p->backing = NULL;
}

int backup_chain_link(const char *parent, const struct backup_plan *p, const char *inside, unsigned uid,
		      unsigned gid, char *err, size_t errlen)
{
	for (unsigned k = 0; k < p->nlinks; k++) {
		char to[PATH_MAX + VM_NAME_MAX + 2];
		snprintf(to, sizeof(to), "%s/%s", inside, p->links[k]);
		if (mkdir(to, 0700) < 0 || chown(to, uid, gid) < 0)
			return error_set(err, errlen, -errno, "cannot make %s: %s", to, strerror(errno));
		json_t *meta = member_meta(parent, p->links[k]);
		size_t i;
		json_t *d;
		int e = 0;
		json_array_foreach(json_object_get(meta, "disks"), i, d) {
			char file[VM_NAME_MAX + 80], from[PATH_MAX + 300], at[PATH_MAX + 400];
			backup_member_file(meta, json_str_or_empty(d, "drive_id"), file, sizeof(file));
			snprintf(from, sizeof(from), "%s/%s/%s", parent, p->links[k], file);
			snprintf(at, sizeof(at), "%s/%s", to, file);
			struct stat st;
			if (link(from, at) < 0) {
				e = error_set(err, errlen, -errno, "cannot link %s into the jail: %s", from, strerror(errno));
				break;
			}
			if (stat(at, &st) < 0 || !((st.st_uid == uid && (st.st_mode & 0400)) ||
						    (st.st_gid == gid && (st.st_mode & 0040)) || (st.st_mode & 0004))) {
				e = error_set(err, errlen, -EACCES, "%s is not the worker's to read", from);
				break;
			}
		}
		json_decref(meta);
		if (e < 0)
			return e;
	}
	return 0;
}

void backup_chain_meta(json_t *meta, const struct backup_plan *p, json_t *answer)
{
	const char *mode = json_str_or_empty(answer, "mode");
	json_t *disks = json_object_get(answer, "disks");
	bool any_inc = false;
	size_t i;
	json_t *d;
	json_array_foreach(disks, i, d)
		any_inc |= !strcmp(json_str_or_empty(d, "mode"), "incremental");
	json_object_set_new(meta, "mode", json_string(!strcmp(mode, "incremental") ? "incremental" : "full"));
	/* why a full member though an incremental was asked: petreld's reason, else the worker's */
	const char *why = p->why[0] ? p->why : p->incremental && strcmp(mode, "incremental") ? json_str_or_empty(answer, "why") : "";
	if (why[0])
		json_object_set_new(meta, "why", json_string(why));
	json_object_set_new(meta, "chain_id", json_string(p->chain_id));
	if (any_inc && p->prev[0])
		json_object_set_new(meta, "parent", json_string(p->prev));
	json_object_set_new(meta, "disks", json_is_array(disks) ? json_deep_copy(disks) : json_array());
}

int vmbackup_body_parse(const char *body, size_t len, char *name, char *consistency, bool *incremental, char *err,
			size_t errlen)
{
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *m = json_object_get(o, "mode");
	const char *ms = json_string_value(m);
	*incremental = false;
	if (m && (!ms || (strcmp(ms, "full") && strcmp(ms, "incremental")))) {
		json_decref(o);
		return error_set(err, errlen, -EINVAL, "mode: expected \"full\" or \"incremental\"");
	}
	*incremental = ms && !strcmp(ms, "incremental");
	json_object_del(o, "mode");
	char *rest = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	int e = named_consistency_parse(rest ? rest : body, rest ? strlen(rest) : len, name, consistency, err, errlen);
	free(rest);
	if (e < 0 && !strncmp(err, "expected {", 10))
		error_set(err, errlen, e, "expected {\"name\": NAME, \"consistency\": ..., \"mode\": \"full\" | "
			  "\"incremental\"}, NAME 1 to %d of [A-Za-z0-9-]", VM_NAME_MAX);
	return e;
}
