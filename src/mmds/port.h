/* One network interface's MMDS, as a device holds it: the interface's stack (stack.h) and the
 * timerfd that wakes the device for the stack's TCP retransmissions, watched in the device's
 * own epoll set. virtio-net (src/devices/virtio/net/net_mmds.c) and the E1000
 * (src/devices/e1000/e1000_mmds.c) each put frames in and take replies out their own way;
 * this is what they share. Under the device's lock, as the stack. */
#ifndef PETREL_MMDS_PORT_H
#define PETREL_MMDS_PORT_H

#include "mmds/stack.h"

#include <stdint.h>

struct mmds_port {
	struct mmds_stack stack;
	int timerfd;
	int64_t armed_at;   /* the timer's deadline (ms, mmds_now_ms), -1: disarmed */
};

/* The stack for svc at ip (host order), its timer added to epfd (if >= 0). 0 or -errno
 * (nothing left behind). */
int mmds_port_init(struct mmds_port *p, struct mmds *svc, uint32_t ip, int epfd);
/* The timer out of epfd (if >= 0) and closed, the stack freed. */
void mmds_port_free(struct mmds_port *p, int epfd);
/* The timer fired: consume it (the next mmds_port_arm sets it again if needed). */
void mmds_port_timer_fired(struct mmds_port *p, const char *who);
/* Set the timer to the stack's next retransmission (only when that deadline changed: this
 * runs on every wake-up of the device). */
void mmds_port_arm(struct mmds_port *p, uint64_t now_ms);

#endif
