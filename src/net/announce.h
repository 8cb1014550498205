/* Announcing a guest's MAC address on a tap (after a migration or failover). */
#ifndef PETREL_NET_ANNOUNCE_H
#define PETREL_NET_ANNOUNCE_H

#include "net/tap.h"

#include <stdint.h>

/* Write one RARP frame from mac to the broadcast address. 0 or -errno. */
int tap_announce(int tap_fd, const uint8_t mac[6]);

#endif
