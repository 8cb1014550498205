/* A PS/2 device's output queue (the keyboard's, the mouse's): bytes waiting for the i8042 to
 * take them into its output buffer. Guarded by the i8042's lock. */
#ifndef PETREL_DEVICES_LEGACY_PS2_QUEUE_H
#define PETREL_DEVICES_LEGACY_PS2_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PS2_QUEUE_LEN 64

struct ps2_queue {
	uint8_t data[PS2_QUEUE_LEN];
	uint8_t head, count;
};

static inline size_t ps2_room(const struct ps2_queue *q)
{
	return PS2_QUEUE_LEN - q->count;
}

/* Append n bytes, all or none: 0 or -1 when they do not fit. */
static inline int ps2_push(struct ps2_queue *q, const uint8_t *b, size_t n)
{
	if (n > ps2_room(q))
		return -1;
	for (size_t i = 0; i < n; i++)
		q->data[(q->head + q->count++) % PS2_QUEUE_LEN] = b[i];
	return 0;
}

static inline int ps2_push1(struct ps2_queue *q, uint8_t b)
{
	return ps2_push(q, &b, 1);
}

static inline uint8_t ps2_pop(struct ps2_queue *q)
{
	uint8_t b = q->data[q->head];
	q->head = (uint8_t)((q->head + 1) % PS2_QUEUE_LEN);
	q->count--;
	return b;
}

/* A saved queue's bounds: head inside, count at most full. */
static inline bool ps2_queue_valid(const struct ps2_queue *q)
{
	return q->head < PS2_QUEUE_LEN && q->count <= PS2_QUEUE_LEN;
}

#endif
