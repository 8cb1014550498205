/* The frame check sequence the card appends to a received frame when the driver keeps it
 * (RCTL.SECRC clear): the Ethernet CRC-32 of the frame as delivered, least significant byte
 * first, as on the wire.
 *
 * Why a real one: Linux's e1000 never sets SECRC and takes four bytes off every length
 * itself, unless `ethtool -K IFACE rx-fcs on` (NETIF_F_RXFCS), which hands them up with the
 * frame: a capture (tcpdump, Wireshark) then checks them, and a made-up value reads as a
 * damaged frame. So it must be computed, once per received frame, over the whole frame.
 *
 * Why libdeflate: its crc32 folds with PCLMULQDQ (carry-less multiply); zlib 1.2.13's is a
 * table-driven (braided) loop, about 4x slower here (docs/e1000.md#receive-crc). Loaded
 * (dlopen) when the first E1000 is built, on the thread that builds the VM, as MMDS loads
 * nettle: a VM without an E1000 never maps it. Without libdeflate on the host, zlib's. */
#include "devices/e1000/e1000_int.h"
#include "util/dlopen.h"
#include "util/log.h"

#include <libdeflate.h>
#include <zlib.h>

static __typeof__(libdeflate_crc32) *fast_crc32;

void e1000_fcs_init(void)
{
	if (__atomic_load_n(&fast_crc32, __ATOMIC_ACQUIRE))
		return;
	const struct dl_sym syms[] = { { "libdeflate_crc32", (void **)&fast_crc32 } };
	char err[256];
	if (dl_load_syms("libdeflate.so.0", syms, 1, err, sizeof(err)) < 0)
		log_info("E1000: receive CRCs with zlib, slower (%s)", err);
}

uint32_t e1000_fcs(const uint8_t *f, size_t len)
{
	__typeof__(libdeflate_crc32) *fn = __atomic_load_n(&fast_crc32, __ATOMIC_ACQUIRE);
	if (fn)
		return fn(0, f, len);
	return (uint32_t)crc32(crc32(0, NULL, 0), f, (uInt)len);
}
