/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fwevil's chipset part (see fwevil.c): PAM toggled by the AP (fwevil_tramp.S) while both vCPUs
 * execute in the BIOS area; the PIIX4 PM base (PMBA) moved to absurd places and PMREGMISC
 * toggled, COM1 printing on; every configuration dword of the chipset functions written with
 * all ones and zeros and restored; port 0x92 and APM; writes into the firmware ROM.
 */
#include "fwevil.h"

#define FW_TRAMP_ADDR 0x8000u
#define FW_T_STARTED 0x100 /* u16 */
#define FW_T_BAD 0x102     /* u16 */
#define FW_T_ITERS 0x104   /* u32 */
#define FW_T_FAR 0x108     /* u16 offset, u16 segment */
#define FW_T_ROUNDS 0x10c  /* u16 */
#define FW_T_DONE 0x10e    /* u8 */
#define FW_T_STOP 0x10f    /* u8 */
#define FW_T_ORIG 0x110    /* u8[7] */
#define T(type, off) (*(volatile type *)(uintptr_t)(FW_TRAMP_ADDR + (off)))

#define PAM0 0x59
#define PAM_COUNT 7
#define BIOS_LOW 0xe0000u          /* the firmware's last 128 KiB, copied here */
#define BIOS_HIGH 0xfffe0000u      /* ... from here (the ROM's top, read-only) */
#define ROM_BASE 0xfffc0000ull

#define PM_DEV 1
#define PM_FN 3
#define PMBA 0x40
#define PMREGMISC 0x80
#define PM_BASE 0x600

extern char fwevil_tramp_start[], fwevil_tramp_end[];

/* ---- PAM while both vCPUs execute in 0xF0000-0xFFFFF ---- */

/* An address in 0xF0000-0xFFFFF holding `op` both in the RAM copy and in the ROM it was copied
 * from: executing it does the same whatever a PAM register makes the area read from (petrel
 * keeps it RAM; a machine mapping the ROM there would run the same byte). */
static uint32_t find_op(uint8_t op)
{
	for (uint32_t a = 0xf0000; a < 0xffff0; a++)
		if (*(volatile uint8_t *)(uintptr_t)a == op &&
		    *(volatile uint8_t *)(uintptr_t)(BIOS_HIGH + (a - BIOS_LOW)) == op)
			return a;
	return 0;
}

static uint32_t ret_at, retf_at;

static long find_stubs(long unused)
{
	ret_at = find_op(0xc3);  /* ret (the BSP, long mode) */
	retf_at = find_op(0xcb); /* retf (the AP, real mode) */
	/* "copy" the stubs there: the same bytes, which PAM may send to RAM or nowhere */
	if (ret_at)
		*(volatile uint8_t *)(uintptr_t)ret_at = 0xc3;
	if (retf_at)
		*(volatile uint8_t *)(uintptr_t)retf_at = 0xcb;
	return 0;
}

struct bsp_run {
	uint32_t total;          /* the AP's PAM writes in all */
	uint64_t calls, overlap;
};

/* Ring 3: call the ret in the BIOS area until the AP is done, counting the batches of calls
 * that ran while the AP was in the middle of its PAM loop. */
static long bsp_loop(long arg)
{
	struct bsp_run *r = (struct bsp_run *)arg;
	void (*stub)(void) = (void (*)(void))(uintptr_t)ret_at;
	struct deadline d;
	deadline_start(&d, 10);
	while (T(uint16_t, FW_T_STARTED) == 0 && !deadline_expired(&d))
		for (int i = 0; i < 1000; i++)
			pause();
	check(T(uint16_t, FW_T_STARTED) == 1, "the AP did not start");
	deadline_start(&d, (int)cmdline_int("pam_timeout", 60));
	while (!T(uint8_t, FW_T_DONE)) {
		uint32_t before = T(uint32_t, FW_T_ITERS);
		for (int i = 0; i < 1000; i++) {
			stub();
			check(*(volatile uint8_t *)(uintptr_t)ret_at == 0xc3, "the ret at 0x%x changed", ret_at);
		}
		r->calls += 1000;
		uint32_t after = T(uint32_t, FW_T_ITERS);
		if (before > 0 && after < r->total && !T(uint8_t, FW_T_DONE))
			r->overlap++;
		if (deadline_expired(&d)) {
			T(uint8_t, FW_T_STOP) = 1;
			fail("the AP's PAM loop did not end: %u writes done", T(uint32_t, FW_T_ITERS));
		}
	}
	return 0;
}

static long pam_read_all(long out)
{
	for (unsigned i = 0; i < PAM_COUNT; i++)
		((uint8_t *)out)[i] = cfg_read8(0, 0, PAM0 + i);
	return 0;
}

void pam_tests(void)
{
	uint8_t orig[PAM_COUNT], now[PAM_COUNT];
	user_call(pam_read_all, (long)orig, 0);
	user_call(find_stubs, 0, 0);
	check(ret_at && retf_at, "no ret/retf byte in 0xF0000-0xFFFFF equal in RAM and ROM (ret 0x%x retf 0x%x)", ret_at,
	      retf_at);
	long rounds = cmdline_int("pam_rounds", 1);
	memcpy((void *)(uintptr_t)FW_TRAMP_ADDR, fwevil_tramp_start, (size_t)(fwevil_tramp_end - fwevil_tramp_start));
	T(uint16_t, FW_T_FAR) = (uint16_t)(retf_at - 0xf0000);
	T(uint16_t, FW_T_FAR + 2) = 0xf000;
	T(uint16_t, FW_T_ROUNDS) = (uint16_t)rounds;
	for (unsigned i = 0; i < PAM_COUNT; i++)
		T(uint8_t, FW_T_ORIG + i) = orig[i];

	lapic_start_aps(FW_TRAMP_ADDR);

	struct bsp_run r = { (uint32_t)(rounds * PAM_COUNT * 256), 0, 0 };
	user_call(bsp_loop, (long)&r, 0);
	uint32_t iters = T(uint32_t, FW_T_ITERS);
	check(iters == (uint32_t)(rounds * PAM_COUNT * 256), "the AP wrote PAM %u times, not %ld", iters,
	      rounds * PAM_COUNT * 256);
	check(T(uint16_t, FW_T_BAD) == 0, "%u PAM values read back wrong", T(uint16_t, FW_T_BAD));
	check(r.overlap > 0, "the BSP never ran in the BIOS area while the AP changed PAM (%llu calls)",
	      (unsigned long long)r.calls);
	user_call(pam_read_all, (long)now, 0);
	check(!memcmp(orig, now, PAM_COUNT), "PAM registers not restored: PAM0 0x%x (was 0x%x)", now[0], orig[0]);
	fwevil_case("PAM0-6 x 256 values x %ld by the AP (far calls to F000:%x) while the BSP called 0x%x %llu times "
		    "(%llu batches overlapping)", rounds, retf_at - 0xf0000, ret_at, (unsigned long long)r.calls,
		    (unsigned long long)r.overlap);
}

/* ---- the PIIX4 PM block ---- */

/* The PM timer (24 bits) at base + 8 counts; false at once when a read has high bits set (no
 * device there reads all ones). */
static bool timer_ticks(uint16_t base)
{
	uint32_t first = inl((uint16_t)(base + 8));
	if (first >> 24)
		return false;
	for (int i = 0; i < 200; i++) {
		uint32_t v = inl((uint16_t)(base + 8));
		if (v >> 24)
			return false;
		if (v != first)
			return true;
	}
	return false;
}

static void com1_alive(const char *after)
{
	for (uint8_t v = 0x5a; v; v = v == 0x5a ? 0xa5 : 0) {
		outb(COM1 + UART_SCR, v);
		check(inb(COM1 + UART_SCR) == v, "COM1's scratch register after %s", after);
	}
	printf("fwevil: COM1 alive after %s\n", after);
	check(inb(COM1 + UART_LSR) & LSR_THRE, "COM1's transmitter stuck after %s", after);
}

static void pmba_set(uint32_t v) { cfg_write32(PM_DEV, PM_FN, PMBA, v); }
static void pmregmisc_set(uint8_t v) { cfg_write8(PM_DEV, PM_FN, PMREGMISC, v); }

long pm_tests(long unused)
{
	uint32_t pmba = cfg_read32(PM_DEV, PM_FN, PMBA);
	uint8_t misc = cfg_read8(PM_DEV, PM_FN, PMREGMISC);
	check(pmba == (PM_BASE | 1) && (misc & 1), "PMBA 0x%x, PMREGMISC 0x%x after SeaBIOS", pmba, misc);
	check(timer_ticks(PM_BASE), "no PM timer at 0x%x", PM_BASE + 8);
	uint8_t pvpanic = inb(0x505);

	static const struct {
		uint32_t v;
		bool refused; /* the place holds another device's ports */
		const char *what;
	} moves[] = {
		{ 0xc001, true, "into the PCI I/O window" },
		{ 0xfffd, true, "to the top of the I/O space" },
		{ 0xffffffff, true, "all ones" },
		{ 0x0501, true, "over pvpanic (0x505)" },
		{ 0x03f9, false, "next to COM1 (64-byte aligned: 0x3c0)" },
		{ 0x0001, false, "to port 0" },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(moves); i++) {
		pmba_set(moves[i].v);
		uint32_t got = cfg_read32(PM_DEV, PM_FN, PMBA);
		uint16_t base = (uint16_t)(moves[i].v & 0xffc0);
		check(got == (base | 1u), "PMBA 0x%x read back 0x%x", moves[i].v, got);
		bool there = timer_ticks(base);
		check(!timer_ticks(PM_BASE), "the PM block still decodes at 0x%x after PMBA 0x%x", PM_BASE, moves[i].v);
		if (moves[i].refused)
			check(!there, "the PM block took ports 0x%x-0x%x %s", base, base + 11, moves[i].what);
		check(inb(0x505) == pvpanic, "pvpanic's port reads differently after PMBA 0x%x", moves[i].v);
		check(fwcfg_signature_ok(), "fw_cfg broken after PMBA 0x%x", moves[i].v);
		com1_alive(moves[i].what);
		fwevil_case("PMBA 0x%x (%s): %s", moves[i].v, moves[i].what, there ? "decodes there" : "refused, not decoding");
	}

	/* PMREGMISC off and on, at the right place and at a refused one */
	pmba_set(PM_BASE | 1);
	unsigned toggles = (unsigned)cmdline_int("pm_toggles", 64);
	for (unsigned i = 0; i < toggles; i++) {
		pmregmisc_set(0);
		check(!timer_ticks(PM_BASE), "the PM block decodes with PMREGMISC 0");
		pmregmisc_set(1);
		check(timer_ticks(PM_BASE), "the PM block does not decode with PMREGMISC 1 (toggle %u)", i);
	}
	pmregmisc_set(0);
	pmba_set(0xc001);
	pmregmisc_set(0xff);
	check(!timer_ticks(0xc000) && !timer_ticks(PM_BASE), "enabling the PM block in the PCI window");
	pmba_set(PM_BASE | 1);
	check(timer_ticks(PM_BASE), "the PM block did not come back at 0x%x", PM_BASE);
	check(cfg_read8(PM_DEV, PM_FN, PMREGMISC) == 1, "PMREGMISC reads 0x%x after 0xff", cfg_read8(PM_DEV, PM_FN, PMREGMISC));
	check(inw(PM_BASE + 4) & 1, "PM1_CNT lost SCI_EN");
	com1_alive("PMREGMISC toggles");
	fwevil_case("PMREGMISC toggled %u times, enabled in the PCI window, PMBA back at 0x%x", toggles, PM_BASE);
	return 0;
}

/* ---- every configuration dword of the chipset's functions ---- */

static long chipset_cfg(long unused)
{
	static const struct {
		unsigned dev, fn;
	} fns[] = { { 0, 0 }, { 1, 0 }, { 1, 3 } };
	unsigned changed = 0;
	for (unsigned f = 0; f < ARRAY_SIZE(fns); f++) {
		uint32_t id = cfg_read32(fns[f].dev, fns[f].fn, 0);
		for (unsigned off = 4; off < 256; off += 4) {
			uint32_t save = cfg_read32(fns[f].dev, fns[f].fn, off);
			cfg_write32(fns[f].dev, fns[f].fn, off, 0xffffffffu);
			cfg_write32(fns[f].dev, fns[f].fn, off, 0);
			cfg_write32(fns[f].dev, fns[f].fn, off, save);
			changed += cfg_read32(fns[f].dev, fns[f].fn, off) != save;
		}
		check(cfg_read32(fns[f].dev, fns[f].fn, 0) == id, "00:%02x.%u's IDs changed", fns[f].dev, fns[f].fn);
	}
	check(cfg_read32(PM_DEV, PM_FN, PMBA) == (PM_BASE | 1) && timer_ticks(PM_BASE), "the PM block is not back");
	check(fwcfg_signature_ok(), "fw_cfg broken after the chipset's registers");
	com1_alive("all ones and zeros in the chipset's registers");
	fwevil_case("every config dword of 00:00.0, 00:01.0, 00:01.3: all ones, zeros, restored (%u read back otherwise)",
		    changed);
	return 0;
}

/* ---- port 0x92, APM, the ROM ---- */

long misc_tests(long unused)
{
	chipset_cfg(0);

	check(inb(0x92) & 2, "port 0x92 does not read A20 set");
	outb(0x92, 0x02); /* A20 on, no reset (bit 0 would reset) */
	check(inb(0x92) & 2, "port 0x92 lost A20");
	check(inw(0x92) & 2, "port 0x92 (16-bit) lost A20");
	outb(0xb3, 0x5a);
	check(inb(0xb3) == 0x5a, "APM status 0xb3 does not read back");
	fwevil_case("port 0x92 reads A20, APM status reads back");

	/* writes into the ROM: dropped */
	uint8_t save[32];
	static const uint64_t at[] = { ROM_BASE, 0xfffffff0ull, BIOS_HIGH };
	for (unsigned k = 0; k < ARRAY_SIZE(at); k++) {
		volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)at[k];
		unsigned n = at[k] == 0xfffffff0ull ? 16 : 32;
		for (unsigned i = 0; i < n; i++)
			save[i] = p[i];
		for (unsigned i = 0; i < n; i++)
			p[i] = (uint8_t)~save[i];
		*(volatile uint32_t *)p = 0xdeadbeef;
		for (unsigned i = 0; i < n; i++)
			check(p[i] == save[i], "ROM byte at 0x%llx changed", (unsigned long long)at[k] + i);
	}
	fwevil_case("writes into the firmware ROM (its start, its reset vector, the BIOS area's source): dropped");
	com1_alive("the ROM writes");
	return 0;
}
