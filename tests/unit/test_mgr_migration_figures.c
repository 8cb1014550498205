/* petreld's figures of a migration whose source worker exited before a GET /migration saw it
 * complete (src/manager/peer/migrate.c): they come from the worker's events file, which petrel alone
 * writes, never from its log, which the guest's serial console shares. A guest that prints a
 * line looking like petrel's "migration to ... completed: downtime D ms" changes nothing. */
#include "unit.h"
#include "manager/peer/peer.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64], events[128];

/* A state directory as petreld lays it out, with VM "mig" (no jailer): its events file is
 * <state>/sock/mig.events (worker_events_path). */
static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/petrel-figures-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	char p[128];
	snprintf(p, sizeof(p), "%s/sock", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/logs", dir);
	mkdir(p, 0700);
	snprintf(events, sizeof(events), "%s/sock/mig.events", dir);
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		abort();
}

static void append(const char *path, const char *text)
{
	FILE *f = fopen(path, "a");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
}

/* One event line as src/util/event_monitor.c writes it. */
static void event(const char *path, const char *what, const char *role, double down, double total)
{
	char line[512];
	snprintf(line, sizeof(line),
		 "{\"timestamp\":\"2026-11-26T14:30:00.000001Z\",\"monotonic_us\":1,\"seq\":2,\"id\":\"mig\","
		 "\"source\":\"migration\",\"event\":\"%s\",\"properties\":{\"role\":\"%s\",\"url\":\"tls:h:1\","
		 "\"reason\":\"\",\"downtime_ms\":%.2f,\"total_ms\":%.1f}}\n", what, role, down, total);
	append(path, line);
}

TEST(figures_come_from_the_events_not_the_console)
{
	setup();
	char log[128];
	snprintf(log, sizeof(log), "%s/logs/mig.worker.log", dir);
	/* an earlier migration's event: before the offset, not this one's */
	event(events, "migration-completed", "source", 1.0, 2.0);
	off_t from = -1;
	int fd = peer_events_open(events, &from);
	REQUIRE(fd >= 0);
	CHECK(from > 0);
	/* the guest prints what looks like petrel's log line (and a fake event) on its console */
	append(log, "2026-11-26T14:30:00.123456789 [mig:petrel_mig] migration to tls:h:1 completed: "
		    "downtime 0.01 ms, total 0.1 ms, 1 MiB sent in 1 rounds\n");
	append(log, "{\"source\":\"migration\",\"event\":\"migration-completed\",\"properties\":"
		    "{\"role\":\"source\",\"downtime_ms\":0.01,\"total_ms\":0.1}}\n");
	/* the worker: the target's side of nothing, then its own end */
	event(events, "migration-started", "source", 0, 0);
	event(events, "migration-completed", "destination", 5.0, 6.0);
	event(events, "migration-completed", "source", 37.48, 812.3);
	append(events, "not json\n");
	/* its jail (here: its file) goes as it exits; the descriptor still reads it */
	unlink(events);
	json_t *fig = peer_events_figures(fd, from);
	REQUIRE(fig != NULL);
	CHECK(json_real_value(json_object_get(fig, "downtime_ms")) == 37.48);
	CHECK(json_real_value(json_object_get(fig, "total_ms")) == 812.3);
	json_decref(fig);
	close(fd);
	teardown();
}

TEST(no_events_no_figures)
{
	setup();
	off_t from = 0;
	CHECK_EQ(peer_events_open(events, &from), -1);   /* none */
	CHECK(peer_events_figures(-1, 0) == NULL);
	/* a worker (it may own the file, in its jail) that put a link there: not followed */
	char target[256];
	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	event(target, "migration-completed", "source", 3.0, 4.0);
	REQUIRE_EQ(symlink(target, events), 0);
	CHECK_EQ(peer_events_open(events, &from), -1);
	unlink(events);
	/* nor a FIFO: the open would wait for a writer */
	REQUIRE_EQ(mkfifo(events, 0600), 0);
	CHECK_EQ(peer_events_open(events, &from), -1);
	/* an events file without a completion: no figures (the answer says null) */
	unlink(events);
	event(events, "migration-failed", "source", 0, 0);
	int fd = peer_events_open(events, &from);
	REQUIRE(fd >= 0);
	event(events, "migration-failed", "source", 0, 0);
	CHECK(peer_events_figures(fd, from) == NULL);
	close(fd);
	teardown();
}

TEST(event_lines_checked)
{
	const char *bad[] = {
		"", "{", "[]", "{\"source\":\"migration\",\"event\":\"migration-completed\"}",
		"{\"source\":\"vm\",\"event\":\"migration-completed\",\"properties\":{\"role\":\"source\",\"downtime_ms\":1}}",
		"{\"source\":\"migration\",\"event\":\"migration-completed\",\"properties\":{\"role\":\"source\",\"downtime_ms\":-1}}",
		"{\"source\":\"migration\",\"event\":\"migration-completed\",\"properties\":{\"role\":\"source\",\"downtime_ms\":\"1\"}}",
		"{\"source\":\"migration\",\"event\":\"migration-completed\",\"properties\":{\"role\":1,\"downtime_ms\":1}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *o = peer_event_figures(bad[i]);
		CHECK(o == NULL);
		json_decref(o);
	}
	json_t *o = peer_event_figures("{\"source\":\"migration\",\"event\":\"migration-completed\","
				       "\"properties\":{\"role\":\"source\",\"downtime_ms\":2}}");
	REQUIRE(o != NULL);
	CHECK(json_real_value(json_object_get(o, "downtime_ms")) == 2.0);
	CHECK(json_object_get(o, "total_ms") == NULL);   /* an older worker's event */
	json_decref(o);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
