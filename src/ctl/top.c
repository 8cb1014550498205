/* petrelctl top: a live table of every running VM's CPU, memory and I/O, from petreld's
 * GET /stats, refreshed every --delay seconds (default 2) as top does; --iterations N stops
 * after N tables; with --json each sample is printed as petreld gives it. */
#include "ctl/ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static json_t *find(json_t *a, const char *name)
{
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
		if (!strcmp(json_string_value(json_object_get(v, "name")), name))
			return v;
	return NULL;
}

static double delta(json_t *now, json_t *before, const char *key)
{
	json_t *a = json_object_get(now, key), *b = json_object_get(before, key);
	if (!json_is_integer(a) || !json_is_integer(b) || json_integer_value(a) < json_integer_value(b) ||
	    json_integer_value(b) < 0)
		return -1;
	return (double)(json_integer_value(a) - json_integer_value(b));
}

static void table(json_t *now, json_t *before, double dt)
{
	if (isatty(1))
		printf("\033[H\033[2J");
	unsigned running = 0;
	size_t i;
	json_t *v;
	json_array_foreach(now, i, v)
		running += json_object_get(v, "cpu_ns") != NULL;
	printf("petrelctl top - %zu VMs, %u running, every %.1f s\n\n", json_array_size(now), running, dt);
	printf("%-24s %-9s %5s %7s %10s %11s %11s\n", "NAME", "STATE", "VCPUS", "CPU%", "MEM MiB", "READ KiB/s",
	       "WRITE KiB/s");
	json_array_foreach(now, i, v) {
		json_t *b = find(before, json_string_value(json_object_get(v, "name")));
		if (!json_object_get(v, "cpu_ns"))
			continue;
		double cpu = b ? delta(v, b, "cpu_ns") : -1, rd = b ? delta(v, b, "io_read_bytes") : -1,
		       wr = b ? delta(v, b, "io_write_bytes") : -1;
		long long mem = json_integer_value(json_object_get(v, "memory_bytes"));
		printf("%-24s %-9s %5lld ", json_string_value(json_object_get(v, "name")),
		       json_string_value(json_object_get(v, "state")),
		       (long long)json_integer_value(json_object_get(v, "vcpus")));
		if (cpu >= 0)
			printf("%7.1f ", cpu / 1e9 / dt * 100);
		else
			printf("%7s ", "-");
		printf("%10.1f ", mem >= 0 ? (double)mem / (1 << 20) : -1.0);
		if (rd >= 0 && wr >= 0)
			printf("%11.1f %11.1f\n", rd / 1024 / dt, wr / 1024 / dt);
		else
			printf("%11s %11s\n", "-", "-");
	}
	fflush(stdout);
}

int cmd_top(int argc, char **argv)
{
	double delay = 2;
	long iterations = -1;
	for (int i = 1; i < argc; i += 2) {
		char *end = NULL;
		if (i + 1 >= argc) {
			fprintf(stderr, "petrelctl: %s needs a value\n", argv[i]);
			return EXIT_USAGE;
		}
		if (!strcmp(argv[i], "--delay"))
			delay = strtod(argv[i + 1], &end);
		else if (!strcmp(argv[i], "--iterations"))
			iterations = strtol(argv[i + 1], &end, 10);
		else {
			fprintf(stderr, "petrelctl: top: unknown option %s\n", argv[i]);
			return EXIT_USAGE;
		}
		if (!end || *end || delay < 0.1 || delay > 3600 || (iterations != -1 && iterations < 1)) {
			fprintf(stderr, "petrelctl: top: bad value '%s' for %s\n", argv[i + 1], argv[i]);
			return EXIT_USAGE;
		}
	}
	json_t *before = NULL;
	double t_before = 0;
	int e = ctl_request("GET", "/stats", NULL, 10000, &before);
	if (e)
		return e;
	t_before = now_s();
	for (long n = 0; iterations < 0 || n < iterations; n++) {
		usleep((useconds_t)(delay * 1e6));
		json_t *now = NULL;
		if ((e = ctl_request("GET", "/stats", NULL, 10000, &now))) {
			json_decref(before);
			return e;
		}
		double t = now_s();
		if (ctl_json) {
			char *s = json_dumps(now, JSON_COMPACT);
			puts(s ? s : "[]");
			free(s);
			fflush(stdout);
		} else {
			table(now, before, t - t_before);
		}
		json_decref(before);
		before = now;
		t_before = t;
	}
	json_decref(before);
	return 0;
}
