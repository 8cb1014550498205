/* Unit tests for virtio-net's control queue (src/devices/virtio/net/net_ctrl.c): after a migration
 * petrel asks the guest to announce itself (status VIRTIO_NET_S_ANNOUNCE + a configuration
 * interrupt) and the guest acknowledges on the control queue; hostile commands get
 * VIRTIO_NET_ERR or nothing, and the device keeps serving. A socket pair stands in for the tap. */
#include "unit.h"
#include "fake_ring.h"

#include "vm/device_params.h"
#include "devices/virtio/net/net.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#define CMD 0x20000   /* command buffers from here */

static struct virtio_net n;
static int peer;
static unsigned config_irqs;

static void count_irq(void *opaque, int vector)
{
	(void)opaque;
	if (vector < 0)
		config_irqs++;
}

static const struct virtio_transport_ops tr = { .interrupt = count_irq };

static int setup(uint64_t features)
{
	mem_setup();
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) < 0)
		return -errno;
	struct net_config cfg = { .iface_id = "eth0", .host_dev_name = "sp", .has_mac = true,
				  .guest_mac = { 2, 0, 0, 0, 0, 9 } };
	int err = virtio_net_create_fd(&n, vm_net_params(&cfg, &(struct virtio_net_params){ 0 }), 0, sv[0], &mem, NULL);
	if (err < 0)
		return err;
	peer = sv[1];
	virtio_dev_set_transport(&n.vdev, &tr, NULL);
	config_irqs = 0;
	start(&n.vdev, VIRTIO_BIT(VIRTIO_F_VERSION_1) | features, VIRTIO_NET_NQUEUES);
	return 0;
}

static void teardown(void)
{
	virtio_dev_destroy(&n.vdev);
	close(peer);
}

static uint16_t status(void)
{
	uint8_t s[2];
	virtio_config_access(&n.vdev, 6, s, 2, false);
	return (uint16_t)(s[0] | s[1] << 8);
}

/* Send {class, cmd} (+ pad readable bytes) and a writable ack byte (when ack_len > 0) as
 * descriptor chain `i`; returns the ack byte the device wrote (0xee: untouched). */
static uint8_t command(unsigned i, uint8_t class, uint8_t cmd, uint32_t hdr_len, uint32_t ack_len)
{
	uint64_t at = CMD + 0x100ull * i;
	ram[at] = class;
	ram[at + 1] = cmd;
	ram[at + 0x80] = 0xee;
	unsigned d = 2 * (i % (QS / 2)); /* each command is answered before the next: reuse */
	if (ack_len) {
		set_desc(VIRTIO_NET_CTRLQ, d, at, hdr_len, VIRTQ_DESC_F_NEXT, (uint16_t)(d + 1));
		set_desc(VIRTIO_NET_CTRLQ, d + 1, at + 0x80, ack_len, VIRTQ_DESC_F_WRITE, 0);
	} else {
		set_desc(VIRTIO_NET_CTRLQ, d, at, hdr_len, 0, 0);
	}
	publish(VIRTIO_NET_CTRLQ, (uint16_t)d);
	notify(&n.vdev, VIRTIO_NET_CTRLQ);
	return ram[at + 0x80 + (ack_len ? ack_len - 1 : 0)];
}

TEST(net_announce_requested_and_acknowledged)
{
	REQUIRE_EQ(setup(VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_ANNOUNCE)), 0);
	CHECK_EQ(status(), VIRTIO_NET_S_LINK_UP);
	CHECK(virtio_net_request_announce(&n));
	CHECK_EQ(status(), VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE);
	CHECK_EQ(config_irqs, 1u);
	CHECK_EQ(command(0, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, 2, 1), VIRTIO_NET_OK);
	CHECK_EQ(status(), VIRTIO_NET_S_LINK_UP);
	CHECK_EQ(used_idx(VIRTIO_NET_CTRLQ), 1);
	CHECK_EQ(used_elem(VIRTIO_NET_CTRLQ, 0).len, 1u);
	CHECK_EQ(n.stats.announce_acks, 1u);
	teardown();
}

TEST(net_announce_not_asked_of_a_driver_without_it)
{
	REQUIRE_EQ(setup(VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ)), 0);
	CHECK(!virtio_net_request_announce(&n));
	CHECK_EQ(status(), VIRTIO_NET_S_LINK_UP);
	CHECK_EQ(config_irqs, 0u);
	/* and its acknowledgement is refused: the feature was not negotiated */
	CHECK_EQ(command(0, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, 2, 1), VIRTIO_NET_ERR);
	teardown();
}

TEST(net_ctrl_hostile_commands)
{
	REQUIRE_EQ(setup(VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_ANNOUNCE)), 0);
	CHECK(virtio_net_request_announce(&n));
	/* classes petrel does not offer: RX mode, MAC, VLAN, MQ, guest offloads */
	for (uint8_t class = 0; class <= 5; class++)
		if (class != VIRTIO_NET_CTRL_ANNOUNCE)
			CHECK_EQ(command(class, class, 0, 4, 1), VIRTIO_NET_ERR);
	CHECK_EQ(command(6, VIRTIO_NET_CTRL_ANNOUNCE, 7, 2, 1), VIRTIO_NET_ERR);  /* unknown command */
	CHECK_EQ(command(7, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, 1, 1), VIRTIO_NET_ERR); /* short */
	CHECK_EQ(status() & VIRTIO_NET_S_ANNOUNCE, VIRTIO_NET_S_ANNOUNCE);  /* none of them acknowledged */
	/* no writable byte: returned with nothing written */
	CHECK_EQ(command(8, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, 2, 0), 0xee);
	CHECK_EQ(used_idx(VIRTIO_NET_CTRLQ), 8);         /* 5 classes + 3 commands so far */
	CHECK_EQ(used_elem(VIRTIO_NET_CTRLQ, 7).len, 0u);
	/* a long ack buffer: the last byte is the ack */
	CHECK_EQ(command(9, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, 2, 8), VIRTIO_NET_OK);
	CHECK_EQ(status(), VIRTIO_NET_S_LINK_UP);
	CHECK_EQ(used_idx(VIRTIO_NET_CTRLQ), 9);
	CHECK(virtio_is_running(&n.vdev));
	teardown();
}

TEST(net_reset_forgets_a_pending_announcement)
{
	REQUIRE_EQ(setup(VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_ANNOUNCE)), 0);
	CHECK(virtio_net_request_announce(&n));
	virtio_set_status(&n.vdev, 0);
	CHECK_EQ(status(), VIRTIO_NET_S_LINK_UP);
	teardown();
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
