/* virtio-blk's busy-poll window (blk_poll.h). */
#include "devices/virtio/blk/blk_poll.h"
#include "devices/virtio/virtq.h"
#include "block/disk.h"
#include "util/util.h"

#include <sched.h>
#include <string.h>

unsigned blk_poll_cpus(void)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	return (unsigned)CPU_COUNT(&set);
}

void blk_poll_init(struct blk_poll *p, uint32_t poll_us, unsigned cpus)
{
	memset(p, 0, sizeof(*p));
	p->fixed_ns = (uint64_t)poll_us * 1000;
	p->adaptive = !poll_us && cpus >= 2;
}

void blk_poll_slept(struct blk_poll *p, uint64_t now)
{
	p->idle_since = now ? now : 1;
}

void blk_poll_woke(struct blk_poll *p, uint64_t now)
{
	if (!p->adaptive || !p->idle_since)
		return;
	/* The driver's refill took the window spent in vain plus the time asleep. */
	uint64_t gap = (now > p->idle_since ? now - p->idle_since : 0) + p->cur_ns;
	p->idle_since = 0;
	if (gap > BLK_POLL_MAX_NS)
		p->cur_ns = 0;
	else
		p->cur_ns = MIN((uint64_t)BLK_POLL_MAX_NS, MAX((uint64_t)BLK_POLL_MIN_NS, 2 * gap));
}

static bool work(struct virtq *vq, struct disk *disk)
{
	return virtq_has_work(vq) || disk_has_completions(disk);
}

bool blk_poll_wait(struct blk_poll *p, struct virtq *vq, struct disk *disk)
{
	uint64_t win = p->fixed_ns ? p->fixed_ns : p->cur_ns;
	if (!win)
		return false;
	p->polls++;
	uint64_t end = now_ns() + win;
	for (;;) {
		/* the clock every 32 looks: a ring's index is cheaper to read than the time */
		for (unsigned i = 0; i < 32; i++) {
			if (work(vq, disk)) {
				p->hits++;
				return true;
			}
			__builtin_ia32_pause();
		}
		if (now_ns() >= end)
			return false;
	}
}
