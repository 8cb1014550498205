/* The E1000's coalesced MMIO zones (src/devices/e1000/e1000.c) as KVM sees them: ioctl is
 * wrapped, so each KVM_(UN)REGISTER_COALESCED_MMIO is recorded. The card registers its whole
 * register block but MDIC, ICR, ICS, IMS, IMC, TCTL and TDT when its BAR decodes, moves the
 * zones with the BAR, drops them when decoding stops; and a write KVM queued in the ring
 * reaches the card through the flush, as the vCPU loop does it. No /dev/kvm needed. */
#include "bus/bus.h"
#include "kvm/kvm_coalesced.h"
#include "unit.h"
#include "fake_e1000.h"

#include <stdarg.h>
#include <sys/ioctl.h>

#define FAKE_VM_FD 1000

struct zone_op { bool add; uint64_t addr; uint32_t size; };
static struct zone_op ops[64];
static int nops;

int __real_ioctl(int fd, unsigned long req, ...);
int __wrap_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (fd != FAKE_VM_FD)
		return __real_ioctl(fd, req, arg);
	if ((req == KVM_REGISTER_COALESCED_MMIO || req == KVM_UNREGISTER_COALESCED_MMIO) && nops < 64) {
		const struct kvm_coalesced_mmio_zone *z = arg;
		ops[nops++] = (struct zone_op){ req == KVM_REGISTER_COALESCED_MMIO, z->addr, z->size };
	}
	return 0;   /* the irq line and the rest: accepted */
}

static const struct { uint32_t from, to; } expected[] = {
	{ 0, E1000_MDIC }, { E1000_MDIC + 4, E1000_ICR }, { E1000_ICR + 4, E1000_ICS },
	{ E1000_ICS + 4, E1000_IMS }, { E1000_IMS + 4, E1000_IMC }, { E1000_IMC + 4, E1000_TCTL },
	{ E1000_TCTL + 4, E1000_TDT }, { E1000_TDT + 4, E1000_BAR0_SIZE },
};
#define NEXPECTED (int)(sizeof(expected) / sizeof(expected[0]))

static void check_zones_at(int at, uint64_t base)
{
	for (int i = 0; i < NEXPECTED; i++) {
		CHECK(ops[at + i].add);
		CHECK_EQ_HEX(ops[at + i].addr, base + expected[i].from);
		CHECK_EQ_HEX(ops[at + i].size, expected[i].to - expected[i].from);
	}
}

static struct kvm kvm;
static struct bus pio, mmio;
static struct pci_bus pci;
static struct kvm_coalesced_mmio_ring *ring;
static uint8_t *frame_unused_ __attribute__((unused)) = frame;   /* fake_e1000.h's buffer: not needed here */

static void mmio_sink(void *opaque, uint64_t addr, const uint8_t *data, uint32_t len)
{
	uint8_t b[8];
	memcpy(b, data, len);
	bus_access(opaque, addr, b, len, true);
}

TEST(zones_follow_the_bar)
{
	memset(&kvm, 0, sizeof(kvm));
	kvm.fd = -1;
	kvm.vm_fd = FAKE_VM_FD;
	kvm.coalesced.page = 2;   /* the host has it */
	pthread_mutex_init(&kvm.coalesced.lock, NULL);
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	REQUIRE_EQ(pci_bus_init(&pci, &kvm, &pio, &mmio, 0xc0000000, 0x10000000), 0);
	nops = 0;
	REQUIRE_EQ(fe_setup_on(true, &pci), 0);
	uint64_t bar0 = fe.pci.bar_mapped[0];
	REQUIRE(bar0 != 0);
	REQUIRE_EQ(nops, NEXPECTED);
	check_zones_at(0, bar0);

	/* the guest moves BAR 0: the old zones go (one range covering them), the new ones come */
	uint8_t b[4];
	uint64_t moved = bar0 + 0x100000;
	nops = 0;
	pci_put(b, 0, (uint32_t)moved, 4);
	pci_config_write(&pci, fe.pci.slot, 0, 0x10, b, 4);
	REQUIRE_EQ(fe.pci.bar_mapped[0], moved);
	REQUIRE_EQ(nops, 1 + NEXPECTED);
	CHECK(!ops[0].add);
	CHECK_EQ_HEX(ops[0].addr, bar0);
	CHECK_EQ_HEX(ops[0].size, E1000_BAR0_SIZE);
	check_zones_at(1, moved);

	/* memory decoding off: the zones go, none come */
	nops = 0;
	pci_put(b, 0, PCI_COMMAND_IO | PCI_COMMAND_MASTER, 2);
	pci_config_write(&pci, fe.pci.slot, 0, 4, b, 2);
	REQUIRE_EQ(nops, 1);
	CHECK(!ops[0].add);
	CHECK_EQ_HEX(ops[0].addr, moved);
	pci_put(b, 0, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	pci_config_write(&pci, fe.pci.slot, 0, 4, b, 2);
	CHECK_EQ(nops, 1 + NEXPECTED);

	/* a write KVM queued reaches the card when the ring is flushed, not before */
	ring = calloc(1, 4096);
	kvm.coalesced.ring = ring;
	kvm.coalesced.max = kvm_coalesced_ring_max(4096);
	kvm_coalesced_set_sink(&kvm, mmio_sink, &mmio);
	uint32_t rdlen = RING_N * 16;
	struct kvm_coalesced_mmio *e = &ring->coalesced_mmio[0];
	e->phys_addr = moved + E1000_RDLEN;
	e->len = 4;
	memcpy(e->data, &rdlen, 4);
	ring->last = 1;
	CHECK_EQ(fe_r(E1000_RDLEN), 0u);
	CHECK_EQ(kvm_coalesced_flush(&kvm), 1);
	CHECK_EQ(fe_r(E1000_RDLEN), rdlen);
	CHECK_EQ(ring->first, 1u);
	kvm.coalesced.ring = NULL;
	free(ring);
	fe_teardown();
	pci_bus_destroy(&pci);
}

TEST(no_capability_no_zones)
{
	memset(&kvm, 0, sizeof(kvm));
	kvm.fd = -1;
	kvm.vm_fd = FAKE_VM_FD;   /* coalesced.page 0: the host lacks KVM_CAP_COALESCED_MMIO */
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	REQUIRE_EQ(pci_bus_init(&pci, &kvm, &pio, &mmio, 0xc0000000, 0x10000000), 0);
	int sv[2];
	REQUIRE_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv), 0);
	fe_peer = sv[1];
	struct e1000_params cfg = { .iface_id = "eth0", .host_dev_name = "sp" };
	nops = 0;
	REQUIRE_EQ(e1000_create_fd(&fe, &cfg, 0, sv[0], &fe_mem, NULL, &pci), 0);
	CHECK(fe.pci.bar_mapped[0] != 0);
	CHECK_EQ(nops, 0);
	fe_teardown();
	pci_bus_destroy(&pci);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
