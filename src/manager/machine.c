/* A running VM's vCPUs and memory, changed through its worker (PATCH /vms/NAME/machine):
 * vcpu_count through vCPU hot-plug (the definition needs a "vcpu-hotplug" section), memory_mib
 * through virtio-mem hot-plug ("memory-hotplug": requested_size_mib = memory_mib - mem_size_mib)
 * or else the balloon ("balloon": amount_mib = mem_size_mib - memory_mib). The definition is
 * not changed: the next start has the defined size again. */
#include "manager/mgr.h"
#include "manager/verbs.h"
#include "manager/wclient.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int machine_parse(json_t *o, long *vcpus, long *mem_mib, char *err, size_t errlen)
{
	*vcpus = *mem_mib = -1;
	const char *k;
	json_t *v;
	if (!json_is_object(o) || !json_object_size(o))
		return error_set(err, errlen, -EINVAL, "expected {\"vcpu_count\": N} and/or {\"memory_mib\": N}");
	json_object_foreach(o, k, v) {
		long *out = !strcmp(k, "vcpu_count") ? vcpus : !strcmp(k, "memory_mib") ? mem_mib : NULL;
		if (!out)
			return error_set(err, errlen, -EINVAL, "unknown field '%s'", k);
		if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > (1 << 20))
			return error_set(err, errlen, -EINVAL, "%s: expected a positive integer", k);
		*out = (long)json_integer_value(v);
	}
	return 0;
}

int machine_apply(struct manager *m, struct mgr_vm *vm, long vcpus, long mem_mib, char *err, size_t errlen)
{
	json_t *doc = vm->def.doc;
	int e = 0;
	if (vcpus > 0) {
		if (!json_object_get(doc, "vcpu-hotplug"))
			return error_set(err, errlen, -EBUSY, "vcpu_count: the definition has no \"vcpu-hotplug\" section");
		json_t *b = json_pack("{s:i}", "vcpu_count", (int)vcpus);
		e = worker_call(m, vm, "PATCH", "/hotplug/vcpu", b, err, errlen);
		json_decref(b);
		if (e < 0)
			return e;
	}
	if (mem_mib > 0) {
		long base = (long)json_integer_value(json_object_get(json_object_get(doc, "machine-config"), "mem_size_mib"));
		if (!base)
			base = 128; /* petrel's default */
		json_t *b;
		const char *path;
		if (json_object_get(doc, "memory-hotplug")) {
			if (mem_mib < base)
				return error_set(err, errlen, -EINVAL, "memory_mib: at least mem_size_mib (%ld) with memory-hotplug", base);
			b = json_pack("{s:i}", "requested_size_mib", (int)(mem_mib - base));
			path = "/hotplug/memory";
		} else if (json_object_get(doc, "balloon")) {
			if (mem_mib > base)
				return error_set(err, errlen, -EINVAL, "memory_mib: at most mem_size_mib (%ld) with the balloon", base);
			b = json_pack("{s:i}", "amount_mib", (int)(base - mem_mib));
			path = "/balloon";
		} else {
			return error_set(err, errlen, -EBUSY, "memory_mib: the definition has neither \"memory-hotplug\" nor \"balloon\"");
		}
		e = worker_call(m, vm, "PATCH", path, b, err, errlen);
		json_decref(b);
	}
	return e;
}
