/* virtio-console with MULTIPORT: see console.h. (First step: the interface; the queues follow.) */
#include "devices/virtio/console.h"
#include "devices/dev_stats.h"
#include "util/error.h"
#include "util/stat.h"

#include <stdio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct virtio_dev_ops vcon_ops = { 0 };

int virtio_console_create(struct virtio_console *c, const struct vcon_port_params *ports, unsigned nports,
			  struct guest_mem *mem, struct io_thread *io, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	if (nports + 1 > VCON_MAX_PORTS)
		return error_set(err, errlen, -EINVAL, "virtio-console: %u ports, at most %d", nports, VCON_MAX_PORTS - 1);
	c->nports = nports + 1;
	for (unsigned i = 0; i < VCON_MAX_PORTS; i++)
		c->ports[i].fd = c->ports[i].listen_fd = -1;
	for (unsigned i = 0; i < nports; i++)
		snprintf(c->ports[i + 1].st.name, sizeof(c->ports[i + 1].st.name), "%s", ports[i].name);
	int r = virtio_dev_init(&c->vdev, "virtio-console", VIRTIO_ID_CONSOLE, VIRTIO_BIT(VIRTIO_CONSOLE_F_MULTIPORT),
				4 + 2 * nports, VCON_QUEUE_SIZE, VCON_CONFIG_LEN, &vcon_ops, mem, io);
	if (r < 0)
		return error_set(err, errlen, r, "virtio-console: %s", strerror(-r));
	return 0;
}

bool virtio_console_port_guest_open(struct virtio_console *c, const char *name)
{
	for (unsigned i = 1; i < c->nports; i++)
		if (!strcmp(c->ports[i].st.name, name))
			return __atomic_load_n(&c->ports[i].st.guest_open, __ATOMIC_ACQUIRE);
	return false;
}

static const char *const counter_names[] = { "ctrl_in", "ctrl_out", "ctrl_bad", "connects" };

static void read_counters(void *dev, uint64_t *v)
{
	const struct virtio_console *c = dev;
	v[0] = stat_read(&c->stats.ctrl_in);
	v[1] = stat_read(&c->stats.ctrl_out);
	v[2] = stat_read(&c->stats.ctrl_bad);
	v[3] = stat_read(&c->stats.connects);
}

const struct dev_stats_ops virtio_console_stats_ops = {
	.group = "console", .n = 4, .names = counter_names, .read = read_counters,
};
