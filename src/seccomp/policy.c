/* Seccomp policies: lists of rules per thread kind, and the --seccomp-filter JSON format
 * (docs/security.md, "--seccomp-filter FILE"). The document is untrusted input: every field is
 * checked, errors name the place, and nothing is applied unless all of it is valid. */
#include "seccomp/seccomp_int.h"
#include "util/error.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SC_FILE_MAX_RULES 4096

void sc_list_free(struct sc_list *l)
{
	free(l->rules);
	l->rules = NULL;
	l->n = l->cap = 0;
}

int sc_list_add(struct sc_list *l, const struct sc_rule *r)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct sc_rule *nr = realloc(l->rules, cap * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		l->rules = nr;
		l->cap = cap;
	}
	l->rules[l->n++] = *r;
	return 0;
}

void sc_policy_free(struct sc_policy *p)
{
	for (int k = 0; k < SC_KIND_MAX; k++)
		sc_list_free(&p->kinds[k]);
}

/* ---- the JSON document ---- */

static int parse_action(json_t *v, bool rule, uint32_t *out, const char *where, char *err, size_t errlen)
{
	if (json_is_object(v)) {
		json_t *e = json_object_get(v, "errno");
		if (!rule && json_object_size(v) == 1 && json_is_integer(e) && json_integer_value(e) >= 0 &&
		    json_integer_value(e) <= 4095) {
			*out = SCMP_ACT_ERRNO((uint32_t)json_integer_value(e));
			return 0;
		}
	}
	const char *s = json_string_value(v);
	static const struct { const char *name; uint32_t act; bool rule_ok; } acts[] = {
		{ "allow", SCMP_ACT_ALLOW, true }, { "log", SCMP_ACT_LOG, true },
		{ "trap", SCMP_ACT_TRAP, false }, { "kill_process", SCMP_ACT_KILL_PROCESS, false },
		{ "kill_thread", SCMP_ACT_KILL_THREAD, false }, { "kill", SCMP_ACT_KILL_THREAD, false },
	};
	for (size_t i = 0; s && i < sizeof(acts) / sizeof(acts[0]); i++)
		if (!strcmp(s, acts[i].name) && (acts[i].rule_ok || !rule)) {
			*out = acts[i].act;
			return 0;
		}
	return error_set(err, errlen, -EINVAL, "%s: expected %s", where,
			 rule ? "\"allow\" or \"log\""
			      : "\"trap\", \"kill_process\", \"kill_thread\", \"log\", \"allow\" or {\"errno\": 0-4095}");
}

static int parse_u64(json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EINVAL;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int parse_arg(json_t *a, struct sc_arg *out, const char *where, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	if (!json_is_object(a))
		return error_set(err, errlen, -EINVAL, "%s: an argument condition must be an object", where);
	json_object_foreach(a, key, v) {
		if (strcmp(key, "index") && strcmp(key, "type") && strcmp(key, "op") && strcmp(key, "val") &&
		    strcmp(key, "comment"))
			return error_set(err, errlen, -EINVAL,
					 "%s: unknown key '%s' (index, type, op, val, comment)", where, key);
	}
	uint64_t idx;
	if (parse_u64(json_object_get(a, "index"), &idx) < 0 || idx >= SC_MAX_ARGS)
		return error_set(err, errlen, -EINVAL, "%s: 'index' must be an argument number 0-5", where);
	out->index = (uint8_t)idx;
	const char *type = json_string_value(json_object_get(a, "type"));
	if (!type || (strcmp(type, "dword") && strcmp(type, "qword")))
		return error_set(err, errlen, -EINVAL,
				 "%s: 'type' must be \"dword\" (low 32 bits) or \"qword\"", where);
	out->dword = !strcmp(type, "dword");
	if (parse_u64(json_object_get(a, "val"), &out->val) < 0)
		return error_set(err, errlen, -EINVAL, "%s: 'val' must be an integer from 0 to 2^63-1",
				 where);
	json_t *op = json_object_get(a, "op");
	static const char *const ops[] = { "eq", "ne", "lt", "le", "gt", "ge" };
	out->mask = 0;
	if (json_is_object(op)) {
		if (json_object_size(op) != 1 || parse_u64(json_object_get(op, "masked_eq"), &out->mask) < 0)
			return error_set(err, errlen, -EINVAL,
					 "%s: 'op' must be one of eq, ne, lt, le, gt, ge or {\"masked_eq\": MASK}",
					 where);
		out->op = SC_OP_MASKED_EQ;
	} else {
		const char *s = json_string_value(op);
		size_t i = 0;
		while (s && i < sizeof(ops) / sizeof(ops[0]) && strcmp(s, ops[i]))
			i++;
		if (!s || i == sizeof(ops) / sizeof(ops[0]))
			return error_set(err, errlen, -EINVAL,
					 "%s: 'op' must be one of eq, ne, lt, le, gt, ge or {\"masked_eq\": MASK}",
					 where);
		out->op = (enum sc_op)i;
	}
	if (out->dword && (out->val >> 32 || out->mask >> 32))
		return error_set(err, errlen, -EINVAL, "%s: a dword 'val' or mask must fit in 32 bits",
				 where);
	if (out->dword && out->op != SC_OP_EQ && out->op != SC_OP_MASKED_EQ)
		return error_set(err, errlen, -EINVAL,
				 "%s: dword arguments compare with eq or masked_eq only (use qword)", where);
	return 0;
}

static int parse_rule(json_t *r, struct sc_rule *out, const char *kname, size_t i, char *err, size_t errlen)
{
	char where[96];
	const char *key;
	json_t *v;
	snprintf(where, sizeof(where), "%s: filter[%zu]", kname, i);
	if (!json_is_object(r))
		return error_set(err, errlen, -EINVAL,
				 "%s: a rule must be an object {\"syscall\": NAME, \"args\": [...]}", where);
	json_object_foreach(r, key, v) {
		if (strcmp(key, "syscall") && strcmp(key, "args") && strcmp(key, "comment"))
			return error_set(err, errlen, -EINVAL,
					 "%s: unknown key '%s' (syscall, args, comment)", where, key);
	}
	const char *name = json_string_value(json_object_get(r, "syscall"));
	if (!name)
		return error_set(err, errlen, -EINVAL, "%s: 'syscall' must be a system call name", where);
	int nr = sc_syscall_nr(name);
	if (nr < 0)
		return error_set(err, errlen, -EINVAL, "%s: '%.64s' is not an x86-64 system call", where,
				 name);
	memset(out, 0, sizeof(*out));
	out->nr = nr;
	json_t *args = json_object_get(r, "args");
	if (!args)
		return 0;
	if (!json_is_array(args) || json_array_size(args) > SC_MAX_ARGS)
		return error_set(err, errlen, -EINVAL, "%s: 'args' must be an array of at most %d conditions",
				 where, SC_MAX_ARGS);
	for (size_t j = 0; j < json_array_size(args); j++) {
		char w2[128];
		snprintf(w2, sizeof(w2), "%s: args[%zu]", where, j);
		if (parse_arg(json_array_get(args, j), &out->args[j], w2, err, errlen) < 0)
			return -EINVAL;
		for (size_t k = 0; k < j; k++)
			if (out->args[k].index == out->args[j].index)
				return error_set(err, errlen, -EINVAL, "%s: two conditions on argument %u",
						 w2, out->args[j].index);
	}
	out->nargs = (uint8_t)json_array_size(args);
	return 0;
}

static int parse_kind(json_t *o, const char *kname, struct sc_list *l, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	char where[64];
	if (!json_is_object(o))
		return error_set(err, errlen, -EINVAL,
				 "%s: expected an object with default_action, filter_action and filter",
				 kname);
	json_object_foreach(o, key, v) {
		if (strcmp(key, "default_action") && strcmp(key, "filter_action") && strcmp(key, "filter") &&
		    strcmp(key, "comment"))
			return error_set(err, errlen, -EINVAL,
					 "%s: unknown key '%s' (default_action, filter_action, filter, comment)",
					 kname, key);
	}
	snprintf(where, sizeof(where), "%s: default_action", kname);
	if (parse_action(json_object_get(o, "default_action"), false, &l->default_action, where, err, errlen) < 0)
		return -EINVAL;
	snprintf(where, sizeof(where), "%s: filter_action", kname);
	if (parse_action(json_object_get(o, "filter_action"), true, &l->rule_action, where, err, errlen) < 0)
		return -EINVAL;
	json_t *f = json_object_get(o, "filter");
	if (!json_is_array(f))
		return error_set(err, errlen, -EINVAL, "%s: 'filter' must be an array of rules", kname);
	if (json_array_size(f) > SC_FILE_MAX_RULES)
		return error_set(err, errlen, -EINVAL, "%s: more than %d rules", kname, SC_FILE_MAX_RULES);
	for (size_t i = 0; i < json_array_size(f); i++) {
		struct sc_rule r;
		if (parse_rule(json_array_get(f, i), &r, kname, i, err, errlen) < 0)
			return -EINVAL;
		if (sc_list_add(l, &r) < 0)
			return error_set(err, errlen, -EINVAL, "out of memory");
	}
	return 0;
}

/* System calls petrel makes on a kind's threads that a list written for an older petrel may
 * lack (docs/security.md, "What a list must allow"). A list whose default_action ends petrel
 * (trap, kill) and has no rule for one is refused at load, naming it, rather than ending the
 * VM at the call: with an errno or log default the call fails or passes, and petrel copes. */
static const struct sc_need {
	int kind;
	const char *syscall;
	const char *why;
} needs[] = {
	/* a vCPU's console output is buffered; the vCPU that writes arms the flush timer
	 * (devices/legacy/serial_out.c), at the guest's first console output */
	{ SC_VCPU, "timerfd_settime", "the serial console's flush timer, armed by the vCPU that writes" },
};

static int check_needs(int kind, const struct sc_list *l, const char *kname, char *err, size_t errlen)
{
	uint32_t def = l->default_action;
	if (def == SCMP_ACT_ALLOW || def == SCMP_ACT_LOG || (def & 0xffff0000u) == SCMP_ACT_ERRNO(0))
		return 0;
	for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++) {
		if (needs[i].kind != kind || sc_has_call(l, sc_syscall_nr(needs[i].syscall)))
			continue;
		return error_set(err, errlen, -EINVAL,
				 "%s: the list does not allow %s, which petrel calls on these threads (%s), and its "
				 "default_action would end petrel there: add {\"syscall\": \"%s\"}",
				 kname, needs[i].syscall, needs[i].why, needs[i].syscall);
	}
	return 0;
}

int sc_policy_parse_json(struct sc_policy *p, const char *text, size_t len, char *err, size_t errlen)
{
	char why[256];
	if (sc_lib_load(why, sizeof(why)) < 0) {   /* system call names and compiling */
		return error_set(err, errlen, -EINVAL, "a filter file needs libseccomp: %s", why);
	}
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return error_set(err, errlen, -EINVAL, "not valid JSON (line %d, column %d): %s", je.line,
				 je.column, je.text);
	struct sc_list lists[SC_KIND_MAX];
	bool seen[SC_KIND_MAX] = { false };
	memset(lists, 0, sizeof(lists));
	int r = 0;
	const char *key;
	json_t *v;
	if (!json_is_object(root)) {
		r = error_set(err, errlen, -EINVAL, "expected an object mapping thread kinds to filters");
	}
	if (!r && json_object_size(root) == 0) {
		r = error_set(err, errlen, -EINVAL, "no thread kind in the document");
	}
	if (!r) {
		json_object_foreach(root, key, v) {
			int k = sc_kind_from_name(key);
			if (k == SC_SPAWN) {
				r = error_set(err, errlen, -EINVAL,
					      "'spawn': the spawner's filter is the union of the others and "
					      "cannot be given");
			} else if (k == SC_KIND_NONE) {
				r = error_set(err, errlen, -EINVAL,
					      "'%.64s' is not a thread kind (main, api, vmm, vcpu, io, pvm_idle, "
					      "pager, migration, throttle, postcopy, replication)",
					      key);
			} else {
				seen[k] = true;
				r = parse_kind(v, key, &lists[k], err, errlen);
				if (!r)
					r = check_needs(k, &lists[k], key, err, errlen);
			}
			if (r)
				break;
		}
	}
	json_decref(root);
	for (int k = 0; k < SC_KIND_MAX; k++) {
		if (r || !seen[k]) {
			sc_list_free(&lists[k]);
			continue;
		}
		sc_list_free(&p->kinds[k]);
		p->kinds[k] = lists[k];
		p->from_file[k] = true;
	}
	return r;
}
