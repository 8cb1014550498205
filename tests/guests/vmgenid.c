/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmgenid: the VM generation ID as a guest OS sees it (issue 8). It finds, in the DSDT petrel
 * wrote, what Linux's drivers find: the VGEN device's ADDR method (Package { low, high }: the
 * ID's address) and the GED's interrupt (its _CRS) and event register (its SystemIO
 * OperationRegion). Its interrupt handler does what the GED's _EVT does (reads the register,
 * which clears it) and counts. Then it counts in ring 3, printing every `every` increments
 *   "genid=<32 hex digits> irqs=N events=E count=C"
 * (E: the event bits read so far, OR'ed). After a snapshot load the next lines must show a new
 * ID, one more interrupt and event bit 1 (tests/api/test_api_vmgenid.py).
 * nogenid=1: the DSDT must have no VGEN device (petrel run --no-vmgenid); passes at once.
 */
#include "guest.h"

DEFINE_GUEST("vmgenid");

#define IRQ_VECTOR 0x45

static volatile uint32_t irqs, events;
static uint16_t ged_port;
static const volatile uint8_t *genid;
static unsigned long every;

static const uint8_t *find(const uint8_t *p, uint32_t n, const void *pat, uint32_t pn)
{
	for (uint32_t i = 0; i + pn <= n; i++)
		if (!memcmp(p + i, pat, pn))
			return p + i;
	return NULL;
}

/* An AML integer (Zero, One, Byte/Word/DWord/QWord prefix) at *p, advancing *p. */
static uint64_t aml_int(const uint8_t **p)
{
	const uint8_t *q = *p;
	unsigned n;
	switch (q[0]) {
	case 0x00: *p += 1; return 0;
	case 0x01: *p += 1; return 1;
	case 0x0a: n = 1; break;
	case 0x0b: n = 2; break;
	case 0x0c: n = 4; break;
	case 0x0e: n = 8; break;
	default: fail("AML integer expected, found opcode %#x", q[0]);
	}
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)q[1 + i] << (8 * i);
	*p += 1 + n;
	return v;
}

static const uint8_t *dsdt(uint32_t *len)
{
	const uint8_t *r = NULL;
	for (uintptr_t a = 0xe0000; a < 0x100000 && !r; a += 16)
		if (!memcmp((const void *)a, "RSD PTR ", 8))
			r = (const uint8_t *)a;
	check(r != NULL, "no RSDP");
	const uint8_t *x = (const uint8_t *)(uintptr_t)*(const uint64_t *)(r + 24);
	uint32_t xl = *(const uint32_t *)(x + 4);
	for (uint32_t off = 36; off + 8 <= xl; off += 8) {
		const uint8_t *t = (const uint8_t *)(uintptr_t)*(const uint64_t *)(x + off);
		if (!memcmp(t, "FACP", 4)) {
			const uint8_t *d = (const uint8_t *)(uintptr_t)*(const uint64_t *)(t + 140);
			*len = *(const uint32_t *)(d + 4);
			return d;
		}
	}
	fail("no FADT");
}

static void on_irq(struct irq_frame *f)
{
	events |= inl(ged_port); /* what _EVT does: Local0 = GDAT */
	irqs++;
}

static long count(long unused)
{
	unsigned long n = 0;
	for (;;) {
		for (unsigned long i = 0; i < every; i++) {
			n++;
			barrier();
		}
		/* The counts first, then the ID: a line that shows the interrupt shows an ID read
		 * after it (one printed with counts read last could show the old ID with irqs=1 when
		 * the interrupt came while the ID was being printed, a slow thing over the UART). */
		uint32_t seen_irqs = irqs, seen_events = events;
		barrier();
		uint8_t id[16];
		for (int i = 0; i < 16; i++)
			id[i] = genid[i];
		printf("genid=");
		for (int i = 0; i < 16; i++)
			printf("%02x", id[i]);
		printf(" irqs=%u events=%u count=%lu\n", seen_irqs, seen_events, n / every);
	}
	return 0;
}

void test_main(void)
{
	long e = cmdline_int("every", 1l << 22);
	every = e > 0 ? (unsigned long)e : 1;
	uint32_t len;
	const uint8_t *d = dsdt(&len);
	static const uint8_t addr_sig[] = { 'A', 'D', 'D', 'R', 0x00, 0xa4, 0x12 }; /* Method (ADDR, 0) { Return (Package */
	const uint8_t *m = find(d, len, addr_sig, sizeof(addr_sig));
	const uint8_t *vgen = find(d, len, "VMGENCTR", 8);
	if (cmdline_int("nogenid", 0)) {
		check(!m && !vgen && !find(d, len, "ACPI0013", 8), "the DSDT has a VM generation ID device");
		printf("vmgenid: none in the DSDT\n");
		pass();
	}
	check(m && vgen, "no VGEN device with an ADDR method in the DSDT");
	const uint8_t *p = m + sizeof(addr_sig) + 4; /* PkgLength (4 bytes as petrel writes it) */
	check(*p == 2, "ADDR's package has %u elements", *p);
	p++;
	uint64_t lo = aml_int(&p), hi = aml_int(&p);
	genid = (const volatile uint8_t *)(uintptr_t)(lo | hi << 32);
	const uint8_t *ged = find(d, len, "ACPI0013", 8);
	check(ged != NULL, "no GED (ACPI0013) in the DSDT");
	static const uint8_t irq_sig[] = { 0x89, 0x06, 0x00 }; /* Extended Interrupt descriptor */
	const uint8_t *irq = find(ged, (uint32_t)(d + len - ged), irq_sig, sizeof(irq_sig));
	check(irq && (irq[3] & 0x02) && irq[4] == 1, "the GED's interrupt is not one edge-triggered GSI");
	uint32_t gsi = *(const uint32_t *)(irq + 5);
	const uint8_t *reg = find(ged, (uint32_t)(d + len - ged), "GDST", 4);
	check(reg && reg[4] == 0x01, "no SystemIO OperationRegion GDST in the GED");
	p = reg + 5;
	ged_port = (uint16_t)aml_int(&p);
	printf("vmgenid: ID at %#lx, GED on GSI %u, register at port %#x\n", (unsigned long)(uintptr_t)genid,
	       gsi, ged_port);
	check(gsi < 24, "GSI %u is not an IOAPIC pin", gsi);
	pic_init(); /* masked: KVM raises GSIs below 16 on the PIC too */
	lapic_enable();
	set_handler(IRQ_VECTOR, on_irq);
	ioapic_route(gsi, IRQ_VECTOR, (uint8_t)lapic_id(), false, false);
	user_call(count, 0, USER_IF);
	pass();
}
