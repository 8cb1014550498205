/* Host tap devices for virtio-net: /dev/net/tun with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR.
 *
 * Every frame read from or written to the tap starts with a 12-byte virtio-net header
 * (struct virtio_net_hdr_v1: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset,
 * num_buffers), the same layout a virtio 1.x driver puts in front of its frames, so frames
 * move between the tap and guest memory without rewriting. The kernel fills the first 10
 * bytes on reads (num_buffers is ours) and checks them on writes.
 */
#ifndef PETREL_NET_TAP_H
#define PETREL_NET_TAP_H

#include <stdbool.h>
#include <stdint.h>

#define TAP_VNET_HDR_LEN 12

/* Offloads the reader of a tap (the guest) accepts: TUNSETOFFLOAD bits. */
#define TAP_OFFLOAD_CSUM 0x01
#define TAP_OFFLOAD_TSO4 0x02
#define TAP_OFFLOAD_TSO6 0x04
#define TAP_OFFLOAD_TSO_ECN 0x08
#define TAP_OFFLOAD_UFO 0x10

struct tap {
	int fd;
	char ifname[16];
	int mtu; /* read when opened (SIOCGIFMTU needs a socket, which device threads may not make) */
};

/* Open (or create, if it does not exist and we may) the tap named `name`, with the vnet
 * header, non-blocking. Returns 0 or -errno; logs why. */
int tap_open(struct tap *t, const char *name);
void tap_close(struct tap *t);
/* TUNSETOFFLOAD: which offloaded frames the kernel may hand us (0: checksummed, unsegmented). */
int tap_set_offload(struct tap *t, unsigned offloads);
/* The interface's MTU as it was when the tap was opened, or -errno if it could not be read. */
int tap_get_mtu(const struct tap *t);

#endif
