/* Frames a guest sends to MMDS, for the device tests of MMDS (test_net_mmds.c, test_e1000_mmds.c):
 * one TCP segment from the guest at guest_ip (MAC mac) to MMDS's port 80, checksums right. */
#ifndef PETREL_TESTS_UNIT_MMDS_FRAMES_H
#define PETREL_TESTS_UNIT_MMDS_FRAMES_H

#include "config/mmds_config.h"
#include "mmds/proto.h"
#include "mmds/stack.h"
#include "mmds/tcp.h"

#include <string.h>

static inline size_t mmds_tcp_frame(uint8_t *fr, const uint8_t mac[6], uint32_t guest_ip, uint16_t port,
				    uint32_t seq, uint32_t ack, uint8_t flags, const char *data, uint16_t mss)
{
	memcpy(fr, "\x06\x01\x23\x45\x67\x01", 6);
	memcpy(fr + 6, mac, 6);
	wr16(fr + 12, ETHERTYPE_IPV4);
	struct mmds_tcp_seg s = { .remote_ip = MMDS_DEFAULT_IPV4, .remote_port = 80, .local_port = port,
				  .seq = seq, .ack = ack, .flags = flags, .window = 64000, .mss = mss,
				  .data = (const uint8_t *)data, .len = data ? strlen(data) : 0 };
	return ETH_HDR_LEN + ip_write_tcp(fr + ETH_HDR_LEN, guest_ip, 1, &s);
}

#endif
