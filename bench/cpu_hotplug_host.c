/* vCPU hot-plug, the register block's side (issue 14's vCPU benchmark), without KVM: what the
 * guest's ACPI scan costs petrel per GED event. CSCN walks every possible vCPU: a selector
 * write, a status read, and for a vCPU with an event a notify and a write-1-to-clear; an eject
 * is one selector write and one control write. Each access here is the device callback a vCPU
 * thread runs after its port-I/O exit, so the figure is petrel's share of the scan, not the
 * exit itself (bench/run.py exits measures that). Prints ns per register access and per full
 * scan of MAX vCPUs with one insert pending, medians of ROUNDS.
 * The real hot-add latency (request -> new vCPU ready to run: KVM_CREATE_VCPU, CPUID, LAPIC,
 * thread start) needs KVM: bench/vcpu_hotplug.py measures it on a KVM host.
 * Usage: cpu_hotplug_host [MAX [ROUNDS]]   (default 64 2001) */
#include "bench_util.h"
#include "devices/legacy/cpu_hotplug.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static unsigned ejects;
static void on_eject(void *opaque, unsigned cpu)
{
	(void)opaque;
	(void)cpu;
	ejects++;
}

/* CSCN as the AML does it: per vCPU select, read status, act on inserting/removing. */
static unsigned scan(struct cpu_hotplug *h, unsigned max)
{
	unsigned events = 0;
	for (unsigned i = 0; i < max; i++) {
		uint8_t sel[4] = { (uint8_t)i, 0, 0, 0 }, st = 0;
		cpu_hotplug_write(h, CPUHP_SEL_OFF, sel, 4);
		cpu_hotplug_read(h, CPUHP_STATUS_OFF, &st, 1);
		if (st & CPUHP_ST_INSERTING) {
			uint8_t clr = CPUHP_ST_INSERTING;
			cpu_hotplug_write(h, CPUHP_STATUS_OFF, &clr, 1);
			events++;
		}
		if (st & CPUHP_ST_REMOVING) {
			uint8_t clr = CPUHP_ST_REMOVING;
			cpu_hotplug_write(h, CPUHP_STATUS_OFF, &clr, 1);
			events++;
		}
	}
	return events;
}

int main(int argc, char **argv)
{
	unsigned max = argc > 1 ? (unsigned)atoi(argv[1]) : 64;
	unsigned rounds = argc > 2 ? (unsigned)atoi(argv[2]) : 2001;
	if (max < 2 || max > CPUHP_MAX_CPUS || rounds < 1) {
		fprintf(stderr, "usage: cpu_hotplug_host [MAX 2..%d [ROUNDS]]\n", CPUHP_MAX_CPUS);
		return 2;
	}
	struct cpu_hotplug h;
	cpu_hotplug_init(&h, max, 1, CPUHP_PORT, on_eject, NULL);
	double *scan_ns = calloc(rounds, sizeof(double)), *acc_ns = calloc(rounds, sizeof(double));
	double *cycle_ns = calloc(rounds, sizeof(double));
	if (!scan_ns || !acc_ns || !cycle_ns)
		return 1;
	unsigned events = 0;
	for (unsigned r = 0; r < rounds; r++) {
		/* one register access: the status read CSTA does for _STA */
		uint8_t st;
		double t0 = now_ns();
		for (int k = 0; k < 1000; k++)
			cpu_hotplug_read(&h, CPUHP_STATUS_OFF, &st, 1);
		acc_ns[r] = (now_ns() - t0) / 1000;
		/* a scan with one insert pending (a hot-add's GED event) */
		unsigned cpu = 1 + r % (max - 1);
		cpu_hotplug_insert(&h, cpu);
		t0 = now_ns();
		events += scan(&h, max);
		scan_ns[r] = now_ns() - t0;
		/* the whole cycle's register work: removal request, scan, _EJ0 */
		t0 = now_ns();
		cpu_hotplug_request_remove(&h, cpu);
		events += scan(&h, max);
		uint8_t sel[4] = { (uint8_t)cpu, 0, 0, 0 }, ej = CPUHP_CTL_EJECT;
		cpu_hotplug_write(&h, CPUHP_SEL_OFF, sel, 4);
		cpu_hotplug_write(&h, CPUHP_STATUS_OFF, &ej, 1);
		cycle_ns[r] = now_ns() - t0;
	}
	qsort(acc_ns, rounds, sizeof(double), cmp);
	qsort(scan_ns, rounds, sizeof(double), cmp);
	qsort(cycle_ns, rounds, sizeof(double), cmp);
	printf("register block, %u possible vCPUs, %u rounds (%u events, %u ejects)\n", max, rounds, events, ejects);
	printf("  one register access (status read)      median %8.1f ns\n", acc_ns[rounds / 2]);
	printf("  scan with one insert pending (CSCN)    median %8.1f ns   worst %8.1f ns\n", scan_ns[rounds / 2],
	       scan_ns[rounds - 1]);
	printf("  removal: request + scan + eject        median %8.1f ns   worst %8.1f ns\n", cycle_ns[rounds / 2],
	       cycle_ns[rounds - 1]);
	printf("  (each access is also one port-I/O exit in a guest: see bench/run.py exits)\n");
	free(scan_ns);
	free(acc_ns);
	free(cycle_ns);
	return events == 2 * rounds && ejects == rounds ? 0 : 1;
}
