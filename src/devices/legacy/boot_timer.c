#include "devices/legacy/boot_timer.h"
#include "util/log.h"
#include "util/util.h"

#include <string.h>
#include <time.h>

static uint64_t cpu_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void boot_timer_init(struct boot_timer *t)
{
	memset(t, 0, sizeof(*t));
	t->start_ns = now_ns();
	t->start_cpu_ns = cpu_ns();
}

void boot_timer_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	memset(data, 0, len);
}

void boot_timer_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct boot_timer *t = opaque;
	/* Only a single byte at offset 0 with the magic value counts. */
	if (off != 0 || len != 1 || data[0] != BOOT_TIMER_MAGIC)
		return;
	uint64_t us = (now_ns() - t->start_ns) / 1000;
	uint64_t cpu_us = (cpu_ns() - t->start_cpu_ns) / 1000;
	__atomic_add_fetch(&t->reports, 1, __ATOMIC_RELAXED);
	log_info("Guest-boot-time = %llu us %llu ms, %llu CPU us %llu CPU ms",
		 (unsigned long long)us, (unsigned long long)(us / 1000),
		 (unsigned long long)cpu_us, (unsigned long long)(cpu_us / 1000));
}
