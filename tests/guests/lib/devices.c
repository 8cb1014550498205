/* SPDX-License-Identifier: Apache-2.0 */
/* PIC, PIT, local APIC, IOAPIC, CMOS RTC and ACPI MADT helpers. */
#include "guest.h"

/* ---- 8259A pair ---- */

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xA0
#define PIC2_DATA 0xA1

static uint16_t pic_mask_bits = 0xffff;

static void pic_write_mask(void)
{
	outb(PIC1_DATA, pic_mask_bits & 0xff);
	outb(PIC2_DATA, pic_mask_bits >> 8);
}

/* The 8259s remapped to PIC_VECTOR_BASE and every line masked, the LAPIC left alone: a firmware
 * (SeaBIOS) leaves them at vectors 0x08/0x70 with the PIT's IRQ 0 open and ticking, which would
 * land on #DF's vector as soon as ring 3 runs with interrupts on (always, under PVM). */
void pic_quiet(void)
{
	outb(PIC1_CMD, 0x11); /* ICW1: edge, cascade, ICW4 */
	outb(PIC2_CMD, 0x11);
	outb(PIC1_DATA, PIC_VECTOR_BASE);     /* ICW2: vector base */
	outb(PIC2_DATA, PIC_VECTOR_BASE + 8);
	outb(PIC1_DATA, 0x04); /* ICW3: slave on IRQ2 */
	outb(PIC2_DATA, 0x02);
	outb(PIC1_DATA, 0x01); /* ICW4: 8086 mode, normal EOI */
	outb(PIC2_DATA, 0x01);
	pic_mask_bits = 0xffff;
	pic_write_mask();
}

void pic_init(void)
{
	pic_quiet();
	pic_mask_bits = 0xffff & ~(1u << 2); /* cascade stays open */
	pic_write_mask();
	/* The PIC reaches the CPU through LINT0 in ExtINT mode. */
	lapic_enable();
}

void pic_mask(int irq)
{
	pic_mask_bits |= (uint16_t)(1u << irq);
	pic_write_mask();
}

void pic_unmask(int irq)
{
	pic_mask_bits &= (uint16_t)~(1u << irq);
	pic_write_mask();
}

void pic_set_handler(int irq, irq_handler_t h)
{
	set_handler(PIC_VECTOR_BASE + irq, h);
	pic_unmask(irq);
}

/* ---- 8254 PIT ---- */

#define PIT_HZ 1193182u

void pit_periodic(unsigned hz)
{
	unsigned div = (PIT_HZ + hz / 2) / hz;
	if (div > 65535)
		div = 65535;
	if (div < 2)
		div = 2;
	outb(0x43, 0x34); /* channel 0, lobyte/hibyte, mode 2 (rate generator), binary */
	outb(0x40, div & 0xff);
	outb(0x40, div >> 8);
}

/* ---- local APIC / IOAPIC ---- */

void lapic_start_aps(uint32_t tramp)
{
	lapic_enable();
	lapic_write(LAPIC_ICR_HI, 0);
	lapic_write(LAPIC_ICR_LO, 0x000c4500); /* INIT, assert, all excluding self */
	for (int i = 0; i < 2; i++) {
		lapic_write(LAPIC_ICR_HI, 0);
		lapic_write(LAPIC_ICR_LO, 0x000c4600 | (tramp >> 12)); /* SIPI, all excluding self */
	}
}

void lapic_enable(void)
{
	uint64_t base = rdmsr(0x1b); /* IA32_APIC_BASE */
	if (!(base & (1u << 11)))
		wrmsr(0x1b, base | (1u << 11)); /* globally enabled */
	lapic_write(LAPIC_SVR, 0x100 | SPURIOUS_VECTOR); /* software-enabled */
	lapic_write(LAPIC_LVT_LINT0, 0x700); /* ExtINT, unmasked: the PIC */
	lapic_write(LAPIC_LVT_LINT1, 0x400); /* NMI */
	lapic_write(LAPIC_TPR, 0);
}

uint32_t ioapic_read(unsigned reg)
{
	mmio_write32(IOAPIC_BASE, reg);
	return mmio_read32(IOAPIC_BASE + 0x10);
}

void ioapic_write(unsigned reg, uint32_t v)
{
	mmio_write32(IOAPIC_BASE, reg);
	mmio_write32(IOAPIC_BASE + 0x10, v);
}

void ioapic_route(unsigned pin, uint8_t vector, uint8_t dest_apic_id, bool level, bool masked)
{
	uint32_t lo = vector | (level ? (1u << 15) : 0) | (masked ? (1u << 16) : 0);
	ioapic_write(0x10 + 2 * pin + 1, (uint32_t)dest_apic_id << 24);
	ioapic_write(0x10 + 2 * pin, lo);
}

/* ---- CMOS RTC ---- */

uint8_t rtc_read(uint8_t reg)
{
	outb(RTC_INDEX, reg); /* bit 7 clear: NMI stays enabled */
	return inb(RTC_DATA);
}

static int bcd(uint8_t v) { return (v >> 4) * 10 + (v & 0xf); }

static void rtc_raw(uint8_t r[10])
{
	static const uint8_t regs[] = { 0, 2, 4, 7, 8, 9 };
	for (unsigned i = 0; i < sizeof(regs); i++)
		r[regs[i]] = rtc_read(regs[i]);
}

bool rtc_read_time(struct rtc_time *t)
{
	uint8_t a[10] = { 0 }, b[10] = { 0 };
	bool stable = false;
	for (int tries = 0; tries < 100 && !stable; tries++) {
		/* wait (bounded: ~2 ms of updates at most) for UIP to clear */
		for (int i = 0; i < 100000 && (rtc_read(0x0a) & 0x80); i++)
			pause();
		rtc_raw(a);
		for (int i = 0; i < 100000 && (rtc_read(0x0a) & 0x80); i++)
			pause();
		rtc_raw(b);
		stable = !memcmp(a, b, sizeof(a));
	}
	uint8_t sb = rtc_read(0x0b);
	bool binary = sb & 0x04, h24 = sb & 0x02;
	uint8_t hour = b[4];
	bool pm = !h24 && (hour & 0x80);
	hour &= 0x7f;
	int (*conv)(uint8_t) = binary ? NULL : bcd;
#define CONV(x) (conv ? conv(x) : (int)(x))
	t->sec = CONV(b[0]);
	t->min = CONV(b[2]);
	t->hour = CONV(hour);
	t->day = CONV(b[7]);
	t->month = CONV(b[8]);
	t->year = 2000 + CONV(b[9]);
#undef CONV
	if (!h24) {
		if (t->hour == 12)
			t->hour = 0;
		if (pm)
			t->hour += 12;
	}
	return stable;
}

int64_t days_from_civil(int y, int m, int d)
{
	/* days since 1970-01-01 in the proleptic Gregorian calendar: count whole
	 * years from a March-based year so the leap day is the last day. */
	if (m <= 2) {
		y -= 1;
		m += 12;
	}
	/* m is 3..14: days before month m counted from March 1 */
	int64_t doy = (153 * (m - 3) + 2) / 5 + d - 1;
	int64_t days = 365LL * y + y / 4 - y / 100 + y / 400 + doy;
	/* same formula for 1970-01-01 (March-based year 1969, m = 13, d = 1) */
	int64_t epoch = 365LL * 1969 + 1969 / 4 - 1969 / 100 + 1969 / 400 + (153 * 10 + 2) / 5;
	return days - epoch;
}

int64_t rtc_to_epoch(const struct rtc_time *t)
{
	return days_from_civil(t->year, t->month, t->day) * 86400 + t->hour * 3600 + t->min * 60 + t->sec;
}

/* The RTC seconds counter is the clock; a TSC bound (at most 4 GHz worth of
 * cycles per second) keeps the guest from spinning forever on a broken RTC.
 * After deadline_use_tsc() the TSC alone is the clock, at the rate measured
 * against the RTC then. */
#define DEADLINE_TSC_PER_SEC 4000000000ull
static uint64_t tsc_per_sec;

/* Wait for the seconds register to change: the TSC then, or 0 if it did not within the bound. */
static uint64_t next_rtc_tick(void)
{
	uint8_t s = rtc_read(0);
	uint64_t end = rdtsc() + 2 * DEADLINE_TSC_PER_SEC;
	while (rdtsc() < end)
		if (rtc_read(0) != s)
			return rdtsc();
	return 0;
}

uint64_t tsc_hz_from_rtc(void)
{
	uint8_t s0 = rtc_read(0);
	while (rtc_read(0) == s0)
		;
	uint64_t t0 = rdtsc();
	s0 = rtc_read(0);
	while (rtc_read(0) == s0)
		;
	return rdtsc() - t0;
}

bool deadline_use_tsc(void)
{
	uint64_t a = next_rtc_tick(), b = a ? next_rtc_tick() : 0;
	if (!b || b <= a)
		return false;
	tsc_per_sec = b - a;
	return true;
}

void deadline_tsc_hz(uint64_t hz)
{
	tsc_per_sec = hz;
}

void deadline_start(struct deadline *d, int seconds)
{
	uint64_t per_sec = tsc_per_sec ? tsc_per_sec : DEADLINE_TSC_PER_SEC;
	d->last = tsc_per_sec ? 0 : rtc_read(0);
	d->left = seconds + 1; /* the first tick may come at once */
	d->tsc_end = rdtsc() + (uint64_t)(seconds + !tsc_per_sec) * per_sec;
}

bool deadline_expired(struct deadline *d)
{
	if (tsc_per_sec)
		return rdtsc() > d->tsc_end;
	uint8_t s = rtc_read(0);
	if (s != d->last) {
		d->last = s;
		d->left--;
	}
	return d->left <= 0 || rdtsc() > d->tsc_end;
}

/* ---- ACPI ---- */

/* boot.rsdp: given by the loader or found by guest_start's scan (core.c) */
static uint64_t find_rsdp(void)
{
	if (boot.rsdp && boot.rsdp < (4ull << 30) && !memcmp((void *)(uintptr_t)boot.rsdp, "RSD PTR ", 8))
		return boot.rsdp;
	return 0;
}

int acpi_madt_cpus(uint8_t *ids, int max)
{
	uint64_t rsdp = find_rsdp();
	if (!rsdp)
		return -1;
	const uint8_t *r = (const uint8_t *)(uintptr_t)rsdp;
	uint64_t sdt;
	unsigned entsz;
	if (r[15] >= 2 && *(const uint64_t *)(r + 24)) {
		sdt = *(const uint64_t *)(r + 24); /* XSDT */
		entsz = 8;
	} else {
		sdt = *(const uint32_t *)(r + 16); /* RSDT */
		entsz = 4;
	}
	if (!sdt || sdt >= (4ull << 30))
		return -1;
	const uint8_t *t = (const uint8_t *)(uintptr_t)sdt;
	uint32_t len = *(const uint32_t *)(t + 4);
	for (uint32_t off = 36; off + entsz <= len; off += entsz) {
		uint64_t a = entsz == 8 ? *(const uint64_t *)(t + off) : *(const uint32_t *)(t + off);
		if (!a || a >= (4ull << 30))
			continue;
		const uint8_t *m = (const uint8_t *)(uintptr_t)a;
		if (memcmp(m, "APIC", 4))
			continue;
		uint32_t mlen = *(const uint32_t *)(m + 4);
		int n = 0;
		for (uint32_t e = 44; e + 2 <= mlen && m[e + 1] >= 2; e += m[e + 1]) {
			if (m[e] == 0 && m[e + 1] >= 8) { /* processor local APIC */
				uint32_t flags = *(const uint32_t *)(m + e + 4);
				if ((flags & 1) && n < max)
					ids[n++] = m[e + 3];
			} else if (m[e] == 9 && m[e + 1] >= 16) { /* local x2APIC */
				uint32_t flags = *(const uint32_t *)(m + e + 8);
				if ((flags & 1) && n < max)
					ids[n++] = (uint8_t)*(const uint32_t *)(m + e + 4);
			}
		}
		return n;
	}
	return -1;
}
