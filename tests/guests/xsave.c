/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xsave: a kernel's context switch of the extended register state, as Linux
 * does it with XSAVE enabled: ring 3 fills vector registers, ring 0 saves
 * them with xsave64 into an image, ring 3 overwrites them, ring 0 restores
 * the image with xrstor64, ring 3 finds its values again.  Under PVM the
 * host cannot run xsave/xrstor in guest ring 0 and petrel does
 * (src/arch/x86/emulate_xsave.c); ring 3 always runs natively there, with
 * the host's XCR0, so this is what keeps guest processes' AVX and AVX-512
 * registers apart.
 *
 * Checked: ymm upper halves (AVX) and, when the CPU has AVX-512, zmm16's
 * upper half and k1; XSTATE_BV in the image; an xrstor whose XSTATE_BV
 * lacks the AVX bit puts the ymm upper halves back to their init state (0);
 * xgetbv returns what xsetbv wrote; and the #PF an xsave to a write-protected
 * page and an xrstor from a missing page raise (error code, CR2), after which
 * the handler mends the page and the instruction runs again, as a kernel does
 * for a signal frame on a copy-on-write stack.
 * Prints "xsave xcr0=0x.. avx512=N" and "xsave pf=..." lines.
 */
#include "guest.h"

DEFINE_GUEST("xsave");

static uint8_t image[4096] __attribute__((aligned(64)));
static uint8_t pattern[64] __attribute__((aligned(64)));
static uint8_t got_ymm[32] __attribute__((aligned(64)));
static uint8_t got_zmm[64] __attribute__((aligned(64)));
static volatile uint64_t got_k1;
static int avx512;

static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;
	__asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

static long fill(long value)
{
	for (int i = 0; i < 64; i++)
		pattern[i] = (uint8_t)(value + i * 7);
	__asm__ __volatile__("vmovdqu %0, %%ymm3" ::"m"(*(uint8_t(*)[32])pattern));
	if (avx512) {
		__asm__ __volatile__("vmovdqu64 %0, %%zmm16" ::"m"(*(uint8_t(*)[64])pattern));
		__asm__ __volatile__("kmovq %0, %%k1" ::"r"((uint64_t)value * 0x0101010101010101ull));
	}
	return 0;
}

static long read_back(long unused)
{
	__asm__ __volatile__("vmovdqu %%ymm3, %0" : "=m"(*(uint8_t(*)[32])got_ymm));
	if (avx512) {
		uint64_t k;
		__asm__ __volatile__("vmovdqu64 %%zmm16, %0" : "=m"(*(uint8_t(*)[64])got_zmm));
		__asm__ __volatile__("kmovq %%k1, %0" : "=r"(k));
		got_k1 = k;
	}
	return 0;
}

static void xsave64(void *buf, uint64_t mask)
{
	__asm__ __volatile__("xsave64 (%0)" ::"r"(buf), "a"((uint32_t)mask), "d"((uint32_t)(mask >> 32))
			     : "memory");
}

static void xrstor64(const void *buf, uint64_t mask)
{
	__asm__ __volatile__("xrstor64 (%0)" ::"r"(buf), "a"((uint32_t)mask), "d"((uint32_t)(mask >> 32))
			     : "memory");
}

static void check_regs(long value, bool ymm_upper_init)
{
	user_call(read_back, 0, 0);
	for (int i = 0; i < 32; i++) {
		uint8_t want = (i >= 16 && ymm_upper_init) ? 0 : (uint8_t)(value + i * 7);
		check(got_ymm[i] == want, "ymm3 byte %d is %#x, expected %#x", i, got_ymm[i], want);
	}
	if (avx512) {
		for (int i = 0; i < 64; i++)
			check(got_zmm[i] == (uint8_t)(value + i * 7), "zmm16 byte %d is %#x, expected %#x", i,
			      got_zmm[i], (uint8_t)(value + i * 7));
		check(got_k1 == (uint64_t)value * 0x0101010101010101ull, "k1 is %lx", (unsigned long)got_k1);
	}
}

extern uint64_t pd[]; /* lib/head.S: 2 MiB identity pages */
#define PF_PAGE 8        /* pd index: 16 MiB */
#define PF_ADDR ((uintptr_t)PF_PAGE << 21)
static volatile uint64_t pf_cr2, pf_err, pf_count, pf_bits;

static void invlpg(uintptr_t a) { __asm__ __volatile__("invlpg (%0)" ::"r"(a) : "memory"); }

static void on_pf(struct irq_frame *f)
{
	pf_cr2 = read_cr2();
	pf_err = f->error_code;
	pf_count++;
	pd[PF_PAGE] |= pf_bits; /* mend the page; returning retries the instruction */
	invlpg(PF_ADDR);
}

static void fault_once(uint64_t clear_bits, bool restore, uint64_t want_err, uint64_t want_cr2)
{
	pf_count = 0;
	pf_bits = clear_bits;
	pd[PF_PAGE] &= ~clear_bits;
	invlpg(PF_ADDR);
	if (restore)
		xrstor64((void *)PF_ADDR, ~0ull);
	else
		xsave64((void *)PF_ADDR, ~0ull);
	printf("xsave pf=%s count=%lu err=%lx cr2=%lx\n", restore ? "xrstor" : "xsave",
	       (unsigned long)pf_count, (unsigned long)pf_err, (unsigned long)pf_cr2);
	check(pf_count == 1, "%lu page faults, expected 1", (unsigned long)pf_count);
	check(pf_err == want_err, "#PF error code %lx, expected %lx", (unsigned long)pf_err,
	      (unsigned long)want_err);
	check(pf_cr2 == want_cr2, "#PF CR2 %lx, expected %lx", (unsigned long)pf_cr2,
	      (unsigned long)want_cr2);
}

void test_main(void)
{
	uint32_t a, b, c, d;
	cpuid(1, 0, &a, &b, &c, &d);
	check(c & (1u << 26), "no XSAVE in CPUID.1:ECX (%#x)", c);
	check(c & (1u << 28), "no AVX in CPUID.1:ECX (%#x)", c);
	cpuid(0xd, 0, &a, &b, &c, &d);
	uint64_t supported = ((uint64_t)d << 32) | a;
	cpuid(7, 0, &a, &b, &c, &d);
	avx512 = (b & (1u << 16)) && (supported & 0xe0) == 0xe0;
	uint64_t xcr0 = supported & (avx512 ? 0xe7 : 0x7);

	write_cr4(read_cr4() | (1ul << 18)); /* CR4.OSXSAVE */
	__asm__ __volatile__("xsetbv" ::"a"((uint32_t)xcr0), "d"((uint32_t)(xcr0 >> 32)), "c"(0));
	check(xgetbv0() == xcr0, "xgetbv says XCR0=%lx after xsetbv %lx", (unsigned long)xgetbv0(),
	      (unsigned long)xcr0);
	printf("xsave xcr0=0x%lx avx512=%d\n", (unsigned long)xcr0, avx512);

	user_call(fill, 0x40, 0);
	xsave64(image, ~0ull);
	uint64_t bv;
	memcpy(&bv, image + 512, 8);
	check(bv & 4, "XSTATE_BV %lx lacks AVX after ring 3 used ymm3", (unsigned long)bv);
	cpuid(0xd, 2, &a, &b, &c, &d);
	for (int i = 0; i < 16; i++) /* ymm3's upper half in the AVX component */
		check(image[b + 3 * 16 + i] == (uint8_t)(0x40 + (16 + i) * 7), "image: ymm3 upper byte %d", i);

	user_call(fill, 0x11, 0);   /* another "process" takes the registers */
	check_regs(0x11, false);
	xrstor64(image, ~0ull);     /* and the first one is switched back in */
	check_regs(0x40, false);

	bv &= ~4ull;                /* AVX component in its init state: upper halves become 0 */
	memcpy(image + 512, &bv, 8);
	user_call(fill, 0x22, 0);
	xrstor64(image, ~0ull);
	check_regs(0x40, true);

	/* #PF from an emulated xsave (write-protected page, CR0.WP on) and xrstor (not present) */
	write_cr0(read_cr0() | (1ul << 16));
	set_handler(14, on_pf);
	fault_once(1ul << 1, false, 0x3, PF_ADDR);     /* present | write; first write at offset 0 */
	fault_once(1ul << 0, true, 0x0, PF_ADDR + 512); /* not present; the header is read first */
	check_regs(0x40, true);                          /* that xrstor loaded what xsave stored */
	pass();
}
