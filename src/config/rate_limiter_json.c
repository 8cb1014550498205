/* Firecracker's RateLimiter and TokenBucket objects in JSON (drives, network interfaces, the
 * entropy device, the serial console). See devices_config.h. */
#include "config/devices_config.h"
#include "util/error.h"
#include "util/json_util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* "where.key" (or "key") into buf. */
static char *join(char *buf, size_t len, const char *where, const char *key)
{
	snprintf(buf, len, "%s%s%s", where && *where ? where : "", where && *where ? "." : "", key);
	return buf;
}

int token_bucket_config_from_json(json_t *obj, const char *where, struct token_bucket_config *b,
			    char *err, size_t errlen)
{
	static const char *const keys[] = { "size", "one_time_burst", "refill_time", NULL };
	int r;
	memset(b, 0, sizeof(*b));
	if (json_is_null(obj))
		return 0;
	if (!json_is_object(obj))
		return error_set(err, errlen, -EINVAL, "%s: expected an object", where);
	if ((r = json_check_keys(obj, where, keys, err, errlen)) < 0 ||
	    (r = json_get_uint(obj, where, "size", true, 0, INT64_MAX, &b->size, err, errlen)) < 0 ||
	    (r = json_get_uint(obj, where, "refill_time", true, 0, INT64_MAX, &b->refill_time, err, errlen)) < 0 ||
	    (r = json_get_uint(obj, where, "one_time_burst", false, 0, INT64_MAX, &b->one_time_burst, err, errlen)) < 0)
		return r;
	b->has_one_time_burst = r == 1;
	b->present = true;
	return 0;
}

int rate_limiter_config_from_json(json_t *parent, const char *where, const char *key,
				  struct rate_limiter_config *rl, char *err, size_t errlen)
{
	static const char *const keys[] = { "bandwidth", "ops", NULL };
	char w[192], wb[256];
	int r;
	memset(rl, 0, sizeof(*rl));
	json_t *obj = json_object_get(parent, key);
	if (!obj || json_is_null(obj))
		return 0;
	join(w, sizeof(w), where, key);
	if (!json_is_object(obj))
		return error_set(err, errlen, -EINVAL, "%s: expected an object", w);
	if ((r = json_check_keys(obj, w, keys, err, errlen)) < 0)
		return r;
	json_t *b = json_object_get(obj, "bandwidth");
	if (b && !json_is_null(b) && (r = token_bucket_config_from_json(b, join(wb, sizeof(wb), w, "bandwidth"), &rl->bandwidth, err, errlen)) < 0)
		return r;
	b = json_object_get(obj, "ops");
	if (b && !json_is_null(b) && (r = token_bucket_config_from_json(b, join(wb, sizeof(wb), w, "ops"), &rl->ops, err, errlen)) < 0)
		return r;
	rl->present = true;
	return 0;
}

static void bucket_patch(struct token_bucket_config *cur, const struct token_bucket_config *patch)
{
	if (!patch->present)
		return;
	*cur = *patch;
	cur->present = patch->size && patch->refill_time; /* Firecracker: such a bucket does not limit */
}

void rate_limiter_config_patch(struct rate_limiter_config *cur, const struct rate_limiter_config *patch)
{
	if (!patch->present)
		return;
	bucket_patch(&cur->bandwidth, &patch->bandwidth);
	bucket_patch(&cur->ops, &patch->ops);
	cur->present = cur->bandwidth.present || cur->ops.present;
}

json_t *token_bucket_config_to_json(const struct token_bucket_config *b)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	json_object_set_new(o, "size", json_integer((json_int_t)b->size));
	/* As Firecracker writes it: null when there is none (or it is 0) */
	json_object_set_new(o, "one_time_burst", b->has_one_time_burst && b->one_time_burst ?
			    json_integer((json_int_t)b->one_time_burst) : json_null());
	json_object_set_new(o, "refill_time", json_integer((json_int_t)b->refill_time));
	return o;
}

void rate_limiter_config_to_json(json_t *parent, const char *key, const struct rate_limiter_config *rl)
{
	if (!rl->present) {
		json_object_set_new(parent, key, json_null()); /* as Firecracker reports it */
		return;
	}
	json_t *o = json_object();
	if (!o)
		return;
	/* Both buckets, null when absent, as Firecracker writes them */
	json_object_set_new(o, "bandwidth", rl->bandwidth.present ? token_bucket_config_to_json(&rl->bandwidth) : json_null());
	json_object_set_new(o, "ops", rl->ops.present ? token_bucket_config_to_json(&rl->ops) : json_null());
	json_object_set_new(parent, key, o);
}
