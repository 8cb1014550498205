/* The process-wide counters of the metrics' signals, seccomp and vmm groups
 * (src/util/proc_metrics.c): Firecracker's names, signals mapped to them, and the one line a
 * fatal signal writes with async-signal-safe calls only, which must be a JSON object with the
 * timestamp, the id and those groups. */
#include "util/proc_metrics.h"
#include "unit.h"

#include <jansson.h>
#include <signal.h>
#include <unistd.h>

TEST(names_are_firecrackers)
{
	static const struct { enum proc_metric m; const char *group, *name; } want[] = {
		{ PM_SIGBUS, "signals", "sigbus" }, { PM_SIGSEGV, "signals", "sigsegv" },
		{ PM_SIGXFSZ, "signals", "sigxfsz" }, { PM_SIGXCPU, "signals", "sigxcpu" },
		{ PM_SIGPIPE, "signals", "sigpipe" }, { PM_SIGHUP, "signals", "sighup" },
		{ PM_SIGILL, "signals", "sigill" }, { PM_SECCOMP_FAULTS, "seccomp", "num_faults" },
		{ PM_PANICS, "vmm", "panic_count" }, { PM_DEVICE_EVENTS, "vmm", "device_events" },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		CHECK_STR_EQ(proc_metric_group(want[i].m), want[i].group);
		CHECK_STR_EQ(proc_metric_name(want[i].m), want[i].name);
	}
	CHECK_NULL(proc_metric_group(PM_COUNT));
}

TEST(signals_counted)
{
	uint64_t pipe0 = proc_metric_get(PM_SIGPIPE), hup0 = proc_metric_get(PM_SIGHUP),
		 sys0 = proc_metric_get(PM_SECCOMP_FAULTS), abrt0 = proc_metric_get(PM_PANICS);
	proc_metric_signal(SIGPIPE);
	proc_metric_signal(SIGPIPE);
	proc_metric_signal(SIGHUP);
	proc_metric_signal(SIGSYS);
	proc_metric_signal(SIGABRT);
	proc_metric_signal(SIGTERM);   /* not a metric: nothing */
	CHECK_EQ(proc_metric_get(PM_SIGPIPE) - pipe0, 2);
	CHECK_EQ(proc_metric_get(PM_SIGHUP) - hup0, 1);
	CHECK_EQ(proc_metric_get(PM_SECCOMP_FAULTS) - sys0, 1);
	CHECK_EQ(proc_metric_get(PM_PANICS) - abrt0, 1);
}

/* The line a fatal signal writes, read back from a pipe. */
static json_t *fatal_line(int signo, const char *id)
{
	int p[2];
	if (pipe(p) < 0)
		return NULL;
	proc_metrics_set_sink(p[1], id);
	proc_metrics_fatal(signo);
	proc_metrics_set_sink(-1, NULL);
	char buf[1024];
	ssize_t n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	close(p[1]);
	if (n <= 0 || buf[n - 1] != '\n')
		return NULL;
	buf[n] = 0;
	return json_loads(buf, 0, NULL);
}

TEST(fatal_line_is_json_with_the_groups)
{
	uint64_t bus0 = proc_metric_get(PM_SIGBUS);
	json_t *l = fatal_line(SIGBUS, "vm-1");
	REQUIRE(l);
	CHECK(json_is_integer(json_object_get(l, "utc_timestamp_ms")));
	CHECK_STR_EQ(json_string_value(json_object_get(l, "id")), "vm-1");
	json_t *sig = json_object_get(l, "signals");
	CHECK_EQ(json_integer_value(json_object_get(sig, "sigbus")), (json_int_t)bus0 + 1);
	CHECK(json_is_integer(json_object_get(sig, "sigsegv")));
	CHECK(json_is_integer(json_object_get(json_object_get(l, "seccomp"), "num_faults")));
	CHECK(json_is_integer(json_object_get(json_object_get(l, "vmm"), "panic_count")));
	json_decref(l);
	/* no id configured: none in the line; no sink: nothing written, still counted */
	l = fatal_line(SIGSYS, NULL);
	REQUIRE(l);
	CHECK_NULL(json_object_get(l, "id"));
	json_decref(l);
	uint64_t segv0 = proc_metric_get(PM_SIGSEGV);
	proc_metrics_fatal(SIGSEGV);
	CHECK_EQ(proc_metric_get(PM_SIGSEGV), segv0 + 1);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
