/* petrel's VNC server (src/ui/vnc.c, libvncserver) over a display in memory, for the tests of
 * the server without a VM (tests/display/test_vnc_server.py): vnc_display SOCKET W H serves a
 * W x H XRGB screen; each line on standard input changes it ("fill Y0 Y1 RRGGBB": lines Y0..Y1-1
 * painted and reported changed; "rect X0 Y0 X1 Y1 RRGGBB": that rectangle painted and its whole
 * lines reported, as the dirty log reports the pages written; "text": the screen filled with
 * lines of made-up text, 8x16 cells, as bench/display.py's guest draws (bench/screenshot.py);
 * "mode W H": a new mode; "off": the guest shows nothing), and the
 * input the server passes on is printed on standard output ("key 0xXT 1|0", "abs X Y BUTTONS"),
 * one line each, flushed. "ready" is printed once it serves. Ends at the end of its input. */
#include "devices/display/display.h"
#include "ui/vnc.h"
#include "util/log.h"
#include "util/proc_metrics.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct display {
	pthread_mutex_t lock;
	struct display_mode mode;
	uint8_t *fb;
	uint64_t dirty[8192 / 64];
};

static struct display disp = { .lock = PTHREAD_MUTEX_INITIALIZER };

const uint8_t *display_frame(struct display *d, struct display_mode *mode)
{
	pthread_mutex_lock(&d->lock);
	*mode = d->mode;
	const uint8_t *fb = d->fb;
	pthread_mutex_unlock(&d->lock);
	return fb;
}

int display_changed(struct display *d, uint64_t *lines, uint32_t nbits)
{
	int n = 0;
	pthread_mutex_lock(&d->lock);
	for (uint32_t y = 0; y < nbits && y < d->mode.height; y++) {
		bool b = d->dirty[y / 64] >> (y % 64) & 1;
		lines[y / 64] = b ? lines[y / 64] | 1ull << (y % 64) : lines[y / 64] & ~(1ull << (y % 64));
		n += b;
	}
	memset(d->dirty, 0, sizeof(d->dirty));
	pthread_mutex_unlock(&d->lock);
	return n;
}

void display_key(struct display *d, uint16_t xt, bool down)
{
	(void)d;
	printf("key 0x%x %d\n", xt, down);
	fflush(stdout);
}

void display_pointer_abs(struct display *d, uint32_t x, uint32_t y, uint32_t buttons)
{
	(void)d;
	printf("abs %u %u %u\n", x, y, buttons);
	fflush(stdout);
}

void display_pointer_rel(struct display *d, int32_t dx, int32_t dy, uint32_t buttons)
{
	(void)d;
	printf("rel %d %d %u\n", dx, dy, buttons);
	fflush(stdout);
}

static void set_mode(uint32_t w, uint32_t h)
{
	pthread_mutex_lock(&disp.lock);
	/* the old buffer stays (leaked): the server may read it until its next display_frame */
	disp.fb = calloc((size_t)w * h, 4);
	disp.mode = (struct display_mode){ .enabled = true, .width = w, .height = h, .stride = w * 4, .bpp = 32,
					   .generation = disp.mode.generation + 1 };
	pthread_mutex_unlock(&disp.lock);
}

/* x0 <= x < x1, y0 <= y < y1 painted c; the lines reported changed, whole. */
static void paint(uint32_t x0, uint32_t y0, uint32_t x1, uint32_t y1, uint32_t c)
{
	pthread_mutex_lock(&disp.lock);
	for (uint32_t y = y0; y < y1 && y < disp.mode.height; y++) {
		for (uint32_t x = x0; x < x1 && x < disp.mode.width; x++)
			memcpy(disp.fb + (size_t)y * disp.mode.stride + x * 4, &c, 4);
		disp.dirty[y / 64] |= 1ull << (y % 64);
	}
	pthread_mutex_unlock(&disp.lock);
}

/* The screen filled with text-like lines: in each 8x16 cell of the first 110 columns a dot
 * pattern of the character's (rows 3-12), light grey on black; every line different. */
static void text(void)
{
	pthread_mutex_lock(&disp.lock);
	for (uint32_t y = 0; y < disp.mode.height; y++) {
		uint32_t *row = (uint32_t *)(disp.fb + (size_t)y * disp.mode.stride), r = y % 16, line = y / 16;
		for (uint32_t x = 0; x < disp.mode.width; x++) {
			uint32_t col = x / 8, h = (col * 31 + line * 7) % 41 * 2654435761u ^ r * 40503u;
			h ^= h >> 13;
			h *= 0x5bd1e995u;
			h ^= h >> 15;
			bool on = col < 110 && (col * 31 + line * 7) % 41 && r >= 3 && r <= 12 && (h >> (7 - x % 8) & 1) && x % 8;
			row[x] = on ? 0xc0c0c0 : 0;
		}
		disp.dirty[y / 64] |= 1ull << (y % 64);
	}
	pthread_mutex_unlock(&disp.lock);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: vnc_display SOCKET WIDTH HEIGHT\n");
		return 2;
	}
	log_set_level(LOG_WARN);
	/* As in the VMM: a viewer gone mid-update is an EPIPE the server handles, not the end of the
	 * process (vnc.c leaves SIGPIPE to this handler). */
	if (proc_metrics_install() < 0) {
		fprintf(stderr, "vnc_display: cannot install the signal handlers\n");
		return 1;
	}
	set_mode((uint32_t)atoi(argv[2]), (uint32_t)atoi(argv[3]));
	struct vnc *v;
	char err[256];
	if (vnc_start(&disp, argv[1], &v, err, sizeof(err)) < 0) {
		fprintf(stderr, "vnc_display: %s\n", err);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	char line[128];
	while (fgets(line, sizeof(line), stdin)) {
		unsigned a, b, c, e, f;
		if (sscanf(line, "fill %u %u %x", &a, &b, &c) == 3) {
			paint(0, a, UINT32_MAX, b, c);
		} else if (sscanf(line, "rect %u %u %u %u %x", &a, &b, &c, &e, &f) == 5) {
			paint(a, b, c, e, f);
		} else if (sscanf(line, "mode %u %u", &a, &b) == 2 && a && b && a <= 4096 && b <= 4096) {
			set_mode(a, b);
		} else if (!strncmp(line, "text", 4)) {
			text();
		} else if (!strncmp(line, "off", 3)) {
			pthread_mutex_lock(&disp.lock);
			disp.mode.enabled = false;
			disp.mode.generation++;
			pthread_mutex_unlock(&disp.lock);
		}
	}
	vnc_stop(v);
	return 0;
}
