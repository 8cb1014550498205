#include "vm/device_params.h"

#include <string.h>

const struct virtio_blk_params *vm_blk_params(const struct drive_config *d, struct virtio_blk_params *out)
{
	*out = (struct virtio_blk_params){
		.id = d->drive_id, .path = d->path_on_host, .format = (enum disk_format)d->format,
		.read_only = d->is_read_only, .direct = d->direct, .async = d->io_engine == DRIVE_IO_ASYNC,
		/* Firecracker: Unsafe (its default) does not offer flushes; Writeback does. */
		.flush = d->cache_type == DRIVE_CACHE_WRITEBACK,
		.no_lock = d->defer_lock, .poll_us = d->poll_us, .rate_limiter = d->rate_limiter,
	};
	return out;
}

const struct virtio_vsock_params *vm_vsock_params(const struct vsock_config *v,
						  struct virtio_vsock_params *out)
{
	*out = (struct virtio_vsock_params){ .guest_cid = v->guest_cid, .uds_path = v->uds_path };
	return out;
}

const struct virtio_pmem_params *vm_pmem_params(const struct pmem_config *c, struct virtio_pmem_params *out)
{
	*out = (struct virtio_pmem_params){ .id = c->id, .path = c->path_on_host, .read_only = c->read_only,
					    .rate_limiter = c->rate_limiter };
	return out;
}

const struct virtio_net_params *vm_net_params(const struct net_config *c, struct virtio_net_params *out)
{
	*out = (struct virtio_net_params){ .iface_id = c->iface_id, .host_dev_name = c->host_dev_name,
					   .has_mac = c->has_mac, .has_mtu = c->has_mtu, .mtu = c->mtu,
					   .rx_rate_limiter = c->rx_rate_limiter,
					   .tx_rate_limiter = c->tx_rate_limiter };
	memcpy(out->guest_mac, c->guest_mac, sizeof(out->guest_mac));
	return out;
}

const struct e1000_params *vm_e1000_params(const struct net_config *c, struct e1000_params *out)
{
	*out = (struct e1000_params){ .iface_id = c->iface_id, .host_dev_name = c->host_dev_name,
				      .has_mac = c->has_mac, .rx_rate_limiter = c->rx_rate_limiter,
				      .tx_rate_limiter = c->tx_rate_limiter };
	memcpy(out->guest_mac, c->guest_mac, sizeof(out->guest_mac));
	return out;
}

_Static_assert(VIRTIO_NET_ID_MAX >= DEVICES_ID_MAX, "a virtio-net device keeps every id the definition allows");
_Static_assert(E1000_ID_MAX >= DEVICES_ID_MAX, "an E1000 keeps every id the definition allows");
_Static_assert(VIRTIO_PMEM_ID_MAX >= DEVICES_ID_MAX, "a pmem device keeps every id the definition allows");

unsigned vm_console_params(const struct vm_config *cfg, int agent_fd, struct vcon_port_params out[VCON_MAX_PORTS - 1])
{
	int agent;
	unsigned n = vm_config_console_port_count(cfg, &agent);
	n = n < VCON_MAX_PORTS - 1 ? n : VCON_MAX_PORTS - 1;
	for (unsigned i = 0; i < n; i++) {
		const struct console_port_config *c = i < cfg->nconsole_ports ? &cfg->console_ports[i] : NULL;
		out[i] = (struct vcon_port_params){ .name = c ? c->name : GUEST_AGENT_PORT_NAME,
						    .fd = (int)i == agent ? agent_fd : -1,
						    .socket_path = c ? c->socket_path : NULL };
	}
	return n;
}
