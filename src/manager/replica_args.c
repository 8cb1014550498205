/* The bodies of petreld's replica verbs (POST /vms/NAME/replica/{standby,primary,promote}),
 * untrusted text checked strictly into the worker's PUT /replication fields. */
#include "manager/replica.h"
#include "migration/url.h"
#include "util/error.h"
#include "util/json_util.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int uint_in(json_t *o, const char *key, json_int_t min, json_int_t max, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return error_set(err, errlen, -EINVAL, "%s: expected an integer %lld-%lld", key, (long long)min,
				 (long long)max);
	return 0;
}

static int url_in(json_t *o, const char *key, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return error_set(err, errlen, -EINVAL, "%s: missing, or not a string", key);
	char why[256];
	if (mig_url_check(json_string_value(v), why, sizeof(why)) < 0)
		return error_set(err, errlen, -EINVAL, "%s: %s", key, why);
	return 0;
}

int replica_parse(const char *verb, const char *body, size_t len, json_t **out, char *err, size_t errlen)
{
	*out = NULL;
	json_t *o = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : json_object();
	if (!json_is_object(o)) {
		json_decref(o);
		return error_set(err, errlen, -EINVAL, "expected a JSON object");
	}
	static const char *const standby[] = { "listen_url", "failure_timeout_ms", NULL };
	static const char *const primary[] = { "peer_url", "checkpoint_interval_ms", "failure_timeout_ms",
					       "on_standby_loss", NULL };
	static const char *const promote[] = { "by", NULL };
	int e;
	if (!strcmp(verb, "standby")) {
		if ((e = json_check_keys(o, "", standby, err, errlen)) == 0 && (e = url_in(o, "listen_url", err, errlen)) == 0)
			e = uint_in(o, "failure_timeout_ms", 10, 600000, err, errlen);
	} else if (!strcmp(verb, "primary")) {
		json_t *loss = json_object_get(o, "on_standby_loss");
		const char *l = json_string_value(loss);
		if ((e = json_check_keys(o, "", primary, err, errlen)) == 0 && (e = url_in(o, "peer_url", err, errlen)) == 0 &&
		    (e = uint_in(o, "checkpoint_interval_ms", 1, 60000, err, errlen)) == 0 &&
		    (e = uint_in(o, "failure_timeout_ms", 10, 600000, err, errlen)) == 0 && loss &&
		    (!l || (strcmp(l, "continue") && strcmp(l, "stop"))))
			e = error_set(err, errlen, -EINVAL, "on_standby_loss: expected \"continue\" or \"stop\"");
	} else if (!strcmp(verb, "promote")) {
		json_t *by = json_object_get(o, "by");
		if ((e = json_check_keys(o, "", promote, err, errlen)) == 0 && by && !ascii_printable(json_string_value(by), 64))
			e = error_set(err, errlen, -EINVAL, "by: expected 1 to 64 printable characters");
	} else {
		e = error_set(err, errlen, -EINVAL, "unknown replica verb '%s'", verb);
	}
	if (e < 0) {
		json_decref(o);
		return e;
	}
	*out = o;
	return 0;
}
