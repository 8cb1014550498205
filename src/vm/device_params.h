/* A device's entry of the VM definition (config/, what the API and the CLI parse) turned into
 * the parameters the device takes (devices/ never sees config/). The returned pointer is out. */
#ifndef PETREL_VM_DEVICE_PARAMS_H
#define PETREL_VM_DEVICE_PARAMS_H

#include "config/devices_config.h"
#include "config/pmem_config.h"
#include "config/vm_config.h"
#include "devices/e1000/e1000.h"
#include "devices/virtio/blk/blk.h"
#include "devices/virtio/console.h"
#include "devices/virtio/net/net.h"
#include "devices/virtio/pmem.h"
#include "devices/virtio/vsock.h"

const struct virtio_blk_params *vm_blk_params(const struct drive_config *d, struct virtio_blk_params *out);
const struct virtio_vsock_params *vm_vsock_params(const struct vsock_config *v,
						  struct virtio_vsock_params *out);
const struct virtio_pmem_params *vm_pmem_params(const struct pmem_config *c, struct virtio_pmem_params *out);
const struct virtio_net_params *vm_net_params(const struct net_config *c, struct virtio_net_params *out);
const struct e1000_params *vm_e1000_params(const struct net_config *c, struct e1000_params *out);
/* The virtio-console's ports (port 1, 2, ... in out[0], out[1], ...): the definition's, then
 * the guest agent's if "guest-agent" adds it, whose fd is agent_fd (-1: none). How many. */
unsigned vm_console_params(const struct vm_config *cfg, int agent_fd, struct vcon_port_params out[VCON_MAX_PORTS - 1]);

#endif
