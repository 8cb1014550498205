/* ARP (RFC 826) for IPv4 over Ethernet: MMDS answers requests for its address. */
#include "mmds/proto.h"

#include <string.h>

bool arp_parse_request(const uint8_t *a, size_t len, uint32_t target_ip, uint8_t sha[6], uint32_t *spa)
{
	if (len < ARP_LEN)
		return false;
	if (rd16(a) != 1 || rd16(a + 2) != ETHERTYPE_IPV4 || a[4] != 6 || a[5] != 4 || rd16(a + 6) != 1)
		return false;
	if (rd32(a + 24) != target_ip)
		return false;
	memcpy(sha, a + 8, 6);
	*spa = rd32(a + 14);
	return true;
}

void arp_write(uint8_t *a, uint16_t op, const uint8_t sha[6], uint32_t spa, const uint8_t tha[6],
	       uint32_t tpa)
{
	wr16(a, 1);
	wr16(a + 2, ETHERTYPE_IPV4);
	a[4] = 6;
	a[5] = 4;
	wr16(a + 6, op);
	memcpy(a + 8, sha, 6);
	wr32(a + 14, spa);
	memcpy(a + 18, tha, 6);
	wr32(a + 24, tpa);
}
