/* libFuzzer target: virtio-net's receive, transmit and control paths over rings the fuzzer
 * writes. A datagram socket pair stands in for the tap. Input: byte 0 = flags (bit 0
 * MRG_RXBUF, bit 1 indirect descriptors, bit 2 event index, bit 3 the control queue with
 * GUEST_ANNOUNCE, an announcement requested; bits 4-7 its avail index), byte 1 = queue size
 * exponent, bytes 2-3 = avail index of the rx and tx queues, then up to 4 frame lengths (2 bytes
 * each) the "tap" delivers, then guest RAM from address 0 (rx rings at 0/0x1000/0x2000, tx
 * rings at 0x3000/0x4000/0x5000, control rings at 0x6000/0x7000/0x8000, buffers anywhere).
 * Nothing may crash or write outside RAM, every
 * transmitted frame is at least a vnet header long, and no more frames or bytes reach the
 * guest than the tap delivered. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vm/device_params.h"
#include "devices/virtio/net/net.h"
#include "../fake_driver.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

#define RAM (1u << 16)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 12)
		return 0;
	struct guest_mem *mem = fuzz_guest_mem(RAM);
	uint8_t *ram = mem->regions[0].hva;
	memset(ram, 0, RAM);
	memcpy(ram, data + 12, size - 12 < RAM ? size - 12 : RAM);

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	static struct virtio_net n;
	struct net_config cfg = { .iface_id = "f", .host_dev_name = "f" };
	if (virtio_net_create_fd(&n, vm_net_params(&cfg, &(struct virtio_net_params){ 0 }), 0, sv[0], mem, NULL) < 0) {
		close(sv[1]);
		return 0;
	}
	struct virtio_dev *d = &n.vdev;
	uint64_t f = VIRTIO_BIT(VIRTIO_F_VERSION_1);
	if (data[0] & 1)
		f |= VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
	if (data[0] & 2)
		f |= VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	if (data[0] & 4)
		f |= VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	bool ctrl = data[0] & 8;
	if (ctrl)
		f |= VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_ANNOUNCE);
	uint16_t qs = (uint16_t)(1u << (data[1] % 9));
	fake_driver_start(d, f, ctrl ? VIRTIO_NET_NQUEUES : 2, 0, qs);
	/* the avail indices say how many chains there are */
	memcpy(ram + 0x1000 + 2, &data[2], 1);
	memcpy(ram + 0x4000 + 2, &data[3], 1);
	ram[0x7000 + 2] = data[0] >> 4;
	if (ctrl)
		virtio_net_request_announce(&n);

	static uint8_t frame[70000];
	uint32_t total = 0;
	for (int i = 0; i < 4; i++) {
		uint16_t len;
		memcpy(&len, data + 4 + 2 * i, 2);
		memset(frame, 0, 12);
		memset(frame + 12, 0x5a, len);
		if (send(sv[1], frame, 12u + len, 0) > 0)
			total += 12u + len;
	}
	pthread_mutex_lock(&d->lock);
	if (virtio_is_running(d)) {
		d->ops->queue_notify(d, 0);
		d->ops->queue_notify(d, 1);
		if (ctrl)
			d->ops->queue_notify(d, VIRTIO_NET_CTRLQ);
	}
	pthread_mutex_unlock(&d->lock);
	virtio_net_poll(&n);
	pthread_mutex_lock(&d->lock);
	if (virtio_is_running(d))
		d->ops->queue_notify(d, 0);
	pthread_mutex_unlock(&d->lock);
	virtio_net_poll(&n);

	/* what reached the "tap" */
	ssize_t r;
	while ((r = recv(sv[1], frame, sizeof(frame), MSG_DONTWAIT)) >= 0)
		FUZZ_CHECK(r >= 12);
	/* the guest got no more frames or bytes than the tap delivered */
	FUZZ_CHECK(n.stats.rx_frames + n.stats.rx_dropped <= 4);
	FUZZ_CHECK(n.stats.rx_bytes + 12 * n.stats.rx_frames <= total);
	virtio_dev_destroy(d);
	close(sv[1]);
	return 0;
}
