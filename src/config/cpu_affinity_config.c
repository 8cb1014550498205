/* The cpu-affinity section and --cpu-affinity: see cpu_affinity_config.h. */
#include "config/cpu_affinity_config.h"
#include "config/vm_config.h"
#include "util/error.h"
#include "util/json_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(AFFINITY_MAX_VCPUS >= VM_MAX_VCPUS, "a placement must be able to name every vCPU");

/* [2, 3] into *set. */
static int cpus_from_json(json_t *arr, const char *where, cpu_set_t *set, char *err, size_t errlen)
{
	size_t i;
	json_t *el;
	CPU_ZERO(set);
	if (!json_is_array(arr))
		return error_set(err, errlen, -EINVAL, "%s: expected an array of host CPU numbers", where);
	if (json_array_size(arr) == 0)
		return error_set(err, errlen, -EINVAL, "%s: an empty list of host CPUs", where);
	json_array_foreach(arr, i, el) {
		if (!json_is_integer(el) || json_integer_value(el) < 0 ||
		    json_integer_value(el) > AFFINITY_MAX_CPU)
			return error_set(err, errlen, -EINVAL, "%s[%zu]: expected a host CPU number 0-%d",
					 where, i, AFFINITY_MAX_CPU);
		CPU_SET((int)json_integer_value(el), set);
	}
	return 0;
}

static int vcpus_from_json(json_t *arr, const char *where, struct cpu_affinity *a, char *err,
			   size_t errlen)
{
	static const char *const keys[] = { "vcpu", "host_cpus", NULL };
	char at[128];
	size_t i;
	json_t *el;
	int r;
	if (!json_is_array(arr))
		return error_set(err, errlen, -EINVAL, "%s: expected an array of {\"vcpu\", \"host_cpus\"}",
				 where);
	json_array_foreach(arr, i, el) {
		snprintf(at, sizeof(at), "%s[%zu]", where, i);
		uint64_t v;
		if (!json_is_object(el))
			return error_set(err, errlen, -EINVAL, "%s: expected an object", at);
		if ((r = json_check_keys(el, at, keys, err, errlen)) < 0 ||
		    (r = json_get_uint(el, at, "vcpu", true, 0, VM_MAX_VCPUS - 1, &v, err, errlen)) < 0)
			return r;
		if (a->has_vcpu[v])
			return error_set(err, errlen, -EINVAL, "%s.vcpu: vCPU %u is listed twice", at,
					 (unsigned)v);
		char w[160];
		snprintf(w, sizeof(w), "%s.host_cpus", at);
		json_t *h = json_object_get(el, "host_cpus");
		if (!h)
			return error_set(err, errlen, -EINVAL, "%s: missing required field", w);
		if ((r = cpus_from_json(h, w, &a->vcpu[v], err, errlen)) < 0)
			return r;
		a->has_vcpu[v] = true;
	}
	return 0;
}

int cpu_affinity_from_json(json_t *obj, const char *where, struct cpu_affinity *out, char *err,
			   size_t errlen)
{
	static const char *const keys[] = { "vcpus", "io_thread", "vmm_threads", NULL };
	char w[96];
	int r;
	if (!where || !*where)
		where = "cpu-affinity";
	if (!json_is_object(obj))
		return error_set(err, errlen, -EINVAL, "%s: expected an object", where);
	if ((r = json_check_keys(obj, where, keys, err, errlen)) < 0)
		return r;
	struct cpu_affinity *a = calloc(1, sizeof(*a));
	if (!a)
		return error_oom(err, errlen);
	json_t *v = json_object_get(obj, "vcpus");
	if (v && !json_is_null(v)) {
		snprintf(w, sizeof(w), "%s.vcpus", where);
		r = vcpus_from_json(v, w, a, err, errlen);
	}
	v = json_object_get(obj, "io_thread");
	if (!r && v && !json_is_null(v)) {
		snprintf(w, sizeof(w), "%s.io_thread", where);
		r = cpus_from_json(v, w, &a->io, err, errlen);
		a->has_io = r == 0;
	}
	v = json_object_get(obj, "vmm_threads");
	if (!r && v && !json_is_null(v)) {
		snprintf(w, sizeof(w), "%s.vmm_threads", where);
		r = cpus_from_json(v, w, &a->vmm, err, errlen);
		a->has_vmm = r == 0;
	}
	if (!r)
		*out = *a;
	free(a);
	return r;
}

static json_t *cpus_to_json(const cpu_set_t *s)
{
	json_t *arr = json_array();
	for (int c = 0; arr && c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, s) && json_array_append_new(arr, json_integer(c)) < 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

json_t *cpu_affinity_to_json(const struct cpu_affinity *a)
{
	json_t *o = json_object(), *vcpus = json_array();
	int err = !o || !vcpus;
	for (unsigned i = 0; !err && i < AFFINITY_MAX_VCPUS; i++)
		if (a->has_vcpu[i])
			err = json_array_append_new(vcpus, json_pack("{s:i, s:o*}", "vcpu", (int)i, "host_cpus",
								     cpus_to_json(&a->vcpu[i]))) < 0;
	if (!err && json_array_size(vcpus))
		err = json_object_set(o, "vcpus", vcpus) < 0;
	if (!err && a->has_io)
		err = json_object_set_new(o, "io_thread", cpus_to_json(&a->io)) < 0;
	if (!err && a->has_vmm)
		err = json_object_set_new(o, "vmm_threads", cpus_to_json(&a->vmm)) < 0;
	json_decref(vcpus);
	if (err) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* One WHO@[CPUS] (or WHO@CPU) at s[0..len). */
static int cli_entry(const char *s, size_t len, struct cpu_affinity *a, char *err, size_t errlen)
{
	const char *at = memchr(s, '@', len);
	if (!at || at == s)
		return error_set(err, errlen, -EINVAL,
				 "--cpu-affinity: '%.*s': expected WHO@[CPUS] (WHO a vCPU number, io or vmm)",
				 (int)len, s);
	size_t wl = (size_t)(at - s);
	const char *c = at + 1;
	size_t cl = len - wl - 1;
	if (cl >= 2 && c[0] == '[' && c[cl - 1] == ']') {
		c++;
		cl -= 2;
	}
	cpu_set_t set;
	char msg[192];
	if (cpulist_parse(c, cl, &set, msg, sizeof(msg)) < 0)
		return error_set(err, errlen, -EINVAL, "--cpu-affinity: %.*s: %s", (int)wl, s, msg);
	if (wl == 2 && !memcmp(s, "io", 2)) {
		a->io = set;
		a->has_io = true;
		return 0;
	}
	if (wl == 3 && !memcmp(s, "vmm", 3)) {
		a->vmm = set;
		a->has_vmm = true;
		return 0;
	}
	unsigned v = 0;
	for (size_t i = 0; i < wl; i++) {
		if (s[i] < '0' || s[i] > '9' || (v = v * 10 + (unsigned)(s[i] - '0')) >= VM_MAX_VCPUS)
			return error_set(err, errlen, -EINVAL,
					 "--cpu-affinity: '%.*s': WHO is a vCPU number 0-%d, io or vmm",
					 (int)wl, s, VM_MAX_VCPUS - 1);
	}
	a->vcpu[v] = set;
	a->has_vcpu[v] = true;
	return 0;
}

int cpu_affinity_from_cli(const char *spec, struct cpu_affinity *a, char *err, size_t errlen)
{
	size_t len = strlen(spec);
	if (len >= 2 && spec[0] == '[' && spec[len - 1] == ']') {
		spec++;
		len -= 2;
	}
	if (len == 0)
		return error_set(err, errlen, -EINVAL,
				 "--cpu-affinity: nothing given (e.g. 0@[2],1@[3],io@[4])");
	struct cpu_affinity *n = malloc(sizeof(*n));
	if (!n)
		return error_oom(err, errlen);
	*n = *a;
	int r = 0;
	/* Split at the commas outside brackets: "0@[2,3],io@[4]". */
	size_t start = 0, depth = 0;
	for (size_t i = 0; i <= len && !r; i++) {
		if (i < len && spec[i] == '[')
			depth++;
		else if (i < len && spec[i] == ']' && depth)
			depth--;
		else if (i == len || (spec[i] == ',' && !depth)) {
			if (i == start)
				r = error_set(err, errlen, -EINVAL,
					      "--cpu-affinity: an empty entry in '%.*s'", (int)len, spec);
			else
				r = cli_entry(spec + start, i - start, n, err, errlen);
			start = i + 1;
		}
	}
	if (!r && depth)
		r = error_set(err, errlen, -EINVAL, "--cpu-affinity: unbalanced '[' in '%.*s'", (int)len,
			      spec);
	if (!r)
		*a = *n;
	free(n);
	return r;
}
