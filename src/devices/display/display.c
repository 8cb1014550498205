/* display.h over petrel's devices: the frame and its changes from the screen device
 * (bochs.c), keys to the PS/2 keyboard, the pointer to the tablet when the VM has one (and its
 * driver listens), else to the PS/2 mouse as relative motion. */
#include "devices/display/display_dev.h"
#include "devices/display/bochs.h"
#include "devices/legacy/i8042.h"
#include "devices/virtio/input.h"

#include <pthread.h>
#include <stdlib.h>

struct display {
	struct bochs *fb;
	struct i8042 *kbd;
	struct virtio_input *tablet;
	pthread_mutex_t lock;         /* the last absolute position (turned into motion for PS/2) */
	bool have_pos;
	uint32_t x, y;
};

struct display *display_new(struct bochs *fb, struct i8042 *kbd, struct virtio_input *tablet)
{
	struct display *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->fb = fb;
	d->kbd = kbd;
	d->tablet = tablet;
	pthread_mutex_init(&d->lock, NULL);
	return d;
}

void display_free(struct display *d)
{
	if (!d)
		return;
	pthread_mutex_destroy(&d->lock);
	free(d);
}

const uint8_t *display_frame(struct display *d, struct display_mode *mode)
{
	return bochs_frame(d->fb, mode);
}

int display_changed(struct display *d, uint64_t *lines, uint32_t nbits)
{
	return bochs_changed(d->fb, lines, nbits);
}

void display_key(struct display *d, uint16_t qcode_or_xt, bool down)
{
	i8042_key(d->kbd, qcode_or_xt, down);
}

/* RFB's buttons (left, middle, right) in a PS/2 packet's order (left, right, middle). */
static uint8_t ps2_buttons(uint32_t b)
{
	return (uint8_t)((b & DISPLAY_BUTTON_LEFT ? 1 : 0) | (b & DISPLAY_BUTTON_RIGHT ? 2 : 0) |
			 (b & DISPLAY_BUTTON_MIDDLE ? 4 : 0));
}

/* A wheel "button" held in an event is a notch: up is away from the user. */
static int32_t wheel(uint32_t b)
{
	return (b & DISPLAY_WHEEL_DOWN ? 1 : 0) - (b & DISPLAY_WHEEL_UP ? 1 : 0);
}

void display_pointer_rel(struct display *d, int32_t dx, int32_t dy, uint32_t buttons)
{
	i8042_mouse(d->kbd, dx, dy, wheel(buttons), ps2_buttons(buttons));
}

/* x in 0..w-1 to 0..VIRTIO_INPUT_ABS_MAX. */
static uint32_t scale(uint32_t v, uint32_t w)
{
	if (w < 2)
		return 0;
	if (v >= w)
		v = w - 1;
	return (uint32_t)((uint64_t)v * VIRTIO_INPUT_ABS_MAX / (w - 1));
}

void display_pointer_abs(struct display *d, uint32_t x, uint32_t y, uint32_t buttons)
{
	if (d->tablet && virtio_input_ready(d->tablet)) {
		struct display_mode m;
		display_frame(d, &m);
		if (m.enabled) {
			virtio_input_tablet(d->tablet, scale(x, m.width), scale(y, m.height), ps2_buttons(buttons),
					    -wheel(buttons));
			return;
		}
	}
	/* no tablet, or no driver for it yet (a firmware, a boot loader): PS/2 motion */
	pthread_mutex_lock(&d->lock);
	int32_t dx = d->have_pos ? (int32_t)x - (int32_t)d->x : 0, dy = d->have_pos ? (int32_t)y - (int32_t)d->y : 0;
	d->x = x;
	d->y = y;
	d->have_pos = true;
	pthread_mutex_unlock(&d->lock);
	display_pointer_rel(d, dx, dy, buttons);
}
