#include "devices/legacy/rtc.h"
#include "devices/dev_state.h"
#include "util/error.h"
#include "util/utc.h"

#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define RTC_MAX_OFFSET ((int64_t)1 << 42) /* seconds: about 139,000 years */

enum {
	REG_SEC = 0, REG_MIN = 2, REG_HOUR = 4, REG_WDAY = 6, REG_MDAY = 7, REG_MON = 8,
	REG_YEAR = 9, REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d,
	B_SET = 0x80, B_PIE = 0x40, B_AIE = 0x20, B_SQWE = 0x08, B_DM_BINARY = 0x04, B_24H = 0x02,
	D_VRT = 0x80,
};

void rtc_init(struct rtc *r, uint64_t low_end, uint64_t high_bytes)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	uint8_t *c = r->st.cmos;
	c[REG_A] = 0x26;               /* 32.768 kHz time base, 1024 Hz periodic rate */
	c[REG_B] = B_24H;              /* BCD, 24-hour mode */
	c[REG_D] = D_VRT;              /* battery good */
	/* Memory sizes as PC firmware records them (and QEMU's pc machine): 640 KiB of base
	 * memory, KiB between 1 and 16 MiB ... */
	c[RTC_BASE_MEM_REG] = (uint8_t)RTC_BASE_MEM_KIB;
	c[RTC_BASE_MEM_REG + 1] = (uint8_t)(RTC_BASE_MEM_KIB >> 8);
	uint64_t ext = low_end > (1 << 20) ? (low_end - (1 << 20)) >> 10 : 0;
	if (ext > 0xffff)
		ext = 0xffff;
	c[0x17] = c[0x30] = (uint8_t)ext;
	c[0x18] = c[0x31] = (uint8_t)(ext >> 8);
	/* ... 64 KiB blocks between 16 MiB and 4 GiB ... */
	uint64_t low = low_end > (16 << 20) ? (low_end - (16 << 20)) >> 16 : 0;
	if (low > 0xffff)
		low = 0xffff;
	c[0x34] = (uint8_t)low;
	c[0x35] = (uint8_t)(low >> 8);
	/* ... and 64 KiB blocks above 4 GiB. */
	uint64_t high = high_bytes >> 16;
	c[0x5b] = (uint8_t)high;
	c[0x5c] = (uint8_t)(high >> 8);
	c[0x5d] = (uint8_t)(high >> 16);
}

void rtc_set_vcpus(struct rtc *r, unsigned vcpus)
{
	pthread_mutex_lock(&r->lock);
	r->st.cmos[RTC_VCPUS_REG] = (uint8_t)(vcpus ? vcpus - 1 : 0);
	pthread_mutex_unlock(&r->lock);
}

static uint8_t to_bcd(unsigned v) { return (uint8_t)(((v / 10) << 4) | (v % 10)); }
static unsigned from_bcd(uint8_t v) { return (v >> 4) * 10 + (v & 0x0f); }

static uint8_t encode(const struct rtc_state *st, unsigned v)
{
	return (st->cmos[REG_B] & B_DM_BINARY) ? (uint8_t)v : to_bcd(v);
}

static unsigned decode(const struct rtc_state *st, uint8_t v)
{
	return (st->cmos[REG_B] & B_DM_BINARY) ? v : from_bcd(v);
}

static void guest_tm(const struct rtc_state *st, struct tm *tm)
{
	utc_from_epoch((int64_t)time(NULL) + st->offset_sec, tm);
}

static uint8_t encode_hour(const struct rtc_state *st, int hour)
{
	if (st->cmos[REG_B] & B_24H)
		return encode(st, (unsigned)hour);
	unsigned h12 = hour % 12 == 0 ? 12 : (unsigned)hour % 12;
	return (uint8_t)(encode(st, h12) | (hour >= 12 ? 0x80 : 0));
}

static bool is_time_reg(unsigned idx)
{
	return (idx <= REG_YEAR && idx != 1 && idx != 3 && idx != 5) || idx == RTC_CENTURY_REG;
}

static uint8_t read_reg(struct rtc_state *st, unsigned idx)
{
	struct tm tm;
	switch (idx) {
	case REG_SEC: case REG_MIN: case REG_HOUR: case REG_WDAY:
	case REG_MDAY: case REG_MON: case REG_YEAR: case RTC_CENTURY_REG:
		if (st->cmos[REG_B] & B_SET)
			return st->cmos[idx]; /* frozen while the guest sets the clock */
		guest_tm(st, &tm);
		switch (idx) {
		case REG_SEC: return encode(st, (unsigned)tm.tm_sec);
		case REG_MIN: return encode(st, (unsigned)tm.tm_min);
		case REG_HOUR: return encode_hour(st, tm.tm_hour);
		case REG_WDAY: return encode(st, (unsigned)tm.tm_wday + 1);
		case REG_MDAY: return encode(st, (unsigned)tm.tm_mday);
		case REG_MON: return encode(st, (unsigned)tm.tm_mon + 1);
		case REG_YEAR: return encode(st, (unsigned)(tm.tm_year % 100));
		default: return encode(st, (unsigned)(tm.tm_year + 1900) / 100);
		}
	case REG_A:
		return st->cmos[REG_A] & 0x7f; /* never "update in progress" */
	case REG_C: {
		uint8_t v = st->cmos[REG_C]; /* interrupt flags clear on read */
		st->cmos[REG_C] = 0;
		return v;
	}
	default:
		return st->cmos[idx];
	}
}

static int decode_hour(const struct rtc_state *st, uint8_t v)
{
	unsigned val = decode(st, (uint8_t)(v & 0x7f));
	if (st->cmos[REG_B] & B_24H)
		return (int)val;
	return (int)(val % 12) + ((v & 0x80) ? 12 : 0);
}

/* The guest sets the clock without SET: recompute the offset from the register it changed. */
static void write_time(struct rtc_state *st, unsigned idx, uint8_t v)
{
	struct tm tm;
	guest_tm(st, &tm);
	unsigned val = decode(st, v); /* bit 7 is the PM flag only in the hour register */
	switch (idx) {
	case REG_SEC: tm.tm_sec = (int)val; break;
	case REG_MIN: tm.tm_min = (int)val; break;
	case REG_HOUR: tm.tm_hour = decode_hour(st, v); break;
	case REG_WDAY: return; /* derived from the date */
	case REG_MDAY: tm.tm_mday = (int)val; break;
	case REG_MON: tm.tm_mon = (int)val - 1; break;
	case REG_YEAR: tm.tm_year = (tm.tm_year / 100) * 100 + (int)val; break;
	default: tm.tm_year = (int)val * 100 + tm.tm_year % 100 - 1900; break;
	}
	st->offset_sec = utc_to_epoch(&tm) - (int64_t)time(NULL);
}

/* Register B. Setting SET freezes the time registers (the guest then writes them one by
 * one, e.g. year, month, day, ... as Linux does); clearing it starts the clock at the time
 * they hold. Applying each write at once instead would let an intermediate date such as
 * February 31 roll over into March. */
static void write_reg_b(struct rtc_state *st, uint8_t v)
{
	uint8_t old = st->cmos[REG_B];
	if ((v & B_SET) && !(old & B_SET)) {
		for (unsigned i = 0; i <= RTC_CENTURY_REG; i++)
			if (is_time_reg(i))
				st->cmos[i] = read_reg(st, i);
	}
	st->cmos[REG_B] = v;
	if (!(v & B_SET) && (old & B_SET)) {
		const uint8_t *c = st->cmos;
		struct tm tm = {
			.tm_sec = (int)decode(st, c[REG_SEC]), .tm_min = (int)decode(st, c[REG_MIN]),
			.tm_hour = decode_hour(st, c[REG_HOUR]), .tm_mday = (int)decode(st, c[REG_MDAY]),
			.tm_mon = (int)decode(st, c[REG_MON]) - 1,
			.tm_year = (int)(decode(st, c[RTC_CENTURY_REG]) * 100 + decode(st, c[REG_YEAR])) - 1900,
		};
		st->offset_sec = utc_to_epoch(&tm) - (int64_t)time(NULL);
	}
}

void rtc_io_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct rtc *r = opaque;
	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < len; i++)
		data[i] = ((off + i) & 1) ? read_reg(&r->st, r->st.index) : 0xff;
	pthread_mutex_unlock(&r->lock);
}

void rtc_io_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct rtc *r = opaque;
	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < len; i++) {
		uint8_t v = data[i];
		if (!((off + i) & 1)) {
			r->st.index = v & 0x7f; /* bit 7 is the NMI mask */
			continue;
		}
		unsigned idx = r->st.index;
		if (is_time_reg(idx) && (r->st.cmos[REG_B] & B_SET))
			r->st.cmos[idx] = v;
		else if (is_time_reg(idx))
			write_time(&r->st, idx, v);
		else if (idx == REG_B)
			write_reg_b(&r->st, v);
		else if (idx == REG_C || idx == REG_D)
			; /* read-only */
		else
			r->st.cmos[idx] = v;
	}
	pthread_mutex_unlock(&r->lock);
}

void rtc_reset(struct rtc *r)
{
	pthread_mutex_lock(&r->lock);
	r->st.cmos[REG_B] &= (uint8_t)~(B_PIE | B_AIE | B_SQWE);
	r->st.cmos[REG_C] = 0;
	pthread_mutex_unlock(&r->lock);
}

int rtc_restore(struct rtc *r, const struct rtc_state *st, char *err, size_t errlen)
{
	if (st->index >= sizeof(st->cmos))
		return error_set(err, errlen, -EINVAL, "rtc: saved index register %u is past the %zu NVRAM bytes", st->index,
			 sizeof(st->cmos));
	/* Far beyond any date the guest can set (century 255): time(NULL) + offset must not overflow. */
	if (st->offset_sec > RTC_MAX_OFFSET || st->offset_sec < -RTC_MAX_OFFSET)
		return error_set(err, errlen, -EINVAL, "rtc: saved clock offset %lld s is out of range", (long long)st->offset_sec);
	pthread_mutex_lock(&r->lock);
	r->st = *st;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* ---- saved state (section RTC, docs/snapshots.md) ---- */

static void rtc_save_state(void *dev, struct enc *e)
{
	struct rtc *r = dev;
	pthread_mutex_lock(&r->lock);
	struct rtc_state st = r->st;
	pthread_mutex_unlock(&r->lock);
	put_u8(e, st.index);
	put_bytes(e, st.cmos, sizeof(st.cmos));
	put_u64(e, (uint64_t)st.offset_sec);
}

static int rtc_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	struct rtc_state st = { 0 };
	st.index = get_u8(d);
	get_bytes(d, st.cmos, sizeof(st.cmos));
	st.offset_sec = (int64_t)get_u64(d);
	int e = dec_end(d, "RTC", err, errlen);
	return e < 0 ? e : rtc_restore(dev, &st, err, errlen);
}

const struct dev_state_ops rtc_state_ops = {
	.id = STATE_ID('R', 'T', 'C', ' '), .version = 1,
	.save = rtc_save_state, .load = rtc_load_state,
};
