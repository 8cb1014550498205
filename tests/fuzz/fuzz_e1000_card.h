/* The E1000 card the fuzz targets build (fuzz_e1000.c, fuzz_device_state.c): a configured MAC,
 * a datagram socket pair standing in for the tap, no PCI bus (no INTx). */
#ifndef PETREL_FUZZ_E1000_CARD_H
#define PETREL_FUZZ_E1000_CARD_H

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devices/e1000/e1000.h"

/* 0, the host's end of the socket pair in *peer; or a negative errno. */
static inline int fuzz_e1000_make(struct e1000 *e, int *peer, const struct guest_mem *mem)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	struct e1000_params cfg = { .iface_id = "f", .host_dev_name = "f", .has_mac = true,
				    .guest_mac = { 2, 0, 0, 0, 0, 1 } };
	if (e1000_create_fd(e, &cfg, 0, sv[0], mem, NULL, NULL) < 0) {
		close(sv[1]);
		return -EIO;
	}
	*peer = sv[1];
	return 0;
}

#endif
