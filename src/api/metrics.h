/* Metrics: Firecracker-style JSON lines written to a file or named pipe.
 *
 * Each flush writes one line: a JSON object whose integer counters are the increase since the
 * previous flush (like Firecracker's), plus "utc_timestamp_ms", and "id"/"properties" when
 * configured. The counters themselves are collected by the caller (the controller knows the VM)
 * as cumulative values in nested objects; this module keeps the previous set and subtracts. */
#ifndef PETREL_API_METRICS_H
#define PETREL_API_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define METRICS_FLUSH_INTERVAL_NS (60ull * 1000000000ull)  /* periodic flush, as Firecracker */
/* Groups whose values are written as they are (the latest measurement), not as increases:
 * Firecracker's store metrics. */
#define METRICS_STORE_GROUP "latencies_us"
#define METRICS_STARTUP_GROUP "api_server"
bool metrics_is_store_group(const char *key);

struct metrics {
	int fd;                 /* -1 while not configured */
	char *path;
	bool emit_id;
	json_t *properties;     /* object of strings, or NULL */
	json_t *prev;           /* cumulative counters at the last flush, or NULL */
	uint64_t lines, failed; /* lines written / dropped */
};

void metrics_init(struct metrics *m);
void metrics_free(struct metrics *m);
static inline bool metrics_configured(const struct metrics *m) { return m->fd >= 0; }
/* Open path (a regular file, appended to and created if missing, or a named pipe, which
 * need not have a reader yet). -EBUSY if metrics are already configured, -errno if the path
 * cannot be opened; err says why. `properties` (borrowed; may be NULL) is copied. */
int metrics_configure(struct metrics *m, const char *path, bool emit_id, json_t *properties,
		      char *err, size_t errlen);
/* Write one line from `counters` (borrowed: cumulative values). Never blocks: a pipe that is
 * full drops the line. Returns 0 or -errno. */
int metrics_flush(struct metrics *m, json_t *counters, const char *id);
/* The Metrics object of the API (for GET /vm/config), or NULL when not configured. */
json_t *metrics_config_to_json(const struct metrics *m);
/* cur - prev for every integer leaf (missing in prev counts as 0); other values are copied.
 * New reference, NULL only when out of memory. */
json_t *metrics_delta(json_t *cur, json_t *prev);

#endif
