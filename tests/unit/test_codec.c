/* The field-by-field state encoding (src/util/codec.h): fixed widths, little-endian whatever
 * the host, no padding; a reader that never goes past its input and says why it refused. And
 * the device state verbs built on it, for the legacy devices: a round trip through the bytes,
 * a cut and a grown section refused, the device left as it was. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
