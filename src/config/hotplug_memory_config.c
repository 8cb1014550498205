/* The memory hot-plug JSON objects: see hotplug_memory_config.h. */
#include "config/hotplug_memory_config.h"
#include "util/error.h"
#include "util/json_util.h"

#include <errno.h>
#include <string.h>

static int not_object(const char *where, char *err, size_t errlen)
{
	return error_set(err, errlen, -EINVAL, "%s: expected an object",
			 where && *where ? where : "memory-hotplug");
}

/* "where." or "" */
static const char *pfx(const char *where)
{
	return where && *where ? where : "";
}

static const char *dot(const char *where)
{
	return where && *where ? "." : "";
}

int hotplug_memory_config_from_json(json_t *obj, const char *where, struct hotplug_memory_config *out,
				    char *err, size_t errlen)
{
	static const char *const keys[] = { "total_size_mib", "slot_size_mib", "block_size_mib", NULL };
	uint64_t total = 0, slot = HOTPLUG_MEMORY_DEFAULT_SLOT_MIB, block = HOTPLUG_MEMORY_DEFAULT_BLOCK_MIB;
	int r;
	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj))
		return not_object(where, err, errlen);
	if ((r = json_check_keys(obj, where, keys, err, errlen)) < 0 ||
	    (r = json_get_uint(obj, where, "total_size_mib", true, 0, UINT32_MAX, &total, err, errlen)) < 0 ||
	    (r = json_get_uint(obj, where, "slot_size_mib", false, 0, UINT32_MAX, &slot, err, errlen)) < 0 ||
	    (r = json_get_uint(obj, where, "block_size_mib", false, 0, UINT32_MAX, &block, err, errlen)) < 0)
		return r;
	/* Firecracker's checks, in its order and with its words. */
	if (block < HOTPLUG_MEMORY_MIN_BLOCK_MIB)
		return error_set(err, errlen, -EINVAL,
				 "%s%sblock_size_mib: Block size must not be lower than %u MiB", pfx(where),
				 dot(where), HOTPLUG_MEMORY_MIN_BLOCK_MIB);
	if (block & (block - 1))
		return error_set(err, errlen, -EINVAL, "%s%sblock_size_mib: Block size must be a power of 2",
				 pfx(where), dot(where));
	if (slot < HOTPLUG_MEMORY_MIN_SLOT_MIB)
		return error_set(err, errlen, -EINVAL,
				 "%s%sslot_size_mib: Slot size must not be lower than %u MiB", pfx(where),
				 dot(where), HOTPLUG_MEMORY_MIN_SLOT_MIB);
	if (slot % block)
		return error_set(err, errlen, -EINVAL,
				 "%s%sslot_size_mib: Slot size must be a multiple of block size (%llu MiB)",
				 pfx(where), dot(where), (unsigned long long)block);
	if (total < slot)
		return error_set(err, errlen, -EINVAL,
				 "%s%stotal_size_mib: Total size must not be lower than slot size (%llu MiB)",
				 pfx(where), dot(where), (unsigned long long)slot);
	if (total % slot)
		return error_set(err, errlen, -EINVAL,
				 "%s%stotal_size_mib: Total size must be a multiple of slot size (%llu MiB)",
				 pfx(where), dot(where), (unsigned long long)slot);
	if (total > HOTPLUG_MEMORY_MAX_TOTAL_MIB)
		return error_set(err, errlen, -EINVAL,
				 "%s%stotal_size_mib: petrel places hot-pluggable memory below 1 TiB: "
				 "at most %u MiB",
				 pfx(where), dot(where), HOTPLUG_MEMORY_MAX_TOTAL_MIB);
	out->total_size_mib = (uint32_t)total;
	out->slot_size_mib = (uint32_t)slot;
	out->block_size_mib = (uint32_t)block;
	return 0;
}

json_t *hotplug_memory_config_to_json(const struct hotplug_memory_config *c)
{
	return json_pack("{s:I,s:I,s:I}", "total_size_mib", (json_int_t)c->total_size_mib, "slot_size_mib",
			 (json_int_t)c->slot_size_mib, "block_size_mib", (json_int_t)c->block_size_mib);
}

int hotplug_memory_update_from_json(json_t *obj, uint32_t *requested_mib, char *err, size_t errlen)
{
	static const char *const keys[] = { "requested_size_mib", NULL };
	uint64_t v = 0;
	int r;
	if (!json_is_object(obj))
		return error_set(err, errlen, -EINVAL, "expected an object");
	if ((r = json_check_keys(obj, NULL, keys, err, errlen)) < 0 ||
	    (r = json_get_uint(obj, NULL, "requested_size_mib", true, 0, UINT32_MAX, &v, err, errlen)) < 0)
		return r;
	*requested_mib = (uint32_t)v;
	return 0;
}
