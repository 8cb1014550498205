/* virtio-input (virtio 1.x section 5.8) as a tablet: an absolute pointer (ABS_X, ABS_Y over
 * 0..VIRTIO_INPUT_ABS_MAX), three buttons and a wheel, so the pointer in a VNC viewer or the
 * web page lines up with the guest's (docs/display.md). Events from the host (any thread)
 * wait in a bounded queue of the device's own (a flood beyond it is dropped and counted) and
 * go into the driver's event buffers on the I/O thread; the status queue (LEDs) is read and
 * ignored. */
#ifndef PETREL_DEVICES_VIRTIO_INPUT_H
#define PETREL_DEVICES_VIRTIO_INPUT_H

#include "devices/virtio/virtio.h"

#include <stdbool.h>
#include <stdint.h>

#define VIRTIO_ID_INPUT 18
#define VIRTIO_INPUT_QUEUE_SIZE 64
#define VIRTIO_INPUT_PENDING 128   /* events held for the driver */
#define VIRTIO_INPUT_ABS_MAX 32767
#define VIRTIO_INPUT_CONFIG_LEN 136

/* Linux's input event codes the tablet uses. */
#define EV_SYN 0x00
#define EV_KEY 0x01
#define EV_REL 0x02
#define EV_ABS 0x03
#define SYN_REPORT 0
#define REL_WHEEL 0x08
#define ABS_X 0x00
#define ABS_Y 0x01
#define BTN_LEFT 0x110
#define BTN_RIGHT 0x111
#define BTN_MIDDLE 0x112

struct virtio_input_event {
	uint16_t type, code;
	uint32_t value;
};

/* Guest-visible state beyond struct virtio_state: the configuration selection and the events
 * not taken yet. */
struct virtio_input_state {
	uint8_t select, subsel;
	uint8_t buttons;            /* held: bit 0 left, 1 right, 2 middle */
	uint16_t head, count;
	struct virtio_input_event pending[VIRTIO_INPUT_PENDING];
};

struct virtio_input {
	struct virtio_dev vdev;
	struct virtio_input_state st;   /* under vdev.lock */
	struct virtq_chain chain;
	bool waiting;                   /* out of the driver's buffers: its kick serves us */
	uint64_t events, dropped;       /* counters */
};

int virtio_input_create(struct virtio_input *v, const struct guest_mem *mem, struct io_thread *io);
/* The pointer at (x, y) in 0..VIRTIO_INPUT_ABS_MAX, buttons held (bit 0 left, 1 right, 2
 * middle), wheel notches (> 0: away from the user), from any thread. */
void virtio_input_tablet(struct virtio_input *v, uint32_t x, uint32_t y, uint8_t buttons, int32_t wheel);
/* Whether a driver runs the device (else the host's pointer goes elsewhere). */
bool virtio_input_ready(struct virtio_input *v);
/* The configuration space, for the fuzz target and tests (dev->lock held). */
void virtio_input_config_image(const struct virtio_input_state *st, uint8_t out[VIRTIO_INPUT_CONFIG_LEN]);

#endif
