/* The vCPU hot-plug JSON objects: see hotplug_vcpu_config.h. */
#include "config/hotplug_vcpu_config.h"
#include "config/vm_config.h"
#include "util/error.h"
#include "util/json_util.h"

#include <errno.h>

static int not_object(const char *where, char *err, size_t errlen)
{
	return error_set(err, errlen, -EINVAL, "%s: expected an object",
			 where && *where ? where : "vcpu-hotplug");
}

int hotplug_vcpu_config_from_json(json_t *obj, const char *where, struct hotplug_vcpu_config *out,
				  char *err, size_t errlen)
{
	static const char *const keys[] = { "max_vcpu_count", NULL };
	uint64_t v = 0;
	int r;
	if (!json_is_object(obj))
		return not_object(where, err, errlen);
	if ((r = json_check_keys(obj, where, keys, err, errlen)) < 0 ||
	    (r = json_get_uint(obj, where, "max_vcpu_count", true, 1, VM_MAX_VCPUS, &v, err, errlen)) < 0)
		return r;
	out->max_vcpu_count = (unsigned)v;
	return 0;
}

json_t *hotplug_vcpu_config_to_json(const struct hotplug_vcpu_config *c)
{
	return json_pack("{s:i}", "max_vcpu_count", (int)c->max_vcpu_count);
}

int hotplug_vcpu_update_from_json(json_t *obj, unsigned *vcpu_count, char *err, size_t errlen)
{
	static const char *const keys[] = { "vcpu_count", NULL };
	uint64_t v = 0;
	int r;
	if (!json_is_object(obj))
		return not_object(NULL, err, errlen);
	if ((r = json_check_keys(obj, NULL, keys, err, errlen)) < 0 ||
	    (r = json_get_uint(obj, NULL, "vcpu_count", true, 1, VM_MAX_VCPUS, &v, err, errlen)) < 0)
		return r;
	*vcpu_count = (unsigned)v;
	return 0;
}

int hotplug_vcpu_config_check(const struct hotplug_vcpu_config *c, unsigned vcpus, bool smt, char *err,
			      size_t errlen)
{
	if (c->max_vcpu_count < 1 || c->max_vcpu_count > VM_MAX_VCPUS)
		return error_set(err, errlen, -EINVAL, "vcpu-hotplug.max_vcpu_count: %u is outside [1, %d]",
				 c->max_vcpu_count, VM_MAX_VCPUS);
	if (c->max_vcpu_count < vcpus)
		return error_set(err, errlen, -EINVAL,
				 "vcpu-hotplug.max_vcpu_count: %u is less than machine-config's "
				 "vcpu_count %u",
				 c->max_vcpu_count, vcpus);
	if (smt && c->max_vcpu_count > 1 && c->max_vcpu_count % 2)
		return error_set(err, errlen, -EINVAL,
				 "vcpu-hotplug.max_vcpu_count: with smt it must be 1 or even, not %u",
				 c->max_vcpu_count);
	return 0;
}
