/* The field-by-field state encoding (src/util/codec.h): fixed widths, little-endian whatever
 * the host, no padding; a reader that never goes past its input and says why it refused. And
 * the device state verbs built on it, for the legacy devices: a round trip through the bytes,
 * a cut and a grown section refused, the device left as it was. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/cpu_state_codec.h"
#include "devices/dev_state.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/rtc.h"
#include "devices/legacy/serial.h"
#include "unit.h"
#include "util/codec.h"

TEST(fields_are_little_endian_and_packed)
{
	struct enc e;
	enc_init(&e);
	put_u8(&e, 0x01);
	put_u16(&e, 0x0302);
	put_u32(&e, 0x07060504);
	put_u64(&e, 0x0f0e0d0c0b0a0908ull);
	put_bool(&e, true);
	put_bytes(&e, "xy", 2);
	REQUIRE_EQ(e.err, 0);
	static const uint8_t want[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 1, 'x', 'y' };
	REQUIRE_EQ(e.len, sizeof(want));
	CHECK_EQ(memcmp(e.buf, want, sizeof(want)), 0);

	struct dec d;
	char err[128];
	dec_init(&d, e.buf, e.len);
	CHECK_EQ(get_u8(&d), 1);
	CHECK_EQ_HEX(get_u16(&d), 0x0302);
	CHECK_EQ_HEX(get_u32(&d), 0x07060504);
	CHECK_EQ_HEX(get_u64(&d), 0x0f0e0d0c0b0a0908ull);
	CHECK(get_bool(&d));
	char xy[2];
	get_bytes(&d, xy, 2);
	CHECK_EQ(memcmp(xy, "xy", 2), 0);
	CHECK_EQ(dec_end(&d, "T", err, sizeof(err)), 0);
	enc_free(&e);
}

TEST(short_long_and_bad_bool_inputs_are_refused)
{
	const uint8_t in[] = { 1, 2, 3, 4, 5 };
	char err[128];
	struct dec d;
	dec_init(&d, in, 3);
	CHECK_EQ_HEX(get_u32(&d), 0); /* past the end: zero, and nothing read */
	CHECK_EQ(get_u8(&d), 0);      /* sticky */
	CHECK_EQ(dec_left(&d), 0);
	CHECK_EQ(dec_end(&d, "T", err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "T: the saved state is shorter");
	dec_init(&d, in, 5);
	get_u32(&d);
	CHECK_EQ(dec_end(&d, "T", err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "1 bytes more");
	dec_init(&d, in + 1, 1);
	CHECK(!get_bool(&d)); /* 2 is not a bool */
	CHECK_EQ(dec_end(&d, "T", err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "true/false");
	dec_init(&d, NULL, 0);
	CHECK_EQ(dec_end(&d, "T", err, sizeof(err)), 0);
}

/* save, then load into a fresh device: 0; each length from 0 to one past: refused but the
 * right one, and the device unchanged by a refusal (checked by the caller's fields). */
static void round_trip(const struct dev_state_ops *ops, void *from, void *to, size_t want_len)
{
	struct enc e;
	enc_init(&e);
	ops->save(from, &e);
	REQUIRE_EQ(e.err, 0);
	CHECK_EQ(e.len, want_len);
	uint8_t *buf = calloc(1, e.len + 1);
	REQUIRE(buf);
	memcpy(buf, e.buf, e.len);
	char err[256];
	for (size_t n = 0; n <= e.len + 1; n++) {
		struct dec d;
		dec_init(&d, buf, n);
		err[0] = 0;
		int r = ops->load(to, &d, ops->version, err, sizeof(err));
		if (n == e.len)
			CHECK_EQ(r, 0);
		else {
			CHECK_EQ(r, -EINVAL);
			CHECK(err[0] != 0);
		}
	}
	free(buf);
	enc_free(&e);
}

TEST(legacy_devices_round_trip)
{
	struct serial s1, s2;
	serial_init(&s1, -1, (struct irq_line){ NULL, 4 });
	serial_init(&s2, -1, (struct irq_line){ NULL, 4 });
	s1.st.lcr = 0x03;
	s1.st.rx[0] = 'a';
	s1.st.rx_count = 1;
	round_trip(&serial_state_ops, &s1, &s2, 10 + 64 + 3);
	CHECK_EQ(s2.st.lcr, 0x03);
	CHECK_EQ(s2.st.rx[0], 'a');
	CHECK_EQ(s2.st.rx_count, 1);

	struct rtc r1, r2;
	rtc_init(&r1, 1 << 20, 0);
	rtc_init(&r2, 1 << 20, 0);
	r1.st.offset_sec = -12345;
	r1.st.cmos[0x40] = 0x5a;
	round_trip(&rtc_state_ops, &r1, &r2, 1 + 128 + 8);
	CHECK_EQ(r2.st.offset_sec, -12345);
	CHECK_EQ(r2.st.cmos[0x40], 0x5a);
}

static void random_fill(void *p, size_t n, unsigned seed)
{
	uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (uint8_t)(seed >> 16);
	}
}

/* Every field of a vCPU's state survives the encoding: random values everywhere but in the
 * padding and reserved words KVM defines (which the format leaves out), then encode, decode and
 * compare the whole struct. A field the codec forgot would differ. */
TEST(cpu_state_every_field_round_trips)
{
	struct cpu_state *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	REQUIRE(a && b);
	random_fill(a, sizeof(*a), 7);
	struct kvm_segment *seg[] = { &a->sregs.cs, &a->sregs.ds, &a->sregs.es, &a->sregs.fs, &a->sregs.gs,
				      &a->sregs.ss, &a->sregs.tr, &a->sregs.ldt };
	for (unsigned i = 0; i < 8; i++)
		seg[i]->padding = 0;
	memset(a->sregs.gdt.padding, 0, sizeof(a->sregs.gdt.padding));
	memset(a->sregs.idt.padding, 0, sizeof(a->sregs.idt.padding));
	a->xcrs.nr_xcrs = KVM_MAX_XCRS;
	for (unsigned i = 0; i < KVM_MAX_XCRS; i++)
		a->xcrs.xcrs[i].reserved = 0;
	memset(a->xcrs.padding, 0, sizeof(a->xcrs.padding));
	a->events.nmi.pad = 0;
	memset(a->events.reserved, 0, sizeof(a->events.reserved));
	memset(a->debugregs.reserved, 0, sizeof(a->debugregs.reserved));
	a->nmsrs = CPU_STATE_MAX_MSRS;
	a->pad = 0;
	/* the compiler's padding between the MP state and the events */
	size_t gap = offsetof(struct cpu_state, mp_state) + sizeof(a->mp_state);
	memset((uint8_t *)a + gap, 0, offsetof(struct cpu_state, events) - gap);
	for (unsigned i = 0; i < CPU_STATE_MAX_MSRS; i++)
		a->msrs[i].reserved = 0;
	struct enc e;
	enc_init(&e);
	cpu_state_put(&e, a);
	REQUIRE_EQ(e.err, 0);
	struct dec d;
	char err[128];
	dec_init(&d, e.buf, e.len);
	REQUIRE_EQ(cpu_state_decode(&d, b, err, sizeof(err)), 0);
	CHECK_EQ(memcmp(a, b, sizeof(*a)), 0);
	for (size_t i = 0; i < sizeof(*a); i++)
		if (((uint8_t *)a)[i] != ((uint8_t *)b)[i]) {
			printf("    first difference at byte %zu of struct cpu_state\n", i);
			break;
		}
	/* a count beyond the struct's room is refused, not read */
	e.buf[144 + 8 * 23 + 2 * 10 + 7 * 8 + 4 * 8 + 4096] = 17; /* the XCR count's low byte */
	dec_init(&d, e.buf, e.len);
	CHECK_EQ(cpu_state_decode(&d, b, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "17 XCRs");
	enc_free(&e);
	free(a);
	free(b);
}

TEST(in_kernel_devices_every_field_round_trips)
{
	struct vm_kvm_state a, b;
	random_fill(&a, sizeof(a), 11);
	struct kvm_irqchip *chip[] = { &a.pic_master, &a.pic_slave, &a.ioapic };
	for (unsigned i = 0; i < 3; i++) {
		uint8_t keep[512];
		memcpy(keep, &chip[i]->chip, sizeof(keep));
		memset(&chip[i]->chip, 0, sizeof(chip[i]->chip));
		size_t n = i < 2 ? sizeof(struct kvm_pic_state) : sizeof(struct kvm_ioapic_state);
		memcpy(&chip[i]->chip, keep, n);
		chip[i]->pad = 0;
	}
	a.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	a.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	a.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	a.ioapic.chip.ioapic.pad = 0;
	memset(a.pit.reserved, 0, sizeof(a.pit.reserved));
	a.clock.pad0 = 0;
	memset(a.clock.pad, 0, sizeof(a.clock.pad));
	struct enc e;
	enc_init(&e);
	vm_kvm_state_put(&e, &a);
	REQUIRE_EQ(e.err, 0);
	struct dec d;
	char err[128];
	dec_init(&d, e.buf, e.len);
	REQUIRE_EQ(vm_kvm_state_decode(&d, &b, err, sizeof(err)), 0);
	CHECK_EQ(memcmp(&a, &b, sizeof(a)), 0);
	enc_free(&e);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
