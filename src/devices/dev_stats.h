/* What a device counts for the metrics: beside its state ops (dev_state.h), one more op.
 *
 * A device with counters gives a const struct dev_stats_ops: the metrics group its kind adds
 * up into, whether each device also has a group of its own, the counters' names and a verb
 * that reads them. The metrics (api/ctl_metrics.c) walk the VM's list of devices
 * (vm/vm_device.h) as a snapshot walks their states, and never look inside a device: a new
 * device's counters appear in the metrics lines by its ops alone. */
#ifndef PETREL_DEVICES_DEV_STATS_H
#define PETREL_DEVICES_DEV_STATS_H

#include <stdbool.h>
#include <stdint.h>

#define DEV_STATS_MAX 16        /* the most counters a device has */

struct dev_stats_ops {
	const char *group;      /* the metrics group every device of the kind adds into ("block") */
	bool own_group;         /* each device also has one of its own: group_ID ("block_rootfs") */
	unsigned n;             /* how many counters (at most DEV_STATS_MAX) */
	const char *const *names; /* their names: Firecracker's where it has one */
	/* The counters now, in names' order. Reads them with stat_read (util/stat.h): no lock. */
	void (*read)(void *dev, uint64_t *v);
};

/* What every network interface counts (virtio-net, E1000), in this order: Firecracker's
 * NetDeviceMetrics names, then petrel's own. */
#define DEV_NET_COUNTER_NAMES                                                                   \
	"rx_bytes_count", "rx_packets_count", "rx_fails", "no_rx_avail_buffer", "tx_bytes_count", \
	"tx_packets_count", "tx_fails", "tx_malformed_frames", "rx_dropped_frames",               \
	"rx_bad_buffers", "tap_write_waits", "tap_write_submits"
#define DEV_NET_COUNTERS 12

#endif
