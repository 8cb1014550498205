/* MC146818 CMOS real-time clock and NVRAM at ports 0x70/0x71. The time is the host's
 * UTC clock plus an offset the guest sets by writing the time registers. */
#ifndef PETREL_DEVICES_LEGACY_RTC_H
#define PETREL_DEVICES_LEGACY_RTC_H

#include <pthread.h>
#include <stdint.h>

#define RTC_INDEX_PORT 0x70
#define RTC_CENTURY_REG 0x32
#define RTC_BASE_MEM_REG 0x15   /* 0x15/0x16: KiB of base memory */
#define RTC_BASE_MEM_KIB 640
#define RTC_VCPUS_REG 0x5f      /* vCPUs - 1 (SeaBIOS's CMOS_BIOS_SMP_COUNT) */

struct rtc_state {
	uint8_t index;
	uint8_t cmos[128];     /* NVRAM; time registers 0-9 are computed on read */
	int64_t offset_sec;    /* guest time minus host time */
};

struct rtc {
	struct rtc_state st;
	pthread_mutex_t lock;
};

/* The RAM layout is recorded in the NVRAM the way PC firmware (and QEMU's pc machine) does:
 * 640 KiB of base memory (0x15/0x16), low_end is where RAM below 4 GiB ends (KiB above 1 MiB
 * at 0x17/0x18 and 0x30/0x31, capped at 0xffff; 64 KiB units above 16 MiB at 0x34/0x35),
 * high_bytes is RAM above 4 GiB (64 KiB units at 0x5b-0x5d). */
void rtc_init(struct rtc *r, uint64_t low_end, uint64_t high_bytes);
/* The vCPU count, as 0x5f = vcpus - 1 (SeaBIOS reads it; firmware boot sets it). */
void rtc_set_vcpus(struct rtc *r, unsigned vcpus);
/* Load saved state (the index register is checked: -EINVAL and why). */
/* The machine's reset, as a PC's RESET line: the clock and the CMOS memory (battery-backed)
 * stay; the interrupt enables and flags clear (as QEMU's). */
void rtc_reset(struct rtc *r);
int rtc_restore(struct rtc *r, const struct rtc_state *st, char *err, size_t errlen);
void rtc_io_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
void rtc_io_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);

/* Its saved state (section RTC): devices/dev_state.h, docs/snapshots.md. */
struct dev_state_ops;
extern const struct dev_state_ops rtc_state_ops;

#endif
