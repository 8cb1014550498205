/* After a migration the guest's MAC address is behind another host's tap: a RARP with that
 * address as the sender tells the switches (and bridges) where it went, as QEMU's
 * announce-self does for guests that cannot announce themselves. */
#include "net/announce.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int tap_announce(int tap_fd, const uint8_t mac[6])
{
	uint8_t f[TAP_VNET_HDR_LEN + 60] = { 0 }; /* vnet header (no offloads), minimum frame */
	uint8_t *e = f + TAP_VNET_HDR_LEN;
	memset(e, 0xff, 6);                      /* broadcast */
	memcpy(e + 6, mac, 6);
	e[12] = 0x80, e[13] = 0x35;              /* EtherType RARP */
	uint8_t *a = e + 14;
	a[0] = 0, a[1] = 1;                      /* hardware: Ethernet */
	a[2] = 0x08, a[3] = 0x00;                /* protocol: IPv4 */
	a[4] = 6, a[5] = 4;                      /* address lengths */
	a[6] = 0, a[7] = 3;                      /* reverse request */
	memcpy(a + 8, mac, 6);                   /* sender: the guest, no IP */
	memcpy(a + 18, mac, 6);                  /* target: the guest */
	ssize_t n = write(tap_fd, f, sizeof(f));
	return n == (ssize_t)sizeof(f) ? 0 : n < 0 ? -errno : -EIO;
}
