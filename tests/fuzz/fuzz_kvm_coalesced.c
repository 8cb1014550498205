/* libFuzzer target: the drain of KVM's coalesced MMIO ring (kvm_coalesced_drain), whose
 * indices and entries come from a page user space shares with the kernel.
 *
 * Input: the ring's page (4 KiB, the rest zero): first, last, then the entries. The drain must
 * answer -EIO or the number of writes it replayed (fewer than the ring's size), replay only
 * lengths 1 to 8 in index order, read nothing outside the page (ASan watches a page-sized heap
 * block), and leave `first` inside the ring. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/kvm_coalesced.h"
#include "fuzz_common.h"

#define PAGE 4096

FUZZ_QUIET_LOGS()

static int seen;

static void sink(void *opaque, uint64_t addr, const uint8_t *data, uint32_t len)
{
	(void)opaque;
	(void)addr;
	if (len == 0 || len > 8)
		abort();
	volatile uint8_t x = data[len - 1];   /* the bytes handed over are readable */
	(void)x;
	seen++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kvm_coalesced_mmio_ring *ring = calloc(1, PAGE);
	if (!ring)
		return 0;
	memcpy(ring, data, size < PAGE ? size : PAGE);
	uint32_t max = kvm_coalesced_ring_max(PAGE);
	seen = 0;
	int n = kvm_coalesced_drain(ring, max, sink, NULL);
	if (n != -EIO && (n < 0 || (uint32_t)n >= max || n != seen))
		abort();
	if (ring->last < max && ring->first >= max)
		abort();
	free(ring);
	return 0;
}
