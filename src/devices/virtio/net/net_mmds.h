/* virtio-net's side of MMDS: on the interfaces "mmds-config" lists, frames the guest sends to
 * the metadata address (ARP for it, IPv4 to it) are taken out of the transmit path before the
 * tap and given to the interface's MMDS stack (src/mmds/stack.h); the stack's replies are put
 * into the receive queue (virtio_net_inject) right away, with no tap traffic needed. When the
 * driver has no receive buffers the next reply waits (one frame, the stack keeps the rest as
 * TCP state) until the driver adds some. A timerfd in the device's epoll set wakes the device
 * for TCP retransmissions. All under the device lock, on the I/O thread.
 *
 * Snapshots: the stack's connections are host state and are not saved (a restored guest's
 * open MMDS connections are reset); the data store is VMM data, not guest state, and is not
 * carried either (as in Firecracker); the MMDS configuration is part of the VM definition, so
 * a restored VM answers at the same address in the same version.
 */
#ifndef PETREL_DEVICES_VIRTIO_NET_MMDS_H
#define PETREL_DEVICES_VIRTIO_NET_MMDS_H

#include "devices/virtio/net/net.h"
#include "mmds/mmds.h"

/* Answer MMDS at ip (host order) on this interface from svc (a reference is taken). Before the
 * VM starts. 0 or -errno. */
int net_mmds_enable(struct virtio_net *n, struct mmds *svc, uint32_t ip);
void net_mmds_destroy(struct virtio_net *n);
/* Whether a transmit chain is for MMDS (it looks, takes nothing). */
bool net_mmds_wants(struct virtio_net *n, const struct virtq_chain *c);
/* A transmit chain net_mmds_wants took, to the MMDS stack (consumed: push it back unsent).
 * Not looked at again: a guest that rewrites its frame meanwhile gets what the stack makes of
 * it, as with any frame it sends. */
void net_mmds_tx(struct virtio_net *n, const struct virtq_chain *c);
/* Move the stack's frames into the receive queue; true if buffers were used. */
bool net_mmds_rx(struct virtio_net *n);
int net_mmds_timer_fd(const struct virtio_net *n);
void net_mmds_timer(struct virtio_net *n);

#endif
