/* The balloon's JSON objects: see balloon_config.h. */
#include "config/balloon_config.h"
#include "util/error.h"
#include "util/json_util.h"

#include <errno.h>
#include <string.h>

static int not_object(const char *where, char *err, size_t errlen)
{
	return error_set(err, errlen, -EINVAL, "%s: expected an object", where && *where ? where : "balloon");
}

int balloon_config_from_json(json_t *obj, const char *where, struct balloon_config *out, char *err,
			     size_t errlen)
{
	static const char *const keys[] = { "amount_mib", "deflate_on_oom", "stats_polling_interval_s",
					    "free_page_reporting", "free_page_hinting", NULL };
	struct balloon_config c = { 0 };
	uint64_t v = 0;
	int r;
	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj))
		return not_object(where, err, errlen);
	if ((r = json_check_keys(obj, where, keys, err, errlen)) < 0 ||
	    (r = json_get_uint(obj, where, "amount_mib", true, 0, UINT32_MAX, &v, err, errlen)) < 0)
		return r;
	c.amount_mib = (uint32_t)v;
	v = 0;
	if ((r = json_get_bool(obj, where, "deflate_on_oom", true, &c.deflate_on_oom, err, errlen)) < 0 ||
	    (r = json_get_uint(obj, where, "stats_polling_interval_s", false, 0, BALLOON_MAX_STATS_INTERVAL_S,
			       &v, err, errlen)) < 0 ||
	    (r = json_get_bool(obj, where, "free_page_reporting", false, &c.free_page_reporting, err, errlen)) < 0 ||
	    (r = json_get_bool(obj, where, "free_page_hinting", false, &c.free_page_hinting, err, errlen)) < 0)
		return r;
	c.stats_polling_interval_s = (uint32_t)v;
	*out = c;
	return 0;
}

json_t *balloon_config_to_json(const struct balloon_config *c)
{
	return json_pack("{s:I,s:b,s:I,s:b,s:b}", "amount_mib", (json_int_t)c->amount_mib, "deflate_on_oom",
			 c->deflate_on_oom, "stats_polling_interval_s", (json_int_t)c->stats_polling_interval_s,
			 "free_page_reporting", c->free_page_reporting, "free_page_hinting", c->free_page_hinting);
}

int balloon_update_from_json(json_t *obj, uint32_t *amount_mib, char *err, size_t errlen)
{
	static const char *const keys[] = { "amount_mib", NULL };
	uint64_t v = 0;
	int r;
	if (!json_is_object(obj))
		return not_object(NULL, err, errlen);
	if ((r = json_check_keys(obj, NULL, keys, err, errlen)) < 0 ||
	    (r = json_get_uint(obj, NULL, "amount_mib", true, 0, UINT32_MAX, &v, err, errlen)) < 0)
		return r;
	*amount_mib = (uint32_t)v;
	return 0;
}

int balloon_stats_update_from_json(json_t *obj, uint32_t *seconds, char *err, size_t errlen)
{
	static const char *const keys[] = { "stats_polling_interval_s", NULL };
	uint64_t v = 0;
	int r;
	if (!json_is_object(obj))
		return not_object(NULL, err, errlen);
	if ((r = json_check_keys(obj, NULL, keys, err, errlen)) < 0 ||
	    (r = json_get_uint(obj, NULL, "stats_polling_interval_s", true, 0, BALLOON_MAX_STATS_INTERVAL_S, &v,
			       err, errlen)) < 0)
		return r;
	*seconds = (uint32_t)v;
	return 0;
}
