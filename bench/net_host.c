/* Host-side frame generator for the virtio-net receive benchmark (bench/run.py net):
 * sends COUNT Ethernet frames of SIZE bytes to DST_MAC out of the tap IFNAME, as fast as the
 * kernel takes them (packet socket, sendmmsg in batches of 64).
 *
 *   net_host IFNAME DST_MAC SIZE COUNT      prints "sent=N ns=ELAPSED"
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define BATCH 64

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s IFNAME DST_MAC SIZE COUNT\n", argv[0]);
		return 2;
	}
	unsigned mac[6];
	if (sscanf(argv[2], "%x:%x:%x:%x:%x:%x", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) != 6) {
		fprintf(stderr, "bad MAC %s\n", argv[2]);
		return 2;
	}
	size_t size = strtoul(argv[3], NULL, 0);
	unsigned long count = strtoul(argv[4], NULL, 0);
	if (size < 60 || size > 65535) {
		fprintf(stderr, "size must be 60..65535\n");
		return 2;
	}
	int s = socket(AF_PACKET, SOCK_RAW, htons(0x88b5));
	if (s < 0) {
		perror("socket(AF_PACKET)");
		return 1;
	}
	struct sockaddr_ll sa = { .sll_family = AF_PACKET, .sll_protocol = htons(0x88b5),
				  .sll_ifindex = (int)if_nametoindex(argv[1]), .sll_halen = 6 };
	if (!sa.sll_ifindex || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror(argv[1]);
		return 1;
	}
	int sndbuf = 16 << 20;
	setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	uint8_t *frame = calloc(1, size), dst[6];
	for (int i = 0; i < 6; i++)
		dst[i] = (uint8_t)mac[i];
	bench_frame(frame, dst, size);
	struct iovec iov = { frame, size };
	struct mmsghdr msgs[BATCH];
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	unsigned long sent = 0;
	uint64_t t0 = now_ns();
	while (sent < count) {
		unsigned n = count - sent < BATCH ? (unsigned)(count - sent) : BATCH;
		int r = sendmmsg(s, msgs, n, 0);
		if (r < 0) {
			if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR)
				continue;
			perror("sendmmsg");
			return 1;
		}
		sent += (unsigned long)r;
	}
	printf("sent=%lu ns=%llu\n", sent, (unsigned long long)(now_ns() - t0));
	return 0;
}
