/* Shared by blk.c and blk_file.c (not for other users of virtio-blk). */
#ifndef PETREL_DEVICES_VIRTIO_BLK_INT_H
#define PETREL_DEVICES_VIRTIO_BLK_INT_H

#include <stdbool.h>
#include <stdint.h>

struct virtio_blk;

/* Reap the disk's completions (wait: until none is in flight) and put them in the used ring
 * with one store of its index; the count reaped. Called with the device's lock held. */
unsigned blk_reap(struct virtio_blk *b, bool wait);
/* The I/O thread's handler of the disk ring's fd: reaps and completes. */
void blk_completions(void *opaque, int fd, uint32_t events);

#endif
