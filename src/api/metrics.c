#include "api/metrics.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void metrics_init(struct metrics *m)
{
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

void metrics_free(struct metrics *m)
{
	if (m->fd >= 0)
		close(m->fd);
	free(m->path);
	json_decref(m->properties);
	json_decref(m->prev);
	metrics_init(m);
}

int metrics_configure(struct metrics *m, const char *path, bool emit_id, json_t *properties,
		      char *err, size_t errlen)
{
	if (m->fd >= 0)
		return error_set(err, errlen, -EBUSY, "metrics are already configured (to %s)", m->path);
	/* A named pipe is opened read-write: that never blocks and never fails for want of a
	 * reader (O_WRONLY | O_NONBLOCK would, with ENXIO). */
	struct stat st;
	int flags = O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	if (stat(path, &st) == 0 && S_ISFIFO(st.st_mode))
		flags |= O_RDWR;
	else
		flags |= O_WRONLY | O_APPEND | O_CREAT;
	int fd = open(path, flags, 0640);
	if (fd < 0) {
		int e = errno;
		return error_set(err, errlen, -e, "cannot open metrics file '%s': %s", path, strerror(e));
	}
	char *p = strdup(path);
	json_t *props = properties ? json_deep_copy(properties) : NULL;
	if (!p || (properties && !props)) {
		close(fd);
		free(p);
		json_decref(props);
		return error_set(err, errlen, -ENOMEM, "out of memory");
	}
	m->fd = fd;
	m->path = p;
	m->emit_id = emit_id;
	m->properties = props;
	return 0;
}

bool metrics_is_store_group(const char *key)
{
	/* and latency aggregates ("plug_agg": min_us, max_us, sum_us over the device's life) */
	size_t n = strlen(key);
	return !strcmp(key, METRICS_STORE_GROUP) || !strcmp(key, METRICS_STARTUP_GROUP) ||
	       (n > 4 && !strcmp(key + n - 4, "_agg"));
}

json_t *metrics_delta(json_t *cur, json_t *prev)
{
	if (json_is_integer(cur)) {
		/* counters are unsigned (json_int_t holds one past 2^63 as negative): the increase is
		 * modulo 2^64; a signed subtraction could overflow */
		uint64_t c = (uint64_t)json_integer_value(cur);
		uint64_t p = json_is_integer(prev) ? (uint64_t)json_integer_value(prev) : 0;
		return json_integer((json_int_t)(c - p));
	}
	if (!json_is_object(cur))
		return json_deep_copy(cur);
	json_t *out = json_object();
	if (!out)
		return NULL;
	const char *key;
	json_t *val;
	json_object_foreach(cur, key, val) {
		/* Firecracker's store metrics (latencies) are the latest value, not an increase */
		json_t *d = metrics_is_store_group(key) ? json_deep_copy(val) :
			    metrics_delta(val, json_is_object(prev) ? json_object_get(prev, key) : NULL);
		if (!d || json_object_set_new(out, key, d) < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

int metrics_flush(struct metrics *m, json_t *counters, const char *id)
{
	if (m->fd < 0)
		return -ENOENT;
	json_t *line = metrics_delta(counters, m->prev);
	if (!line)
		return -ENOMEM;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	json_int_t ms = (json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	int err = json_object_set_new(line, "utc_timestamp_ms", json_integer(ms));
	if (!err && m->emit_id && id)
		err = json_object_set_new(line, "id", json_string(id));
	if (!err && m->properties)
		err = json_object_set(line, "properties", m->properties);
	char *text = err ? NULL : json_dumps(line, JSON_COMPACT);
	json_decref(line);
	if (!text)
		return -ENOMEM;
	size_t len = strlen(text);
	char *buf = realloc(text, len + 2);
	if (!buf) {
		free(text);
		return -ENOMEM;
	}
	buf[len++] = '\n';
	buf[len] = '\0';
	/* One write() per line; a full pipe drops the line rather than stalling the caller. */
	ssize_t w;
	do
		w = write(m->fd, buf, len);
	while (w < 0 && errno == EINTR);
	int r = w < 0 ? -errno : (size_t)w != len ? -EAGAIN : 0;
	free(buf);
	if (r < 0) {
		m->failed++;
		return r;
	}
	m->lines++;
	json_t *copy = json_deep_copy(counters);
	if (copy) {
		json_decref(m->prev);
		m->prev = copy;
	}
	return 0;
}

json_t *metrics_config_to_json(const struct metrics *m)
{
	if (m->fd < 0)
		return NULL;
	json_t *o = json_pack("{s:s, s:b}", "metrics_path", m->path, "emit_id", m->emit_id);
	if (o && m->properties)
		json_object_set(o, "properties", m->properties);
	return o;
}
