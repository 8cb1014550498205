/* What balloon.c and balloon_hint.c share (the device's own files only). */
#ifndef PETREL_DEVICES_VIRTIO_BALLOON_INT_H
#define PETREL_DEVICES_VIRTIO_BALLOON_INT_H

#include "devices/virtio/balloon.h"

#include <sys/uio.h>

/* Give the whole 4 KiB pages inside a buffer of guest RAM (a host pointer into it, as virtq_pop
 * hands them out) back to the host: *bytes dropped (0 when it holds no whole page). false when
 * dropping failed (counted in madvise_failures). */
bool balloon_release_iov(struct virtio_balloon *b, const struct iovec *v, uint64_t *bytes);

/* balloon_hint.c, device lock held. One chain of the hinting queue. */
void balloon_hint_chain(struct virtio_balloon *b, const struct virtq_chain *c);
/* The driver reset the device: no run, nothing from the driver. */
void balloon_hint_reset(struct virtio_balloon *b);

#endif
