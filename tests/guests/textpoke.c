/* SPDX-License-Identifier: Apache-2.0 */
/*
 * textpoke: code rewritten under a running vCPU, as Linux patches its own text
 * (text_poke_bp(): an int3 over the first byte, later the instruction again). The AP
 * (textpoke_tramp.S) flips the first byte of a two-byte jmp between int3 and the jmp while the
 * BSP runs it in ring 0, its #BP handler stepping over the int3 as Linux's does. On a PVM host
 * the host cannot emulate a ring-0 int3 and petrel does it, reading the instruction after the
 * host gave up: by then the AP may have put the jmp back, which petrel must run again, not
 * take for an instruction it cannot run (the real-Linux suite lost a boot to that, 2026-11-28).
 * Command line: secs=N (default 2). Prints "textpoke rounds=N bp=M ap_flips=K".
 */
#include "guest.h"

DEFINE_GUEST("textpoke");

#define TEXTPOKE_ADDR 0x8000u
#define SHARED(type, off) (*(volatile type *)(uintptr_t)(TEXTPOKE_ADDR + (off)))
#define TP_COUNT SHARED(uint16_t, 0x100)
#define TP_STOP SHARED(uint8_t, 0x104)
#define TP_ITERS SHARED(uint32_t, 0x108)
#define TP_DONE SHARED(uint8_t, 0x10c)
#define TP_SITE (TEXTPOKE_ADDR + 0x200u)

extern char textpoke_tramp_start[], textpoke_tramp_end[];

static volatile uint64_t bp_hits, bp_wrong;

/* As Linux's poke_int3_handler(): the int3 stands for the jmp it covers, which goes on to the
 * next instruction. */
static void step_over(struct irq_frame *f)
{
	if (f->rip == TP_SITE + 1) {
		f->rip = TP_SITE + 2;
		bp_hits++;
	} else {
		bp_wrong++;
	}
}

void test_main(void)
{
	memcpy((void *)(uintptr_t)TEXTPOKE_ADDR, textpoke_tramp_start,
	       (size_t)(textpoke_tramp_end - textpoke_tramp_start));
	set_handler(3, step_over);
	lapic_start_aps(TEXTPOKE_ADDR);
	struct deadline dl;
	deadline_start(&dl, 20);
	while (TP_COUNT < 1) {
		pause();
		check(!deadline_expired(&dl), "the AP did not start");
	}
	void (*site)(uint64_t) = (void (*)(uint64_t))(uintptr_t)TP_SITE;
	uint32_t flips = TP_ITERS;
	uint64_t rounds = 0;
	deadline_start(&dl, (int)cmdline_int("secs", 2));
	while (!deadline_expired(&dl)) {
		site(256);
		rounds += 256;
	}
	flips = TP_ITERS - flips;
	TP_STOP = 1;
	deadline_start(&dl, 20);
	while (!TP_DONE) {
		pause();
		check(!deadline_expired(&dl), "the AP did not stop");
	}
	printf("textpoke rounds=%llu bp=%llu ap_flips=%u\n", (unsigned long long)rounds,
	       (unsigned long long)bp_hits, flips);
	check(!bp_wrong, "%llu int3s elsewhere than the patched site", (unsigned long long)bp_wrong);
	check(flips > 0, "the AP made no progress");
	check(bp_hits > 0, "the BSP never met the int3");
	pass();
}
