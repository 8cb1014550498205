/* The E1000 on a real tap (root with /dev/net/tun only, no KVM): a TSO packet reaches the host
 * kernel as ONE frame that the kernel itself takes as a GSO packet (gso_type TCPV4, the MSS as
 * gso_size), as a packet socket on the tap with PACKET_VNET_HDR reports it; the card counts
 * no transmit error (the kernel accepted the vnet header). test_e1000_dma.c checks the frame's
 * bytes over a socket pair. */
#include "unit.h"
#include "fake_e1000.h"

#include "devices/e1000/e1000_regs.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <sys/ioctl.h>

/* The card on a new tap `name`, up, and a packet socket on it in *sock (-1 if the card could
 * not be made). */
static void open_tap(char *name, size_t cap, int *sock)
{
	*sock = -1;
	snprintf(name, cap, "pe1kgso%d", (int)(getpid() % 100000));
	REQUIRE_EQ(fe_setup(true), 0);   /* guest memory; the socket-pair card is not used */
	fe_teardown();
	struct e1000_params cfg = { .iface_id = "eth0", .host_dev_name = name, .has_mac = true };
	memcpy(cfg.guest_mac, fe_mac, 6);
	REQUIRE_EQ(e1000_create(&fe, &cfg, 0, &fe_mem, NULL, NULL), 0);
	fe.pci.st.cfg[4] |= 0x4;   /* bus mastering */
	char path[96];
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	FILE *f = fopen(path, "w");   /* no router solicitations among our frames */
	if (f) {
		fputs("1", f);
		fclose(f);
	}
	/* a packet socket that sees what the tap hands the host, with the vnet header */
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	REQUIRE(s >= 0);
	int one = 1;
	REQUIRE_EQ(setsockopt(s, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)), 0);
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	REQUIRE_EQ(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	REQUIRE_EQ(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = (int)if_nametoindex(name) };
	REQUIRE_EQ(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);
	*sock = s;
}

TEST(e1000_tso_reaches_a_tap_as_one_gso_packet)
{
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
		printf("  (not root or no /dev/net/tun: nothing to check)\n");
		return;
	}
	char name[16];
	int s;
	open_tap(name, sizeof(name), &s);
	REQUIRE(s >= 0);
	CHECK(fe.gso);
	fe_tx_ring();
	/* a TCP packet as Linux's e1000_tso leaves it: 30000 bytes of payload, MSS 1448 */
	uint32_t payload = 30000, mss = 1448, hdr = 54, len = hdr + payload;
	uint8_t *p = fe_ram + TX_BUF;
	memset(p, 0, hdr);
	memcpy(p, "\x02\x00\x00\x00\x00\x09", 6);
	memcpy(p + 6, fe_mac, 6);
	put_be(p + 12, 0x0800);
	uint8_t *ip = p + 14, *tcp = p + 34;
	ip[0] = 0x45;
	put_be(ip + 4, 0x4242);
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
	put_be(tcp, 5555);
	put_be(tcp + 2, 80);
	tcp[12] = 0x50;
	tcp[13] = 0x18;
	uint32_t ps = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6;
	put_be(tcp + 16, ps);
	fill(p + hdr, payload, 9);
	fe_txd_ctx(0, 14, 24, 33, 34, 50, 0, payload, E1000_TUCMD_IP | E1000_TUCMD_TCP | E1000_TUCMD_TSE,
		   (uint8_t)hdr, (uint16_t)mss);
	fe_txd_data(1, TX_BUF, len, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS,
		    E1000_TXD_POPTS_TXSM | E1000_TXD_POPTS_IXSM);
	fe_w(E1000_TDT, 2);
	CHECK(txd(1)[12] & E1000_TXD_STAT_DD);
	CHECK_EQ(fe.stats.tx_errors, 0);
	CHECK_EQ(fe.stats.tx_frames, 1);                       /* one write */
	CHECK_EQ(fe.stats.tx_segments, (payload + mss - 1) / mss);
	/* the host's view: one packet of the whole length, a GSO one */
	uint8_t *b = frame;
	bool seen = false;
	for (int tries = 0; tries < 50 && !seen; tries++) {
		struct pollfd pf = { s, POLLIN, 0 };
		if (poll(&pf, 1, 100) <= 0)
			continue;
		ssize_t r = recv(s, b, sizeof(frame), 0);
		if (r < 10 + 14 || get_be(b + 10 + 12, 2) != 0x0800)
			continue;   /* something else of the host's */
		seen = true;
		CHECK_EQ(r, (ssize_t)(10 + len));
		CHECK_EQ(b[1], 1);                             /* VIRTIO_NET_HDR_GSO_TCPV4 */
		CHECK_EQ(le_load(b + 4, 2), mss);               /* gso_size */
		CHECK(!memcmp(b + 10 + hdr, p + hdr, payload));
	}
	CHECK(seen);
	close(s);
	e1000_destroy(&fe);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
