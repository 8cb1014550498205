/* The bodies of POST /vms/NAME/clone and POST /vms/NAME/restore: untrusted text from petreld's
 * API, parsed and checked here, apart from what acts on them (clone.c, restore.c), so that the
 * fuzz target (tests/fuzz/fuzz_manager_clone.c) links only the parsers. */
#include "manager/verbs.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool tap_pattern_ok(const char *pat)
{
	const char *pct = strstr(pat, "%d");
	if (!*pat || strlen(pat) + (pct ? 2 : 0) > TAP_MAX || (pct && strstr(pct + 2, "%")))
		return false;
	for (const char *p = pat; *p; p++) {
		if (pct && (p == pct || p == pct + 1))
			continue;
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.", *p))
			return false;
	}
	return true;
}

int vmclone_parse(const char *body, size_t len, const char *vm, struct clone_req *q, char *err, size_t errlen)
{
	static const char *const keys[] = { "snapshot", "count", "prefix", "start", "net", NULL };
	memset(q, 0, sizeof(*q));
	q->start = true;
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL), *v;
	const char *k;
	int e = 0;
	if (!json_is_object(o)) {
		e = error_set(err, errlen, -EINVAL, "expected {\"snapshot\": S, \"count\": N, \"prefix\": P, \"start\": B}");
		goto out;
	}
	json_object_foreach(o, k, v) {
		bool known = false;
		for (const char *const *p = keys; *p; p++)
			known |= !strcmp(k, *p);
		if (!known) {
			e = error_set(err, errlen, -EINVAL, "unknown field '%s'", k);
			goto out;
		}
	}
	const char *snap = json_string_value(json_object_get(o, "snapshot"));
	if (!snap || !mgr_vm_name_ok(snap)) {
		e = error_set(err, errlen, -EINVAL, "snapshot: expected a snapshot's name, 1 to %d of [A-Za-z0-9-]", VM_NAME_MAX);
		goto out;
	}
	snprintf(q->snap, sizeof(q->snap), "%s", snap);
	v = json_object_get(o, "count");
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > CLONE_MAX) {
		e = error_set(err, errlen, -EINVAL, "count: expected an integer from 1 to %d", CLONE_MAX);
		goto out;
	}
	q->count = (unsigned)json_integer_value(v);
	v = json_object_get(o, "prefix");
	const char *prefix = v ? json_string_value(v) : NULL;
	if (v && (!prefix || strlen(prefix) > VM_NAME_MAX - 4 || !mgr_vm_name_ok(prefix))) {
		e = error_set(err, errlen, -EINVAL, "prefix: expected 1 to %d of [A-Za-z0-9-], not starting with '-'",
			    VM_NAME_MAX - 4);
		goto out;
	}
	/* The default, "<vm>-", is cut so that the longest clone name still fits. */
	snprintf(q->prefix, VM_NAME_MAX - 3, "%s%s", prefix ? prefix : vm, prefix ? "" : "-");
	if ((v = json_object_get(o, "start"))) {
		if (!json_is_boolean(v)) {
			e = error_set(err, errlen, -EINVAL, "start: expected true or false");
			goto out;
		}
		q->start = json_is_true(v);
	}
	if ((v = json_object_get(o, "net"))) {
		json_t *t;
		if (!json_is_object(v)) {
			e = error_set(err, errlen, -EINVAL, "net: expected {\"IFACE_ID\": \"TAP\"}, '%%d' in TAP: the clone's number");
			goto out;
		}
		json_object_foreach(v, k, t)
			if (!json_is_string(t) || !tap_pattern_ok(json_string_value(t))) {
				e = error_set(err, errlen, -EINVAL, "net.%s: expected a tap name of at most %d characters "
					    "([A-Za-z0-9_.-], '%%d' once)", k, TAP_MAX - 2);
				goto out;
			}
		q->net = json_incref(v);
	}
out:
	json_decref(o);
	return e;
}

void vmclone_free(void *req)
{
	struct clone_req *q = req;
	if (q)
		json_decref(q->net);
	free(q);
}

int vmrestore_parse(const char *body, size_t len, char *backup, char *err, size_t errlen)
{
	if (name_body_parse(body, len, "backup", backup))
		return 0;
	return error_set(err, errlen, -EINVAL, "expected {\"backup\": NAME}, NAME 1 to %d of [A-Za-z0-9-]", VM_NAME_MAX);
}

bool name_body_parse(const char *body, size_t len, const char *key, char *out)
{
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	const char *name = json_string_value(json_object_get(o, key));
	bool ok = json_is_object(o) && json_object_size(o) == 1 && name && mgr_vm_name_ok(name);
	if (ok)
		snprintf(out, VM_NAME_MAX + 1, "%s", name);
	json_decref(o);
	return ok;
}

int named_consistency_parse(const char *body, size_t len, char *name, char *consistency, char *err, size_t errlen)
{
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	const char *n = json_string_value(json_object_get(o, "name"));
	json_t *c = json_object_get(o, "consistency");
	const char *cs = json_string_value(c);
	size_t keys = json_object_size(o);
	bool ok = json_is_object(o) && n && mgr_vm_name_ok(n) && keys == 1u + !!c;
	bool c_ok = !c || (cs && (!strcmp(cs, "auto") || !strcmp(cs, "filesystem") || !strcmp(cs, "crash")));
	if (ok && c_ok) {
		snprintf(name, VM_NAME_MAX + 1, "%s", n);
		snprintf(consistency, 12, "%s", cs ? cs : "");
	}
	json_decref(o);
	if (!ok)
		return error_set(err, errlen, -EINVAL, "expected {\"name\": NAME, \"consistency\": ...}, NAME 1 to %d of "
			       "[A-Za-z0-9-]", VM_NAME_MAX);
	if (!c_ok)
		return error_set(err, errlen, -EINVAL, "consistency: expected \"auto\", \"filesystem\" or \"crash\"");
	return 0;
}

json_t *consistency_meta(json_t *answer)
{
	const char *c = json_string_value(json_object_get(answer, "consistency"));
	json_t *ms = json_object_get(answer, "frozen_ms");
	bool fs = c && !strcmp(c, "filesystem");
	json_t *o = json_pack("{s:s}", "consistency", fs ? "filesystem" : "crash");
	if (fs && json_is_integer(ms) && json_integer_value(ms) >= 0)
		json_object_set(o, "frozen_ms", ms);
	return o;
}
