/* Firecracker's MemoryHotplugConfig and MemoryHotplugSizeUpdate objects (PUT and PATCH
 * /hotplug/memory, the "memory-hotplug" section of a config file). See docs/user-guide.md
 * ("Resizing a running VM"). */
#ifndef PETREL_CONFIG_HOTPLUG_MEMORY_CONFIG_H
#define PETREL_CONFIG_HOTPLUG_MEMORY_CONFIG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define HOTPLUG_MEMORY_DEFAULT_BLOCK_MIB 2
#define HOTPLUG_MEMORY_DEFAULT_SLOT_MIB 128
#define HOTPLUG_MEMORY_MIN_BLOCK_MIB 2
#define HOTPLUG_MEMORY_MIN_SLOT_MIB 128
/* Guest-physical space for it ends below 1 TiB (memory/devmem.h) and starts at 4 GiB or
 * more: what Firecracker's u32 allows is refused above this. */
#define HOTPLUG_MEMORY_MAX_TOTAL_MIB (512u * 1024)

struct hotplug_memory_config {
	uint32_t total_size_mib;   /* required */
	uint32_t slot_size_mib;    /* default 128, at least 128, a multiple of block_size_mib */
	uint32_t block_size_mib;   /* default 2, at least 2, a power of two */
};

/* Strict: unknown keys, wrong types, out-of-range numbers and Firecracker's rules (see
 * above; total_size_mib a multiple of slot_size_mib and at least one slot) are -EINVAL with
 * "where.key: ..." in err. null fields take their defaults; total_size_mib has none. */
int hotplug_memory_config_from_json(json_t *obj, const char *where, struct hotplug_memory_config *out,
				    char *err, size_t errlen);
json_t *hotplug_memory_config_to_json(const struct hotplug_memory_config *c);
/* {"requested_size_mib"}: present and an integer in [0, 2^32). The device checks it against
 * its sizes. */
int hotplug_memory_update_from_json(json_t *obj, uint32_t *requested_mib, char *err, size_t errlen);

#endif
