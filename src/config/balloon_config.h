/* Firecracker's Balloon, BalloonUpdate and BalloonStatsUpdate objects (PUT /balloon, PATCH
 * /balloon, PATCH /balloon/statistics, the "balloon" section of a config file). See
 * docs/balloon.md. */
#ifndef PETREL_CONFIG_BALLOON_CONFIG_H
#define PETREL_CONFIG_BALLOON_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BALLOON_MAX_STATS_INTERVAL_S 65535

struct balloon_config {
	uint32_t amount_mib;               /* target size */
	bool deflate_on_oom;
	uint32_t stats_polling_interval_s; /* 0: no statistics */
	bool free_page_reporting;
	bool free_page_hinting;
};

/* Strict: unknown keys, wrong types and out-of-range numbers are -EINVAL with "where.key: ...".
 * amount_mib and deflate_on_oom are required, as in Firecracker. */
int balloon_config_from_json(json_t *obj, const char *where, struct balloon_config *out, char *err,
			     size_t errlen);
json_t *balloon_config_to_json(const struct balloon_config *c);
/* {"amount_mib"} */
int balloon_update_from_json(json_t *obj, uint32_t *amount_mib, char *err, size_t errlen);
/* {"stats_polling_interval_s"} */
int balloon_stats_update_from_json(json_t *obj, uint32_t *seconds, char *err, size_t errlen);

#endif
