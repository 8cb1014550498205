/* CPU sets, the host's allowed CPUs and the process's placement. See affinity.h. */
#include "util/affinity.h"
#include "util/error.h"
#include "util/thread.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The process's placement: written once by affinity_set() before any thread it governs
 * exists (pthread_create orders that write before the threads' reads). */
static bool placed;
static struct cpu_affinity placement;
static cpu_set_t allowed;

static bool parse_cpu(const char **p, const char *end, unsigned *out)
{
	unsigned long v = 0;
	const char *s = *p;
	if (s == end || *s < '0' || *s > '9')
		return false;
	while (s < end && *s >= '0' && *s <= '9') {
		v = v * 10 + (unsigned long)(*s++ - '0');
		if (v > AFFINITY_MAX_CPU)
			return false;
	}
	*p = s;
	*out = (unsigned)v;
	return true;
}

int cpulist_parse(const char *s, size_t len, cpu_set_t *set, char *err, size_t errlen)
{
	const char *p = s, *end = s + len;
	CPU_ZERO(set);
	if (len == 0)
		return error_set(err, errlen, -EINVAL, "an empty list of host CPUs");
	while (p < end) {
		unsigned lo, hi;
		if (!parse_cpu(&p, end, &lo))
			return error_set(err, errlen, -EINVAL, "'%.*s': expected CPU numbers 0-%d and ranges such as 2-5",
				    (int)len, s, AFFINITY_MAX_CPU);
		hi = lo;
		if (p < end && *p == '-') {
			p++;
			if (!parse_cpu(&p, end, &hi) || hi < lo)
				return error_set(err, errlen, -EINVAL, "'%.*s': a range must be LOW-HIGH with LOW <= HIGH <= %d",
					    (int)len, s, AFFINITY_MAX_CPU);
		}
		for (unsigned c = lo; c <= hi; c++)
			CPU_SET(c, set);
		if (p < end && *p++ != ',')
			return error_set(err, errlen, -EINVAL, "'%.*s': CPUs are separated by ','", (int)len, s);
		if (p == end && p[-1] == ',')
			return error_set(err, errlen, -EINVAL, "'%.*s': a trailing ','", (int)len, s);
	}
	return 0;
}

void cpulist_format(const cpu_set_t *set, char *buf, size_t len)
{
	size_t n = 0;
	if (!len)
		return;
	buf[0] = '\0';
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, set))
			continue;
		int hi = c;
		while (hi + 1 < CPU_SETSIZE && CPU_ISSET(hi + 1, set))
			hi++;
		int w = hi == c ? snprintf(buf + n, len - n, "%s%d", n ? "," : "", c)
				: snprintf(buf + n, len - n, "%s%d-%d", n ? "," : "", c, hi);
		if (w < 0 || (size_t)w >= len - n)
			return;
		n += (size_t)w;
		c = hi;
	}
}

int affinity_host_allowed(cpu_set_t *out)
{
	if (placed) {   /* main may be pinned by now: what petrel had before */
		*out = allowed;
		return 0;
	}
	CPU_ZERO(out);
	return sched_getaffinity(0, sizeof(*out), out) < 0 ? -errno : 0;
}

/* One set: not empty, inside allowed. */
static int check_set(const cpu_set_t *s, const cpu_set_t *ok, const char *who, char *err, size_t errlen)
{
	if (CPU_COUNT(s) == 0)
		return error_set(err, errlen, -EINVAL, "cpu-affinity: %s: no host CPUs", who);
	cpu_set_t extra;
	CPU_XOR(&extra, s, ok);
	CPU_AND(&extra, &extra, s);
	if (CPU_COUNT(&extra) == 0)
		return 0;
	char bad[128], may[128];
	cpulist_format(&extra, bad, sizeof(bad));
	cpulist_format(ok, may, sizeof(may));
	return error_set(err, errlen, -EINVAL, "cpu-affinity: %s: host CPU%s %s %s not available to petrel (its "
		    "affinity mask and cgroup cpuset allow %s)", who, CPU_COUNT(&extra) > 1 ? "s" : "",
		    bad, CPU_COUNT(&extra) > 1 ? "are" : "is", may[0] ? may : "none");
}

int affinity_check(const struct cpu_affinity *a, const cpu_set_t *ok, unsigned nvcpus,
		   char *err, size_t errlen)
{
	char who[32];
	int r;
	for (unsigned i = 0; i < AFFINITY_MAX_VCPUS; i++) {
		if (!a->has_vcpu[i])
			continue;
		if (nvcpus && i >= nvcpus)
			return error_set(err, errlen, -EINVAL, "cpu-affinity: vCPU %u: the VM has %u vCPU%s (0-%u)", i,
				    nvcpus, nvcpus > 1 ? "s" : "", nvcpus - 1);
		snprintf(who, sizeof(who), "vCPU %u", i);
		if ((r = check_set(&a->vcpu[i], ok, who, err, errlen)) < 0)
			return r;
	}
	if (a->has_io && (r = check_set(&a->io, ok, "io", err, errlen)) < 0)
		return r;
	if (a->has_vmm && (r = check_set(&a->vmm, ok, "vmm", err, errlen)) < 0)
		return r;
	return 0;
}

int affinity_pin_self(const cpu_set_t *set)
{
	return sched_setaffinity(0, sizeof(*set), set) < 0 ? -errno : 0;
}

int affinity_set(const struct cpu_affinity *a, unsigned nvcpus, char *err, size_t errlen)
{
	if (!a)
		return 0;
	cpu_set_t ok;
	int r = affinity_host_allowed(&ok);
	if (r < 0)
		return error_set(err, errlen, r, "cpu-affinity: cannot read petrel's own CPU mask: %s",
				 strerror(-r));
	if ((r = affinity_check(a, &ok, nvcpus, err, errlen)) < 0)
		return r;
	if (a->has_vmm && (r = affinity_pin_self(&a->vmm)) < 0)
		return error_set(err, errlen, r, "cpu-affinity: vmm: cannot pin the main thread: %s",
				 strerror(-r));
	/* the spawner of every later thread sleeps where the other VMM threads run */
	if ((r = thread_spawner_pin(a->has_vmm ? &a->vmm : &ok)) < 0)
		return error_set(err, errlen, r, "cpu-affinity: cannot move the thread spawner: %s",
				 strerror(-r));
	allowed = ok;
	placement = *a;
	placed = true;
	return 0;
}

const cpu_set_t *affinity_for_vcpu(unsigned index)
{
	if (!placed)
		return NULL;
	return index < AFFINITY_MAX_VCPUS && placement.has_vcpu[index] ? &placement.vcpu[index] : &allowed;
}

bool affinity_names_vcpu(unsigned index)
{
	return placed && index < AFFINITY_MAX_VCPUS && placement.has_vcpu[index];
}

const cpu_set_t *affinity_for_kind(int kind)
{
	if (!placed)
		return NULL;
	switch (kind) {
	case SC_VCPU:
		return &allowed;   /* vm_start names each vCPU's own set (affinity_for_vcpu) */
	case SC_IO:
		return placement.has_io ? &placement.io : &allowed;
	default:
		return placement.has_vmm ? &placement.vmm : &allowed;
	}
}

void affinity_reset(void)
{
	placed = false;
	memset(&placement, 0, sizeof(placement));
	CPU_ZERO(&allowed);
}
