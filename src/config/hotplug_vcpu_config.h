/* petrel's vCPU hot-plug objects, in the shape of Firecracker's memory hot-plug: PUT
 * /hotplug/vcpu {"max_vcpu_count"} before the start (and the "vcpu-hotplug" section of a config
 * file), PATCH /hotplug/vcpu {"vcpu_count"} after it. See docs/user-guide.md ("Resizing a
 * running VM"). */
#ifndef PETREL_CONFIG_HOTPLUG_VCPU_CONFIG_H
#define PETREL_CONFIG_HOTPLUG_VCPU_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct hotplug_vcpu_config {
	unsigned max_vcpu_count;   /* 1..VM_MAX_VCPUS; at least machine-config's vcpu_count */
};

/* Strict: unknown keys, a missing max_vcpu_count, a wrong type or a count outside
 * [1, VM_MAX_VCPUS] are -EINVAL with "where.key: ..." in err. */
int hotplug_vcpu_config_from_json(json_t *obj, const char *where, struct hotplug_vcpu_config *out,
				  char *err, size_t errlen);
json_t *hotplug_vcpu_config_to_json(const struct hotplug_vcpu_config *c);
/* {"vcpu_count"}: present and an integer in [1, VM_MAX_VCPUS]; the caller checks it against
 * max_vcpu_count. */
int hotplug_vcpu_update_from_json(json_t *obj, unsigned *vcpu_count, char *err, size_t errlen);
/* max_vcpu_count against the boot vCPUs (machine-config): 0 or -EINVAL and why. */
int hotplug_vcpu_config_check(const struct hotplug_vcpu_config *c, unsigned vcpus, bool smt, char *err,
			      size_t errlen);

#endif
