/* CPUID leaf 0xD after a CPU template (src/arch/x86/cpuid.c, cpuid_xsave_fixup): the sizes a
 * guest reads agree with the state components the template left. A Cascade Lake host's table
 * (x87, SSE, AVX, MPX, AVX-512, PKRU; XSAVES with Processor Trace in IA32_XSS) under T2, which
 * hides MPX, AVX-512, PKRU and XSAVEC/XSAVES: the largest XSAVE area for what XCR0 may enable
 * (subleaf 0's ECX) is the AVX one's end, 832 bytes, not the host's 2696; the hidden
 * components' subleaves read 0; no supervisor component is left without XSAVES. Linux sizes
 * its XSAVE buffer from those subleaves' offsets and sizes (arch/x86/kernel/fpu/xstate.c) and
 * checks it against what the CPU says: both are computed here the same way. */
#include "unit.h"
#include "arch/x86/cpuid.h"
#include "config/cpu_template.h"

#include <stdlib.h>
#include <string.h>

/* Subleaf i of 0xD: size, offset in the standard format, ECX (bit 0: supervisor). */
static const struct {
	uint32_t index, eax, ebx, ecx;
} host_d[] = {
	{ 2, 256, 576, 0 },     /* AVX */
	{ 3, 64, 960, 0 },      /* MPX BNDREGS */
	{ 4, 64, 1024, 0 },     /* MPX BNDCSR */
	{ 5, 64, 1088, 0 },     /* AVX-512 opmask */
	{ 6, 512, 1152, 0 },    /* AVX-512 ZMM_Hi256 */
	{ 7, 1024, 1664, 0 },   /* AVX-512 Hi16_ZMM */
	{ 8, 128, 0, 1 },       /* Processor Trace: supervisor, no standard offset */
	{ 9, 8, 2688, 0 },      /* PKRU */
};
#define NSUB (sizeof(host_d) / sizeof(host_d[0]))

static struct kvm_cpuid2 *host_table(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (NSUB + 3) * sizeof(c->entries[0]));
	struct kvm_cpuid_entry2 *e = c->entries;
	e[0] = (struct kvm_cpuid_entry2){ .function = 0x7, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
					  .ebx = 0xffffffff, .ecx = 0xffffffff, .edx = 0xffffffff };
	e[1] = (struct kvm_cpuid_entry2){ .function = 0xd, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
					  .eax = 0x2ff, .ebx = 576, .ecx = 2696 };
	e[2] = (struct kvm_cpuid_entry2){ .function = 0xd, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
					  .eax = 0xf, .ebx = 576, .ecx = 0x100 };
	for (size_t i = 0; i < NSUB; i++)
		e[3 + i] = (struct kvm_cpuid_entry2){ .function = 0xd, .index = host_d[i].index,
						      .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = host_d[i].eax,
						      .ebx = host_d[i].ebx, .ecx = host_d[i].ecx };
	c->nent = 3 + NSUB;
	return c;
}

/* What Linux computes for the standard format: the end of the last user component XCR0 may
 * enable (subleaf 0's EDX:EAX), at least the legacy area and the header. */
static uint32_t linux_size(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *d0 = cpuid_find(c, 0xd, 0);
	uint64_t xcr0 = ((uint64_t)d0->edx << 32) | d0->eax;
	uint32_t size = 576;
	for (uint32_t i = 2; i < 64; i++) {
		struct kvm_cpuid_entry2 *s = (xcr0 & (1ull << i)) ? cpuid_find(c, 0xd, i) : NULL;
		if (s && s->ebx + s->eax > size)
			size = s->ebx + s->eax;
	}
	return size;
}

static struct kvm_cpuid2 *under(const char *name)
{
	struct cpu_template t;
	struct kvm_cpuid2 *c = host_table();
	if (cpu_template_named(name, &t) < 0)
		abort();
	cpu_template_apply(&t, c->entries, c->nent);
	cpu_template_free(&t);
	cpuid_xsave_fixup(c);
	return c;
}

TEST(t2_leaves_avx_and_sizes_for_it)
{
	struct kvm_cpuid2 *c = under("T2");
	struct kvm_cpuid_entry2 *d0 = cpuid_find(c, 0xd, 0), *d1 = cpuid_find(c, 0xd, 1);
	CHECK_EQ(d0->eax, 0x7u);                  /* x87, SSE, AVX */
	CHECK_EQ(d0->ecx, 832u);                  /* was the host's 2696 */
	CHECK_EQ(d0->ecx, linux_size(c));
	CHECK_EQ(d1->eax & 0xeu, 0u);             /* XSAVEC, XGETBV1, XSAVES hidden */
	CHECK_EQ(d1->ecx, 0u);                    /* so no supervisor (IA32_XSS) component */
	CHECK_EQ(d1->edx, 0u);
	CHECK_EQ(cpuid_find(c, 0xd, 2)->eax, 256u);   /* AVX's subleaf kept */
	CHECK_EQ(cpuid_find(c, 0xd, 2)->ebx, 576u);
	for (uint32_t i = 3; i <= 9; i++) {
		struct kvm_cpuid_entry2 *s = cpuid_find(c, 0xd, i);
		CHECK(s->eax == 0 && s->ebx == 0 && s->ecx == 0 && s->edx == 0);
	}
	free(c);
}

TEST(t2cl_keeps_avx512_and_its_size)
{
	struct kvm_cpuid2 *c = under("T2CL");     /* hides MPX only among these */
	struct kvm_cpuid_entry2 *d0 = cpuid_find(c, 0xd, 0);
	CHECK_EQ(d0->eax, 0x2e7u);
	CHECK_EQ(d0->ecx, 2696u);                 /* PKRU still ends the area */
	CHECK_EQ(d0->ecx, linux_size(c));
	CHECK_EQ(cpuid_find(c, 0xd, 3)->eax, 0u); /* MPX's subleaves read 0 */
	CHECK_EQ(cpuid_find(c, 0xd, 7)->eax, 1024u);
	CHECK_EQ(cpuid_find(c, 0xd, 1)->ecx, 0x100u);   /* XSAVES kept: PT stays */
	CHECK_EQ(cpuid_find(c, 0xd, 8)->eax, 128u);
	free(c);
}

TEST(no_template_changes_nothing)
{
	struct kvm_cpuid2 *c = under("None"), *h = host_table();
	CHECK_EQ(memcmp(c, h, sizeof(*c) + c->nent * sizeof(c->entries[0])), 0);
	free(c);
	free(h);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
