/* Unit tests for src/kvm/kvm_coalesced.c's drain: KVM's coalesced MMIO ring replayed in order
 * (wrapping at its size), indices from the shared page bounded (out of range, or an entry of
 * impossible length, is -EIO with the ring emptied, never a read outside it), and the flush
 * through struct kvm that the vCPUs and the E1000's I/O thread call. No /dev/kvm needed: the
 * ring is a page of our own, filled as KVM fills it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/kvm_coalesced.h"
#include "util/log.h"
#include "unit.h"

#define PAGE 4096

struct seen {
	int n;
	uint64_t addr[256];
	uint32_t len[256];
	uint8_t data[256][8];
};

static void sink(void *opaque, uint64_t addr, const uint8_t *data, uint32_t len)
{
	struct seen *s = opaque;
	if (s->n < 256) {
		s->addr[s->n] = addr;
		s->len[s->n] = len;
		memcpy(s->data[s->n], data, len);
	}
	s->n++;
}

/* What KVM does for a guest write: the entry at `last`, then last moves on. */
static void kvm_put(struct kvm_coalesced_mmio_ring *r, uint32_t max, uint64_t addr, uint32_t len, uint32_t val)
{
	struct kvm_coalesced_mmio *e = &r->coalesced_mmio[r->last];
	memset(e, 0, sizeof(*e));
	e->phys_addr = addr;
	e->len = len;
	memcpy(e->data, &val, len < 4 ? len : 4);
	r->last = (r->last + 1) % max;
}

static struct kvm_coalesced_mmio_ring *new_ring(void)
{
	return calloc(1, PAGE);
}

TEST(ring_size_is_kvms)
{
	/* x86's 4 KiB page: (4096 - 8) / 24 entries, KVM_COALESCED_MMIO_MAX */
	CHECK_EQ(kvm_coalesced_ring_max(PAGE), 170);
	CHECK_EQ(sizeof(struct kvm_coalesced_mmio), 24);
}

TEST(drain_replays_in_order_and_empties)
{
	struct kvm_coalesced_mmio_ring *r = new_ring();
	uint32_t max = kvm_coalesced_ring_max(PAGE);
	struct seen s = { 0 };
	CHECK_EQ(kvm_coalesced_drain(r, max, sink, &s), 0);   /* empty */
	kvm_put(r, max, 0xfebc2818, 4, 7);    /* RDT */
	kvm_put(r, max, 0xfebc0100, 4, 0x8002); /* RCTL */
	kvm_put(r, max, 0xfebc2818, 4, 8);
	CHECK_EQ(kvm_coalesced_drain(r, max, sink, &s), 3);
	CHECK_EQ(s.n, 3);
	CHECK_EQ_HEX(s.addr[0], 0xfebc2818);
	CHECK_EQ(s.data[0][0], 7);
	CHECK_EQ_HEX(s.addr[1], 0xfebc0100);
	CHECK_EQ(s.data[1][0], 0x02);
	CHECK_EQ(s.data[1][1], 0x80);
	CHECK_EQ(s.data[2][0], 8);
	CHECK_EQ(s.len[2], 4);
	CHECK_EQ(r->first, r->last);
	CHECK_EQ(kvm_coalesced_drain(r, max, sink, &s), 0);
	CHECK_EQ(s.n, 3);
	free(r);
}

TEST(drain_wraps_at_the_ring_end)
{
	struct kvm_coalesced_mmio_ring *r = new_ring();
	uint32_t max = kvm_coalesced_ring_max(PAGE);
	r->first = r->last = max - 2;
	struct seen s = { 0 };
	for (uint32_t i = 0; i < 5; i++)
		kvm_put(r, max, 0x1000 + 4 * i, 4, i);
	CHECK_EQ(r->last, 3);
	CHECK_EQ(kvm_coalesced_drain(r, max, sink, &s), 5);
	for (int i = 0; i < 5; i++) {
		CHECK_EQ_HEX(s.addr[i], 0x1000 + 4 * (uint64_t)i);
		CHECK_EQ(s.data[i][0], i);
	}
	CHECK_EQ(r->first, 3);
	/* a full ring (KVM leaves one slot free): max - 1 entries */
	s.n = 0;
	for (uint32_t i = 0; i < max - 1; i++)
		kvm_put(r, max, 0x2000, 8, i);
	CHECK_EQ(kvm_coalesced_drain(r, max, sink, &s), (int)max - 1);
	CHECK_EQ(s.len[0], 8);
	free(r);
}

TEST(drain_refuses_nonsense_from_the_shared_page)
{
	uint32_t max = kvm_coalesced_ring_max(PAGE);
	struct seen s = { 0 };
	log_set_level(LOG_OFF);
	struct kvm_coalesced_mmio_ring *r = new_ring();
	r->last = max;                     /* out of range: nothing read */
	CHECK_EQ(kvm_coalesced_drain(r, max, sink, &s), -EIO);
	r->last = 0xffffffffu;
	CHECK_EQ(kvm_coalesced_drain(r, max, sink, &s), -EIO);
	CHECK_EQ(s.n, 0);
	r->first = max + 5;                /* ours out of range: reset to KVM's last */
	r->last = 4;
	CHECK_EQ(kvm_coalesced_drain(r, max, sink, &s), -EIO);
	CHECK_EQ(r->first, 4);
	CHECK_EQ(s.n, 0);
	/* an entry of length 0 or more than 8: the writes before it replayed, the rest dropped */
	kvm_put(r, max, 0x3000, 4, 1);
	kvm_put(r, max, 0x3004, 4, 2);
	r->coalesced_mmio[(r->last + max - 1) % max].len = 9;
	kvm_put(r, max, 0x3008, 4, 3);
	CHECK_EQ(kvm_coalesced_drain(r, max, sink, &s), -EIO);
	CHECK_EQ(s.n, 1);
	CHECK_EQ_HEX(s.addr[0], 0x3000);
	CHECK_EQ(r->first, r->last);
	kvm_put(r, max, 0x3000, 0, 1);
	CHECK_EQ(kvm_coalesced_drain(r, max, sink, &s), -EIO);
	CHECK_EQ(s.n, 1);
	log_set_level(LOG_INFO);
	free(r);
}

TEST(flush_through_the_vm)
{
	struct kvm kvm;
	memset(&kvm, 0, sizeof(kvm));
	kvm.vm_fd = -1;
	pthread_mutex_init(&kvm.coalesced.lock, NULL);
	CHECK_EQ(kvm_coalesced_flush(&kvm), 0);   /* no ring (no vCPU, or no capability) */
	CHECK(!kvm_coalesced_available(&kvm));
	CHECK_EQ(kvm_coalesced_zone(&kvm, 0x1000, 0x1000, true), -ENOTSUP);
	struct kvm_coalesced_mmio_ring *r = new_ring();
	struct seen s = { 0 };
	kvm.coalesced.ring = r;
	kvm.coalesced.max = kvm_coalesced_ring_max(PAGE);
	kvm_coalesced_set_sink(&kvm, sink, &s);
	kvm_put(r, kvm.coalesced.max, 0x4000, 2, 0xbeef);
	CHECK_EQ(kvm_coalesced_flush(&kvm), 1);
	CHECK_EQ(s.len[0], 2);
	CHECK_EQ(s.data[0][0], 0xef);
	CHECK_EQ(kvm_coalesced_flush(&kvm), 0);
	free(r);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
