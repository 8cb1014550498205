/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The display guest's scroll=HZ mode (bench/display.py; docs/display.md#figures-the-scrolling-console):
 * a text console scrolling at a fixed pace on the mode display.c programmed. The screen is
 * filled with lines of text (8x16 cells, light grey on black); then, on each tick of the PIT at
 * HZ, the screen moves up by one text line (a copy of the whole frame, as fbcon scrolls a
 * framebuffer without panning) and a new line is drawn at the bottom, frames=N times (default
 * 10 s worth). Between ticks the vCPU halts, so the host's CPU is the drawing and the VMM's.
 *
 * Host handshake (bench_sync): "display: ready" once the first screen is drawn, waits for a
 * byte; then scrolls; "display: scrolled frames=N missed=M tsc=T tsc_hz=H" (M: ticks that came
 * while a step was still drawing), "display: done", waits for a byte, passes.
 */
#include "guest.h"
#include "virtio_net_common.h"   /* bench_sync */
#include "display_scroll.h"

#define CELL_W 8
#define CELL_H 16
#define TEXT_COLOUR 0x00c0c0c0u

static volatile uint32_t *sfb;
static uint32_t sw, sh;
static volatile uint32_t ticks;

static void tick(struct irq_frame *f) { ticks++; }

/* A made-up font: each printable character a fixed pattern of 6x10 dots in its cell, which
 * looks like text to an encoder (sparse, repeating glyphs on a plain background). */
static uint32_t glyph_row(char c, unsigned r)
{
	if (c <= ' ' || r < 3 || r > 12)
		return 0;
	uint32_t h = (uint32_t)(unsigned char)c * 2654435761u ^ r * 40503u;
	h ^= h >> 13;
	h *= 0x5bd1e995u;
	h ^= h >> 15;
	return h & 0x7e;
}

/* Text line number n at pixel row y0. */
static void text_line(uint32_t y0, uint32_t n)
{
	/* every line different at every place, as a console's output is: the sentence starts
	 * elsewhere on each line (a screen of identical lines would let a server that compares
	 * frames send next to nothing) */
	static const char words[] = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. ";
	char s[160];
	int len = snprintf(s, sizeof(s), "%06u %08x ", n, n * 2654435761u);
	for (uint32_t i = 0; len < (int)sizeof(s) - 1 && len < 110; i++)
		s[len++] = words[(n * 7 + i) % (sizeof(words) - 1)];
	s[len] = 0;
	for (uint32_t y = 0; y < CELL_H; y++) {
		volatile uint32_t *p = sfb + (y0 + y) * sw;
		for (uint32_t x = 0; x < sw; x++) {
			uint32_t ci = x / CELL_W;
			char c = ci < (uint32_t)len ? s[ci] : ' ';
			p[x] = (glyph_row(c, y) >> (7 - x % CELL_W)) & 1 ? TEXT_COLOUR : 0;
		}
	}
}

static long fill(long unused)
{
	for (uint32_t l = 0; l < sh / CELL_H; l++)
		text_line(l * CELL_H, l);
	return 0;
}

/* One step: everything up by a text line (64-bit words, front to back), a new last line. */
static long step(long n)
{
	uint32_t lines = sh / CELL_H;
	volatile uint64_t *d = (volatile uint64_t *)sfb;
	const volatile uint64_t *s = (const volatile uint64_t *)(sfb + CELL_H * sw);
	size_t words = (size_t)(lines - 1) * CELL_H * sw / 2;
	for (size_t i = 0; i < words; i++)
		d[i] = s[i];
	text_line((lines - 1) * CELL_H, (uint32_t)n);
	return 0;
}

static uint64_t sync_hz;

static long sync_ready(long unused)
{
	bench_sync("display", "ready", sync_hz);
	return 0;
}

static long sync_done(long unused)
{
	bench_sync("display", "done", sync_hz);
	return 0;
}

void display_scroll(volatile uint32_t *fb, uint32_t width, uint32_t height, long hz)
{
	sfb = fb;
	sw = width;
	sh = height;
	check(hz > 0 && hz <= 1000 && height >= 2 * CELL_H, "scroll=%ld on %ux%u", hz, width, height);
	long frames = cmdline_int("frames", hz * 10);
	sync_hz = tsc_hz_from_rtc();
	user_call(fill, 0, 0);
	pic_init();
	pic_set_handler(0, tick);
	pit_periodic((unsigned)hz);
	user_call(sync_ready, 0, USER_IF);
	uint32_t seen = ticks;
	long missed = 0;
	uint64_t t0 = rdtsc();
	for (long i = 0; i < frames; i++) {
		/* PVM ignores the STI shadow: a tick between the test and the hlt is found one tick
		 * late (counted as missed), never lost for good */
		while (ticks == seen)
			__asm__ __volatile__("sti; hlt; cli" ::: "memory");
		missed += (long)(ticks - seen - 1);
		seen = ticks;
		user_call(step, (long)(sh / CELL_H) + i, 0);
	}
	uint64_t t1 = rdtsc();
	pic_mask(0);
	printf("display: scrolled frames=%ld missed=%ld tsc=%lu tsc_hz=%lu\n", frames, missed,
	       (unsigned long)(t1 - t0), (unsigned long)sync_hz);
	user_call(sync_done, 0, USER_IF);
}
