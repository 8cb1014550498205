/* Unit tests for the event monitor (src/util/event_monitor.c): events from several threads at
 * once arrive as whole JSON lines with distinct, gap-free sequence numbers; a reader that does
 * not read never blocks an emitter (the buffer fills, then events are dropped and counted), and
 * the close waits no longer than it was told. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"
#include "util/event_monitor.h"

#define THREADS 4
#define PER_THREAD 200

static uint64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static int open_pipe(int p[2])
{
	char spec[32], err[256];
	if (pipe(p) < 0)
		return -1;
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	snprintf(spec, sizeof(spec), "fd=%d", p[1]);
	return event_monitor_open(spec, err, sizeof(err));
}

static void *emitter(void *arg)
{
	for (int i = 0; i < PER_THREAD; i++)
		event_emit("vm", "test", "{s:i,s:i}", "thread", (int)(intptr_t)arg, "i", i);
	return NULL;
}

static void *closer(void *arg)
{
	(void)arg;
	event_monitor_close(1000);
	return NULL;
}

/* Read what the pipe holds into buf (appending); returns the new length. */
static size_t drain(int fd, char *buf, size_t len, size_t cap)
{
	ssize_t n;
	while (len < cap && (n = read(fd, buf + len, cap - len)) > 0)
		len += (size_t)n;
	return len;
}

TEST(threads_write_whole_lines_in_order)
{
	int p[2];
	REQUIRE_EQ(open_pipe(p), 0);
	size_t cap = 4 << 20, len = 0;
	char *buf = malloc(cap);
	REQUIRE(buf);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		REQUIRE_EQ(pthread_create(&t[i], NULL, emitter, (void *)(intptr_t)i), 0);
	for (int i = 0; i < THREADS; i++) {
		while (pthread_tryjoin_np(t[i], NULL) != 0)
			len = drain(p[0], buf, len, cap);   /* a reader keeping up */
	}
	/* What the emitters left in the monitor's buffer (more than the pipe holds, when they
	 * ran faster than this reader) goes out as it closes: read on meanwhile, to the end. */
	pthread_t c;
	REQUIRE_EQ(pthread_create(&c, NULL, closer, NULL), 0);
	for (ssize_t n; len < cap && (n = read(p[0], buf + len, cap - len)) != 0;) {
		if (n > 0)
			len += (size_t)n;
		else
			usleep(1000);   /* nothing yet (EAGAIN) */
	}
	pthread_join(c, NULL);
	CHECK_EQ(event_monitor_dropped(), 0);
	int seen[THREADS] = { 0 }, lines = 0;
	json_int_t first = 0, prev = 0;
	for (char *line = buf, *nl; line < buf + len; line = nl + 1) {
		nl = memchr(line, '\n', (size_t)(buf + len - line));
		REQUIRE(nl);
		json_error_t e;
		json_t *o = json_loadb(line, (size_t)(nl - line), 0, &e);
		REQUIRE(o);
		json_int_t seq = json_integer_value(json_object_get(o, "seq"));
		if (lines++ == 0)
			first = prev = seq;
		else
			CHECK_EQ(seq, prev + 1);   /* in the order they were numbered, none missing */
		prev = seq;
		json_t *props = json_object_get(o, "properties");
		int th = (int)json_integer_value(json_object_get(props, "thread"));
		REQUIRE(th >= 0 && th < THREADS);
		CHECK_EQ(json_integer_value(json_object_get(props, "i")), seen[th]);   /* each thread's in order */
		seen[th]++;
		json_decref(o);
	}
	CHECK_EQ(lines, THREADS * PER_THREAD);
	CHECK_EQ(prev - first + 1, THREADS * PER_THREAD);
	free(buf);
	close(p[0]);
}

TEST(a_reader_that_never_reads_blocks_nobody)
{
	int p[2];
	REQUIRE_EQ(open_pipe(p), 0);
	uint64_t dropped = event_monitor_dropped();
	uint64_t t0 = now_ms();
	for (int i = 0; i < 5000; i++)   /* ~150 bytes each: far more than pipe and buffer hold */
		event_emit("vm", "test", "{s:i}", "i", i);
	CHECK(now_ms() - t0 < 5000);
	CHECK(event_monitor_dropped() > dropped);
	t0 = now_ms();
	event_monitor_close(200);
	uint64_t took = now_ms() - t0;
	CHECK(took >= 150 && took < 2000);   /* waited for the reader, as long as told */
	close(p[0]);
}

TEST(bad_specs_refused)
{
	char err[256];
	CHECK_EQ(event_monitor_open("fd=-1", err, sizeof(err)), -EINVAL);
	CHECK_EQ(event_monitor_open("fd=2", err, sizeof(err)), -EINVAL);
	CHECK_EQ(event_monitor_open("", err, sizeof(err)), -EINVAL);
	CHECK_EQ(event_monitor_open("/nonexistent/x/y", err, sizeof(err)), -ENOENT);
	CHECK(strstr(err, "/nonexistent/x/y") != NULL);
	event_emit("vm", "nothing", NULL);   /* no monitor: nothing happens */
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
