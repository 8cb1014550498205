/* One microVM's metadata service: the data store (store.h), the V2 token authority
 * (token.h), the version and IMDS compatibility settings, the guest-facing request handler
 * and the `mmds` metrics. Shared by the API (which fills the store) and every network
 * interface whose MMDS stack (stack.h) answers guests from it, so it is reference-counted and
 * locked: API threads and the I/O thread use it concurrently.
 */
#ifndef PETREL_MMDS_MMDS_H
#define PETREL_MMDS_MMDS_H

#include "mmds/http.h"
#include "mmds/store.h"
#include "mmds/token.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum mmds_version { MMDS_V1 = 1, MMDS_V2 = 2 };

/* Firecracker's `mmds` metrics group. */
struct mmds_metrics {
	uint64_t rx_accepted, rx_accepted_err, rx_accepted_unusual, rx_bad_eth, rx_invalid_token,
		 rx_no_token, rx_count, tx_bytes, tx_count, tx_errors, tx_frames,
		 connections_created, connections_destroyed;
};

struct mmds {
	pthread_mutex_t lock;
	unsigned refs;                  /* atomic */
	struct mmds_store store;
	struct mmds_tokens tokens;
	enum mmds_version version;
	bool imds_compat;
	struct mmds_metrics metrics;    /* atomic adds (mmds_count) */
};

/* A new service (one reference) with an empty store of the given limit; NULL on failure. */
struct mmds *mmds_new(size_t limit);
struct mmds *mmds_ref(struct mmds *m);
void mmds_unref(struct mmds *m);
void mmds_configure(struct mmds *m, enum mmds_version v, bool imds_compat);
/* The data store limit (bytes of compact JSON) for later PUTs and PATCHes. */
void mmds_set_limit(struct mmds *m, size_t limit);
/* The instance id V2 tokens are bound to ("microvmid=<id>"). */
void mmds_set_instance(struct mmds *m, const char *instance_id);

/* The API's side: PUT, PATCH (status as store.h) and GET (a copy; NULL out of memory). */
enum mmds_store_status mmds_put(struct mmds *m, const json_t *data);
enum mmds_store_status mmds_patch(struct mmds *m, const json_t *patch);
json_t *mmds_get(struct mmds *m);
/* The metrics as a JSON object (Firecracker's field names); zeros for m NULL. */
json_t *mmds_metrics_json(struct mmds *m);
#define mmds_count(m, field, n) __atomic_fetch_add(&(m)->metrics.field, (n), __ATOMIC_RELAXED)

/* The guest's side: the whole HTTP response to one parsed request, at now_ms (CLOCK_MONOTONIC
 * milliseconds: token lifetimes). */
void mmds_respond(struct mmds *m, const struct mmds_http_req *req, uint64_t now_ms, struct mmds_buf *out);
/* The response to a request that did not parse. */
void mmds_respond_error(const struct mmds_http_error *err, struct mmds_buf *out);

uint64_t mmds_now_ms(void);

#endif
