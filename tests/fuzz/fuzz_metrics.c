/* libFuzzer target: the metrics writer (src/api/metrics.c). The input is a sequence of JSON
 * documents separated by NUL bytes: each is a set of cumulative counters as the controller
 * collects them (nested objects of integers, with store groups such as "latencies_us" and
 * "*_agg"), flushed in turn to a metrics file. Counters come from devices a guest drives and
 * from restored snapshots (a restored VM counts from zero again), and json_int_t holds an
 * unsigned counter past 2^63 as negative, so any integer may follow any other. Checked: metrics_delta gives exactly cur - prev (modulo 2^64, as unsigned counters
 * wrap) for every integer leaf outside store groups, copies store groups and non-integers as
 * they are, keeps every key; and every line written is one JSON object on one line, with the
 * delta, "utc_timestamp_ms", "id" and "properties". */
#include "api/metrics.h"
#include "fuzz_common.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

FUZZ_QUIET_LOGS()

#define MAX_DOCS 8

static void check_delta(json_t *cur, json_t *prev, json_t *d)
{
	if (json_is_integer(cur)) {
		uint64_t c = (uint64_t)json_integer_value(cur);
		uint64_t p = json_is_integer(prev) ? (uint64_t)json_integer_value(prev) : 0;
		FUZZ_CHECK(json_is_integer(d) && (uint64_t)json_integer_value(d) == c - p);
		return;
	}
	if (!json_is_object(cur)) {
		FUZZ_CHECK(json_equal(cur, d));
		return;
	}
	FUZZ_CHECK(json_is_object(d) && json_object_size(d) == json_object_size(cur));
	const char *key;
	json_t *val;
	json_object_foreach(cur, key, val) {
		json_t *dv = json_object_get(d, key);
		FUZZ_CHECK(dv);
		if (metrics_is_store_group(key))
			FUZZ_CHECK(json_equal(val, dv));
		else
			check_delta(val, json_is_object(prev) ? json_object_get(prev, key) : NULL, dv);
	}
}

/* What the file holds: one line per successful flush, each the delta of its
 * counters against the previous ones written. */
static void check_lines(int fd, json_t **written, json_t **prevs, unsigned n,
			json_t *props)
{
	off_t end = lseek(fd, 0, SEEK_END);
	FUZZ_CHECK(end >= 0);
	size_t len = (size_t)end;
	char *text = malloc(len + 1);
	FUZZ_CHECK(text && pread(fd, text, len, 0) == (ssize_t)len);
	text[len] = '\0';
	char *line = text;
	for (unsigned i = 0; i < n; i++) {
		char *nl = strchr(line, '\n');
		FUZZ_CHECK(nl);
		json_error_t e;
		json_t *o = json_loadb(line, (size_t)(nl - line), JSON_REJECT_DUPLICATES, &e);
		FUZZ_CHECK(json_is_object(o));
		FUZZ_CHECK(json_is_integer(json_object_get(o, "utc_timestamp_ms")));
		FUZZ_CHECK(json_is_string(json_object_get(o, "id")) &&
			   !strcmp(json_string_value(json_object_get(o, "id")), "fuzz-vm"));
		FUZZ_CHECK(json_equal(json_object_get(o, "properties"), props));
		/* the counters' own keys (unless one is named like an added field) */
		const char *key;
		json_t *val;
		json_object_foreach(written[i], key, val) {
			if (!strcmp(key, "utc_timestamp_ms") || !strcmp(key, "id") || !strcmp(key, "properties"))
				continue;
			json_t *dv = json_object_get(o, key);
			FUZZ_CHECK(dv);
			if (metrics_is_store_group(key))
				FUZZ_CHECK(json_equal(val, dv));
			else
				check_delta(val, json_is_object(prevs[i]) ? json_object_get(prevs[i], key) : NULL, dv);
		}
		json_decref(o);
		line = nl + 1;
	}
	FUZZ_CHECK(*line == '\0');
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *docs[MAX_DOCS];
	unsigned n = 0;
	size_t at = 0;
	while (at <= size && n < MAX_DOCS) {
		const uint8_t *nul = memchr(data + at, 0, size - at);
		size_t len = nul ? (size_t)(nul - (data + at)) : size - at;
		json_error_t e;
		json_t *j = json_loadb((const char *)data + at, len, JSON_DECODE_ANY, &e);
		if (j)
			docs[n++] = j;
		if (!nul)
			break;
		at += len + 1;
	}
	/* the delta of each against the one before (the first against nothing) */
	for (unsigned i = 0; i < n; i++) {
		json_t *d = metrics_delta(docs[i], i ? docs[i - 1] : NULL);
		FUZZ_CHECK(d);
		check_delta(docs[i], i ? docs[i - 1] : NULL, d);
		json_decref(d);
	}

	/* flushed in turn to a file: objects only, as the controller's counters always are */
	int fd = memfd_create("fuzz-metrics", MFD_CLOEXEC);
	FUZZ_CHECK(fd >= 0);
	char path[64], err[256];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	json_t *props = json_pack("{s:s, s:s}", "host", "fuzz", "zone", "a\"b\n");
	struct metrics m;
	metrics_init(&m);
	FUZZ_CHECK(metrics_configure(&m, path, true, props, err, sizeof(err)) == 0);
	json_t *written[MAX_DOCS], *prevs[MAX_DOCS], *last = NULL;
	unsigned nw = 0;
	for (unsigned i = 0; i < n; i++) {
		if (!json_is_object(docs[i])) {
			FUZZ_CHECK(metrics_flush(&m, docs[i], "fuzz-vm") < 0);
			continue;
		}
		FUZZ_CHECK(metrics_flush(&m, docs[i], "fuzz-vm") == 0);
		written[nw] = docs[i];
		prevs[nw++] = last;
		last = docs[i];
	}
	FUZZ_CHECK(m.lines == nw);
	check_lines(fd, written, prevs, nw, props); /* petrel's fd is write-only */
	metrics_free(&m);
	close(fd);
	json_decref(props);
	for (unsigned i = 0; i < n; i++)
		json_decref(docs[i]);
	return 0;
}
