/* CPU partitioning: cpulists, the cpu-affinity section and --cpu-affinity, checks against the
 * host's CPUs, and real threads pinned through thread_start and read back with
 * sched_getaffinity (no KVM needed). */
#include "config/cpu_affinity_config.h"
#include "config/vm_config.h"
#include "seccomp/seccomp.h"
#include "util/affinity.h"
#include "util/thread.h"
#include "unit.h"

#include <errno.h>
#include <jansson.h>
#include <sched.h>

static cpu_set_t set_of(const char *list)
{
	cpu_set_t s;
	char err[128];
	if (cpulist_parse(list, strlen(list), &s, err, sizeof(err)) < 0)
		CPU_ZERO(&s);
	return s;
}

TEST(cpulist_parses_and_formats)
{
	cpu_set_t s;
	char err[128], out[64];
	REQUIRE_EQ(cpulist_parse("0-3,6,8-9", 9, &s, err, sizeof(err)), 0);
	CHECK_EQ(CPU_COUNT(&s), 7);
	CHECK(CPU_ISSET(0, &s) && CPU_ISSET(3, &s) && CPU_ISSET(6, &s) && CPU_ISSET(9, &s));
	CHECK(!CPU_ISSET(4, &s) && !CPU_ISSET(7, &s));
	cpulist_format(&s, out, sizeof(out));
	CHECK_STR_EQ(out, "0-3,6,8-9");
	REQUIRE_EQ(cpulist_parse("1023", 4, &s, err, sizeof(err)), 0);
	cpulist_format(&s, out, sizeof(out));
	CHECK_STR_EQ(out, "1023");
	static const char *const bad[] = { "", "1024", "3-1", "1,", ",1", "a", "1-", "1--2", "1 2", "-1",
					   "99999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(cpulist_parse(bad[i], strlen(bad[i]), &s, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "99999");
}

TEST(cli_spec)
{
	struct cpu_affinity *a = calloc(1, sizeof(*a));
	char err[256];
	REQUIRE(a);
	REQUIRE_EQ(cpu_affinity_from_cli("[0@[0,2],1@[1],io@[3],vmm@[4-5]]", a, err, sizeof(err)), 0);
	CHECK(a->has_vcpu[0] && a->has_vcpu[1] && !a->has_vcpu[2] && a->has_io && a->has_vmm);
	CHECK_EQ(CPU_COUNT(&a->vcpu[0]), 2);
	CHECK(CPU_ISSET(0, &a->vcpu[0]) && CPU_ISSET(2, &a->vcpu[0]));
	CHECK(CPU_ISSET(1, &a->vcpu[1]));
	CHECK(CPU_ISSET(3, &a->io));
	CHECK(CPU_ISSET(4, &a->vmm) && CPU_ISSET(5, &a->vmm));
	/* a second option replaces what it names, keeps the rest; brackets optional for one CPU */
	REQUIRE_EQ(cpu_affinity_from_cli("1@7", a, err, sizeof(err)), 0);
	CHECK(CPU_ISSET(7, &a->vcpu[1]) && CPU_COUNT(&a->vcpu[1]) == 1);
	CHECK(a->has_vcpu[0] && a->has_io);
	static const char *const bad[] = { "", "[]", "0", "@[1]", "0@", "0@[]", "x@[1]", "64@[1]",
					   "0@[1", "0@[1]],", "0@[1],,1@[2]", "io@[1-0]", "0@[1024]",
					   "vmm@[a]", "-1@[1]" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cpu_affinity before = *a;
		CHECK_EQ(cpu_affinity_from_cli(bad[i], a, err, sizeof(err)), -EINVAL);
		CHECK_CONTAINS(err, "--cpu-affinity");
		CHECK(!memcmp(&before, a, sizeof(before)));   /* unchanged on error */
	}
	free(a);
}

static int from_json(const char *text, struct cpu_affinity *a, char *err, size_t errlen)
{
	json_t *o = json_loads(text, 0, NULL);
	if (!o)
		return -100;
	int r = cpu_affinity_from_json(o, "cpu-affinity", a, err, errlen);
	json_decref(o);
	return r;
}

TEST(json_section)
{
	struct cpu_affinity *a = calloc(1, sizeof(*a));
	char err[256];
	REQUIRE(a);
	REQUIRE_EQ(from_json("{\"vcpus\": [{\"vcpu\": 0, \"host_cpus\": [2, 3]}, {\"vcpu\": 3, \"host_cpus\": [1]}],"
			     " \"io_thread\": [4], \"vmm_threads\": [4, 5]}", a, err, sizeof(err)), 0);
	CHECK(a->has_vcpu[0] && a->has_vcpu[3] && !a->has_vcpu[1]);
	CHECK(CPU_ISSET(2, &a->vcpu[0]) && CPU_ISSET(3, &a->vcpu[0]) && CPU_COUNT(&a->vcpu[0]) == 2);
	CHECK(a->has_io && CPU_ISSET(4, &a->io) && a->has_vmm && CPU_COUNT(&a->vmm) == 2);
	/* back to JSON and in again: the same placement */
	json_t *o = cpu_affinity_to_json(a);
	REQUIRE(o);
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	struct cpu_affinity *b = calloc(1, sizeof(*b));
	REQUIRE(b);
	CHECK_EQ(from_json(text, b, err, sizeof(err)), 0);
	CHECK(!memcmp(a, b, sizeof(*a)));
	free(text);
	free(b);

	static const struct { const char *doc, *msg; } bad[] = {
		{ "[]", "cpu-affinity: expected an object" },
		{ "{\"cpus\": []}", "cpu-affinity.cpus: unknown field" },
		{ "{\"io_thread\": []}", "cpu-affinity.io_thread: an empty list" },
		{ "{\"io_thread\": [-1]}", "cpu-affinity.io_thread[0]" },
		{ "{\"vmm_threads\": [1024]}", "cpu-affinity.vmm_threads[0]" },
		{ "{\"vmm_threads\": \"0-3\"}", "cpu-affinity.vmm_threads: expected an array" },
		{ "{\"vcpus\": [{\"vcpu\": 0}]}", "cpu-affinity.vcpus[0].host_cpus: missing" },
		{ "{\"vcpus\": [{\"vcpu\": 64, \"host_cpus\": [0]}]}", "cpu-affinity.vcpus[0].vcpu" },
		{ "{\"vcpus\": [{\"vcpu\": 1, \"host_cpus\": [0]}, {\"vcpu\": 1, \"host_cpus\": [1]}]}",
		  "vCPU 1 is listed twice" },
		{ "{\"vcpus\": [{\"vcpu\": 1, \"host_cpus\": [0], \"x\": 1}]}", "cpu-affinity.vcpus[0].x: unknown" },
		{ "{\"vcpus\": {}}", "cpu-affinity.vcpus: expected an array" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		CHECK_EQ(from_json(bad[i].doc, a, err, sizeof(err)), -EINVAL);
		CHECK_CONTAINS(err, bad[i].msg);
	}
	free(a);
}

TEST(config_file_section)
{
	struct vm_config cfg;
	char err[256];
	vm_config_init(&cfg);
	REQUIRE_EQ(vm_config_parse_json("{\"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 64},"
					" \"cpu-affinity\": {\"vcpus\": [{\"vcpu\": 1, \"host_cpus\": [0]}]}}",
					&cfg, err, sizeof(err)), 0);
	REQUIRE(cfg.cpu_affinity);
	CHECK(cfg.cpu_affinity->has_vcpu[1] && !cfg.cpu_affinity->has_vcpu[0]);
	/* a bad section leaves the config as it was */
	CHECK_EQ(vm_config_parse_json("{\"cpu-affinity\": {\"io_thread\": []}}", &cfg, err, sizeof(err)), -EINVAL);
	CHECK(cfg.cpu_affinity && cfg.cpu_affinity->has_vcpu[1]);
	/* host placement is not the VM's definition: GET /vm/config and snapshots leave it out */
	json_t *doc = vm_config_to_json(&cfg);
	REQUIRE(doc);
	CHECK_NULL(json_object_get(doc, "cpu-affinity"));
	json_decref(doc);
	vm_config_free(&cfg);
	CHECK_NULL(cfg.cpu_affinity);
}

TEST(check_against_host)
{
	struct cpu_affinity *a = calloc(1, sizeof(*a));
	char err[256];
	REQUIRE(a);
	cpu_set_t ok = set_of("0-1");
	a->has_vcpu[0] = true;
	a->vcpu[0] = set_of("1");
	a->has_io = true;
	a->io = set_of("0");
	CHECK_EQ(affinity_check(a, &ok, 1, err, sizeof(err)), 0);
	a->has_vcpu[1] = true;
	a->vcpu[1] = set_of("0");
	CHECK_EQ(affinity_check(a, &ok, 1, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "vCPU 1: the VM has 1 vCPU");
	CHECK_EQ(affinity_check(a, &ok, 0, err, sizeof(err)), 0);   /* count not known yet */
	a->has_vmm = true;
	a->vmm = set_of("1-3,7");
	CHECK_EQ(affinity_check(a, &ok, 2, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "vmm: host CPUs 2-3,7 are not available to petrel");
	CHECK_CONTAINS(err, "allow 0-1");
	free(a);
}

static void *report_mask(void *arg)
{
	cpu_set_t *out = arg;
	CPU_ZERO(out);
	if (sched_getaffinity(0, sizeof(*out), out) < 0)
		CPU_ZERO(out);
	return NULL;
}

static cpu_set_t run_thread(int kind, const cpu_set_t *cpus, bool explicit_set)
{
	pthread_t t;
	cpu_set_t got;
	CPU_ZERO(&got);
	int r = explicit_set ? thread_start_on(&t, kind, "unit_pin", cpus, report_mask, &got)
			     : thread_start(&t, kind, "unit_pin", report_mask, &got);
	if (r == 0)
		pthread_join(t, NULL);
	return got;
}

TEST(real_threads_pinned)
{
	cpu_set_t host;
	char err[256];
	REQUIRE_EQ(affinity_host_allowed(&host), 0);
	REQUIRE(CPU_COUNT(&host) >= 1);
	int first = -1, last = -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &host)) {
			if (first < 0)
				first = c;
			last = c;
		}
	/* no placement: threads keep their creator's mask and nothing is pinned */
	affinity_reset();
	CHECK_NULL(affinity_for_kind(SC_IO));
	CHECK_NULL(affinity_for_vcpu(0));

	struct cpu_affinity *a = calloc(1, sizeof(*a));
	REQUIRE(a);
	a->has_vcpu[0] = true;
	CPU_SET(first, &a->vcpu[0]);
	a->has_vcpu[1] = true;
	CPU_SET(last, &a->vcpu[1]);
	a->has_io = true;
	CPU_SET(last, &a->io);
	REQUIRE_EQ(affinity_set(a, 2, err, sizeof(err)), 0);

	cpu_set_t got = run_thread(SC_VCPU, affinity_for_vcpu(0), true);
	CHECK(CPU_EQUAL(&got, &a->vcpu[0]));
	got = run_thread(SC_VCPU, affinity_for_vcpu(1), true);
	CHECK(CPU_EQUAL(&got, &a->vcpu[1]));
	got = run_thread(SC_IO, NULL, false);          /* its kind's set */
	CHECK(CPU_EQUAL(&got, &a->io));
	got = run_thread(SC_VMM, NULL, false);         /* no vmm set: every CPU petrel may use */
	CHECK(CPU_EQUAL(&got, &host));
	CHECK(affinity_names_vcpu(1) && !affinity_names_vcpu(2));

	/* vmm: main (here, the test's thread) moves too; new VMM threads follow */
	affinity_reset();
	a->has_vmm = true;
	CPU_ZERO(&a->vmm);
	CPU_SET(first, &a->vmm);
	REQUIRE_EQ(affinity_set(a, 0, err, sizeof(err)), 0);
	cpu_set_t self;
	REQUIRE_EQ(sched_getaffinity(0, sizeof(self), &self), 0);
	CHECK(CPU_EQUAL(&self, &a->vmm));
	got = run_thread(SC_API, NULL, false);
	CHECK(CPU_EQUAL(&got, &a->vmm));
	/* a vCPU the placement does not name is not stuck on main's CPUs */
	got = run_thread(SC_VCPU, affinity_for_vcpu(5), true);
	CHECK(CPU_EQUAL(&got, &host));
	/* the host's set stays what petrel had before it pinned main */
	cpu_set_t still;
	REQUIRE_EQ(affinity_host_allowed(&still), 0);
	CHECK(CPU_EQUAL(&still, &host));
	affinity_reset();
	REQUIRE_EQ(affinity_pin_self(&host), 0);

	/* a CPU petrel may not use is refused, naming it */
	struct cpu_affinity *bad = calloc(1, sizeof(*bad));
	REQUIRE(bad);
	bad->has_io = true;
	CPU_SET(AFFINITY_MAX_CPU, &bad->io);
	if (!CPU_ISSET(AFFINITY_MAX_CPU, &host)) {
		CHECK_EQ(affinity_set(bad, 0, err, sizeof(err)), -EINVAL);
		CHECK_CONTAINS(err, "io: host CPU 1023 is not available to petrel");
		CHECK_NULL(affinity_for_kind(SC_IO));   /* nothing applied */
	}
	/* a thread asked to run where the kernel will not put it does not start */
	pthread_t t;
	cpu_set_t out;
	if (!CPU_ISSET(AFFINITY_MAX_CPU, &host))
		CHECK(thread_start_on(&t, SC_IO, "unit_bad", &bad->io, report_mask, &out) < 0);
	free(bad);
	free(a);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
