/* What console.c (the device, its control queues, its state) and console_port.c (a port's
 * byte stream to and from its back end) share. All with the device's lock held. */
#ifndef PETREL_DEVICES_VIRTIO_CONSOLE_INT_H
#define PETREL_DEVICES_VIRTIO_CONSOLE_INT_H

#include "devices/virtio/console.h"

/* Set up port n's back end (a listening socket, an fd handed over, or none) and its buffer.
 * Not on the I/O thread, no lock held (it adds fds to the I/O thread). */
int vcon_port_init(struct virtio_console *c, unsigned n, const struct vcon_port_params *p, char *err,
		   size_t errlen);
/* Close port n's back end, unlink its socket, free its buffer (the I/O thread stopped). */
void vcon_port_destroy(struct virtio_console *c, unsigned n);
bool vcon_port_host_connected(const struct vcon_port *p);
/* Serve port n's queues (receive while the guest has it open and bytes wait, transmit into
 * the back end until it is full) and watch its fd for what it waits for now. I/O thread. */
void vcon_port_serve(struct virtio_console *c, unsigned n);
/* The driver reset the device: its side of the port is gone (and the bytes it had not taken). */
void vcon_port_reset(struct vcon_port *p);
/* The host side changed (connected, gone): the control queue has news for the driver. */
void vcon_ctrl_serve(struct virtio_console *c);

#endif
