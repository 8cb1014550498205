/* The CPU-template tests (test_cpu_template_*.c): a fake host CPUID table with every bit set,
 * looking a leaf up in it, and testing one bit. */
#ifndef PETREL_TESTS_UNIT_CPUID_FAKE_H
#define PETREL_TESTS_UNIT_CPUID_FAKE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/kvm.h>

#define BIT(n) (UINT32_C(1) << (n))
#define ONES 0xffffffffu

/* ---- a fake host CPUID table with every bit set ---- */

static const struct {
	uint32_t leaf, subleaf;
} host_leaves[] = {
	{ 0x1, 0 }, { 0x4, 0 }, { 0x4, 1 }, { 0x7, 0 }, { 0x7, 1 }, { 0xd, 0 }, { 0xd, 1 },
	{ 0x80000001, 0 }, { 0x80000008, 0 },
};
#define NHOST (sizeof(host_leaves) / sizeof(host_leaves[0]))

static inline void fake_host(struct kvm_cpuid_entry2 *e)
{
	memset(e, 0, sizeof(*e) * NHOST);
	for (size_t i = 0; i < NHOST; i++) {
		e[i].function = host_leaves[i].leaf;
		e[i].index = host_leaves[i].subleaf;
		e[i].eax = e[i].ebx = e[i].ecx = e[i].edx = ONES;
	}
}

static inline struct kvm_cpuid_entry2 *find(struct kvm_cpuid_entry2 *e, uint32_t leaf, uint32_t sub)
{
	for (size_t i = 0; i < NHOST; i++)
		if (e[i].function == leaf && e[i].index == sub)
			return &e[i];
	abort();
}

#define HAS(e, leaf, sub, reg, bit) ((find(e, leaf, sub)->reg & BIT(bit)) != 0)

#endif
