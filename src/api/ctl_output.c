/* Where the instance reports: the logger (PUT /logger), the metrics' destination (PUT
 * /metrics; the counters a line is made of are in ctl_metrics.c) and the serial console's
 * output (PUT /serial). See controller.h. */
#include "api/ctl_internal.h"
#include "util/util.h"
#include "util/proc_metrics.h"
#include "vm/vm.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- small JSON helpers for the objects parsed here ---- */

static int check_fields(json_t *obj, const char *what, const char *const *allowed, char *err,
			size_t errlen)
{
	if (!json_is_object(obj))
		return fail(err, errlen, -EINVAL, "%s: expected an object", what);
	const char *key;
	json_t *val;
	json_object_foreach(obj, key, val) {
		bool ok = false;
		for (const char *const *a = allowed; *a; a++)
			ok |= !strcmp(*a, key);
		if (!ok)
			return fail(err, errlen, -EINVAL, "%s: unknown field", key);
	}
	return 0;
}

/* Optional string field: NULL when absent. Empty strings and embedded NULs are refused. */
static int opt_str(json_t *obj, const char *key, const char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v || json_is_null(v)) /* Firecracker: null is "not given" */
		return 0;
	if (!json_is_string(v))
		return fail(err, errlen, -EINVAL, "%s: expected a string", key);
	if (json_string_length(v) == 0)
		return fail(err, errlen, -EINVAL, "%s: must not be empty", key);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return fail(err, errlen, -EINVAL, "%s: contains a NUL character", key);
	*out = json_string_value(v);
	return 0;
}

static int opt_bool(json_t *obj, const char *key, bool dflt, bool *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	*out = dflt;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return fail(err, errlen, -EINVAL, "%s: expected a boolean", key);
	*out = json_is_true(v);
	return 0;
}

const char *ctl_level_name(enum log_level l)
{
	switch (l) {
	case LOG_OFF: return "Off";
	case LOG_ERROR: return "Error";
	case LOG_WARN: return "Warning";
	case LOG_INFO: return "Info";
	case LOG_DEBUG: return "Debug";
	default: return "Trace";
	}
}

static int dup_opt(char **dst, const char *src)
{
	char *s = src ? strdup(src) : NULL;
	if (src && !s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

int ctl_put_logger(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	static const char *const keys[] = { "log_path", "level", "show_level", "show_log_origin",
					    "module", NULL };
	const char *path, *level_s, *module;
	bool show_level, show_origin;
	enum log_level level = LOG_INFO;   /* the spec's default */
	int r;
	if ((r = check_fields(body, "logger", keys, err, errlen)) < 0 ||
	    (r = opt_str(body, "log_path", &path, err, errlen)) < 0 ||
	    (r = opt_str(body, "level", &level_s, err, errlen)) < 0 ||
	    (r = opt_str(body, "module", &module, err, errlen)) < 0 ||
	    (r = opt_bool(body, "show_level", false, &show_level, err, errlen)) < 0 ||
	    (r = opt_bool(body, "show_log_origin", false, &show_origin, err, errlen)) < 0)
		return r;
	if (level_s && log_level_from_name(level_s, &level) < 0)
		return fail(err, errlen, -EINVAL, "level: expected one of Error, Warning, Info, Debug, "
			    "Trace, Off (any case), not '%s'", level_s);
	if (ctl->dry_run)
		return path ? fail(err, errlen, -EINVAL, "log_path: no host files in a dry run") : 0;
	pthread_mutex_lock(&ctl->lock);
	/* Firecracker: the logger is pre-boot configuration. */
	if ((r = ctl_check_not_started(ctl, "the logger", err, errlen)) < 0) {
		pthread_mutex_unlock(&ctl->lock);
		return r;
	}
	if (path && (r = log_set_path(path)) < 0) {
		pthread_mutex_unlock(&ctl->lock);
		return fail(err, errlen, -EINVAL, "log_path: cannot open '%s': %s", path, strerror(-r));
	}
	log_set_level(level);
	log_set_format(show_level, show_origin);
	log_set_module(module);
	struct logger_settings *l = &ctl->logger;
	if (path)
		r = dup_opt(&l->log_path, path);
	if (r == 0)
		r = dup_opt(&l->module, module);
	l->level = level;
	l->show_level = show_level;
	l->show_log_origin = show_origin;
	l->configured = true;
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0)
		return oom(err, errlen);
	log_info("logger configured: level %s%s%s", ctl_level_name(level), path ? ", to " : "",
		 path ? path : "");
	return 0;
}

int ctl_put_metrics(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	static const char *const keys[] = { "metrics_path", "emit_id", "properties", NULL };
	const char *path;
	bool emit_id;
	int r;
	if ((r = check_fields(body, "metrics", keys, err, errlen)) < 0 ||
	    (r = opt_str(body, "metrics_path", &path, err, errlen)) < 0 ||
	    (r = opt_bool(body, "emit_id", false, &emit_id, err, errlen)) < 0)
		return r;
	if (!path)
		return fail(err, errlen, -EINVAL, "metrics_path: missing required field");
	json_t *props = json_object_get(body, "properties");
	if (props && !json_is_null(props)) {
		if (!json_is_object(props))
			return fail(err, errlen, -EINVAL, "properties: expected an object");
		const char *key;
		json_t *val;
		json_object_foreach(props, key, val) {
			if (!json_is_string(val))
				return fail(err, errlen, -EINVAL, "properties.%s: expected a string", key);
		}
	}
	if (ctl->dry_run)
		return fail(err, errlen, -EINVAL, "metrics_path: no host files in a dry run");
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "metrics", err, errlen); /* pre-boot only, as in Firecracker */
	if (r == 0)
		r = metrics_configure(&ctl->metrics, path, emit_id, props, err, errlen);
	if (r == 0) {
		/* a fatal signal's last line goes there too (util/proc_metrics.h) */
		proc_metrics_set_sink(ctl->metrics.fd, emit_id ? ctl->id : NULL);
		ctl->next_flush_ns = now_ns() + METRICS_FLUSH_INTERVAL_NS;
		pthread_cond_broadcast(&ctl->cond);
	}
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	log_info("metrics go to %s", path);
	return 0;
}

int ctl_put_serial(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	static const char *const keys[] = { "serial_out_path", "rate_limiter", NULL };
	const char *path;
	int r;
	if ((r = check_fields(body, "serial", keys, err, errlen)) < 0 ||
	    (r = opt_str(body, "serial_out_path", &path, err, errlen)) < 0)
		return r;
	/* A TokenBucket for the output bandwidth (bytes): what exceeds it is dropped and counted in
	 * uart.rate_limiter_dropped_bytes, as in Firecracker. */
	struct token_bucket_config limit;
	json_t *rl = json_object_get(body, "rate_limiter");
	if ((r = token_bucket_config_from_json(rl ? rl : json_null(), "rate_limiter", &limit, err,
					       errlen)) < 0)
		return r;
	int fd = -1;
	if (path && ctl->dry_run)
		return fail(err, errlen, -EINVAL, "serial_out_path: no host files in a dry run");
	/* Refused after the start: before the file is opened (it would be created). */
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "the serial console", err, errlen);
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0)
		return r;
	if (path) {
		struct stat st;
		int flags = O_CLOEXEC | O_NOCTTY;
		/* A named pipe is opened read-write so that opening it never waits for a reader. */
		if (stat(path, &st) == 0 && S_ISFIFO(st.st_mode))
			flags |= O_RDWR;
		else
			flags |= O_WRONLY | O_APPEND | O_CREAT;
		fd = open(path, flags, 0640);
		if (fd < 0)
			return fail(err, errlen, -EINVAL, "serial_out_path: cannot open '%s': %s", path,
				    strerror(errno));
	}
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "the serial console", err, errlen); /* again: a start may have come */
	if (r == 0 && (r = dup_opt(&ctl->serial_path, path)) < 0)
		r = oom(err, errlen);
	if (r == 0) {
		ctl->serial_limit = limit;
		if (ctl->serial_fd >= 0)
			close(ctl->serial_fd);
		ctl->serial_fd = fd;
		fd = -1;
	}
	pthread_mutex_unlock(&ctl->lock);
	if (fd >= 0)
		close(fd);
	return r;
}
