/* The frame check sequence the card appends to a received frame when the driver keeps it
 * (RCTL.SECRC clear): the Ethernet CRC-32 of the frame as delivered, least significant byte
 * first, as on the wire.
 *
 * Why a real one: Linux's e1000 never sets SECRC and takes four bytes off every length
 * itself, unless `ethtool -K IFACE rx-fcs on` (NETIF_F_RXFCS), which hands them up with the
 * frame: a capture (tcpdump, Wireshark) then checks them, and a made-up value reads as a
 * damaged frame. So it must be computed, once per received frame, over the whole frame.
 *
 * Why libdeflate (util/crc32.h): its crc32 folds with PCLMULQDQ (carry-less multiply); zlib
 * 1.2.13's is a table-driven (braided) loop, about 4x slower here (docs/e1000.md#receive-crc).
 * Loaded (dlopen) when the first E1000 is built, on the thread that builds the VM, as MMDS loads
 * nettle. Without libdeflate on the host, zlib's. */
#include "devices/e1000/e1000_int.h"
#include "util/crc32.h"
#include "util/log.h"

void e1000_fcs_init(void)
{
	const char *why = crc32_load();
	if (why)
		log_info("E1000: receive CRCs with zlib, slower (%s)", why);
}

uint32_t e1000_fcs(const uint8_t *f, size_t len)
{
	return crc32_fast(0, f, len);
}
