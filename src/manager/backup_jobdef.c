/* A backup job's definition (backup_jobs.h), checked field by field: nothing unknown, every
 * value in range, the schedule a calendar expression, the target an absolute path. */
#include "manager/backup_chain.h"
#include "manager/backup_jobs.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int bjob_retention_parse(json_t *o, struct prune_keep *k, char *err, size_t errlen)
{
	*k = (struct prune_keep){ 0 };
	if (!json_is_object(o))
		return error_set(err, errlen, -EINVAL, "retention: expected an object of keep-last, keep-hourly, "
				 "keep-daily, keep-weekly, keep-monthly, keep-yearly");
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v) {
		int r = 0;
		while (r < PRUNE_RULES && strcmp(key, prune_rule_names[r]))
			r++;
		if (r == PRUNE_RULES)
			return error_set(err, errlen, -EINVAL, "retention: unknown field '%s'", key);
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > PRUNE_KEEP_MAX)
			return error_set(err, errlen, -EINVAL, "retention.%s: expected a number from 0 to %d", key,
					 PRUNE_KEEP_MAX);
		k->n[r] = (unsigned)json_integer_value(v);
	}
	return 0;
}

static bool path_ok(const char *p)
{
	if (p[0] != '/' || strlen(p) >= PATH_MAX - 2 * VM_NAME_MAX - 16)
		return false;
	for (const char *s = p; (s = strchr(s, '/')); s++)
		if (!strncmp(s, "/./", 3) || !strcmp(s, "/.") || !strncmp(s, "/../", 4) || !strcmp(s, "/.."))
			return false;
	return true;
}

static int vms_parse(json_t *v, struct bjob_def *d, char *err, size_t errlen)
{
	if (json_is_string(v) && !strcmp(json_string_value(v), "all"))
		return 0;
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > BJOB_VMS_MAX)
		return error_set(err, errlen, -EINVAL, "vms: expected \"all\" or an array of 1 to %d VM names", BJOB_VMS_MAX);
	size_t i;
	json_t *n;
	json_array_foreach(v, i, n) {
		const char *s = json_string_value(n);
		if (!s || !mgr_vm_name_ok(s))
			return error_set(err, errlen, -EINVAL, "vms[%zu]: a VM's name is 1 to %d of [A-Za-z0-9-]", i, VM_NAME_MAX);
		for (size_t k = 0; k < i; k++)
			if (!strcmp(json_string_value(json_array_get(v, k)), s))
				return error_set(err, errlen, -EINVAL, "vms[%zu]: '%s' twice", i, s);
	}
	d->vms = json_incref(v);
	return 0;
}

static int def_fields(json_t *o, struct bjob_def *d, char *err, size_t errlen)
{
	static const char *const known[] = { "id",          "vms",  "schedule",  "target_dir",
					     "retention",   "consistency", "mode", "full-every" };
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v) {
		size_t i = 0;
		while (i < sizeof(known) / sizeof(known[0]) && strcmp(key, known[i]))
			i++;
		if (i == sizeof(known) / sizeof(known[0]))
			return error_set(err, errlen, -EINVAL, "unknown field '%s'", key);
	}
	const char *id = json_string_value(json_object_get(o, "id"));
	if (!id || strlen(id) > BJOB_ID_MAX || !mgr_vm_name_ok(id))
		return error_set(err, errlen, -EINVAL, "id: 1 to %d of [A-Za-z0-9-], not starting with '-'", BJOB_ID_MAX);
	snprintf(d->id, sizeof(d->id), "%s", id);
	int e;
	if (!json_object_get(o, "vms"))
		return error_set(err, errlen, -EINVAL, "vms: required (\"all\" or an array of VM names)");
	if ((e = vms_parse(json_object_get(o, "vms"), d, err, errlen)) < 0)
		return e;
	const char *sched = json_string_value(json_object_get(o, "schedule"));
	if (!sched)
		return error_set(err, errlen, -EINVAL, "schedule: required (a calendar expression: \"daily\", "
				 "\"Mon..Fri 02:30\", ...)");
	char why[256];
	if (calendar_parse(sched, &d->cal, why, sizeof(why)) < 0)
		return error_set(err, errlen, -EINVAL, "schedule: %s", why);
	snprintf(d->schedule, sizeof(d->schedule), "%s", sched);
	json_t *t = json_object_get(o, "target_dir");
	if (t && (!json_is_string(t) || !path_ok(json_string_value(t))))
		return error_set(err, errlen, -EINVAL, "target_dir: an absolute path without . or .. components");
	snprintf(d->target_dir, sizeof(d->target_dir), "%s", t ? json_string_value(t) : "");
	json_t *r = json_object_get(o, "retention");
	if (r && (e = bjob_retention_parse(r, &d->keep, err, errlen)) < 0)
		return e;
	json_t *c = json_object_get(o, "consistency");
	const char *cs = c ? json_string_value(c) : "auto";
	if (!cs || (strcmp(cs, "auto") && strcmp(cs, "filesystem") && strcmp(cs, "crash")))
		return error_set(err, errlen, -EINVAL, "consistency: expected \"auto\", \"filesystem\" or \"crash\"");
	snprintf(d->consistency, sizeof(d->consistency), "%s", cs);
	json_t *mo = json_object_get(o, "mode");
	const char *ms = mo ? json_string_value(mo) : "incremental";
	if (!ms || (strcmp(ms, "incremental") && strcmp(ms, "full")))
		return error_set(err, errlen, -EINVAL, "mode: expected \"incremental\" or \"full\"");
	d->incremental = !strcmp(ms, "incremental");
	json_t *fe = json_object_get(o, "full-every");
	if (fe && (!json_is_integer(fe) || json_integer_value(fe) < 0 || json_integer_value(fe) > BACKUP_LINK_MAX))
		return error_set(err, errlen, -EINVAL, "full-every: expected 0 to %d (backups; 0: a full one only when needed)",
				 BACKUP_LINK_MAX);
	d->full_every = fe ? (unsigned)json_integer_value(fe) : 0;
	return 0;
}

int bjob_def_parse(const char *text, size_t len, struct bjob_def *d, char *err, size_t errlen)
{
	*d = (struct bjob_def){ 0 };
	json_error_t je;
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(o)) {
		json_decref(o);
		return error_set(err, errlen, -EINVAL, "a backup job is a JSON object (%s)", o ? "not an object" : je.text);
	}
	int e = def_fields(o, d, err, errlen);
	if (e < 0) {
		json_decref(o);
		bjob_def_free(d);
		return e;
	}
	d->doc = o;
	return 0;
}

void bjob_def_free(struct bjob_def *d)
{
	json_decref(d->vms);
	json_decref(d->doc);
	d->vms = d->doc = NULL;
}
