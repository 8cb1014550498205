/* libFuzzer target: virtio-balloon (src/devices/virtio/balloon.c) driven through its queues
 * by a hostile driver, without KVM. Guest RAM is an anonymous mapping (so MADV_DONTNEED really
 * drops pages); the rings live at fixed places in it and the input is a script:
 *   byte 0: options (bit 0 statistics, bit 1 free page reporting, bit 2 deflate_on_oom,
 *           bit 3 free page hinting)
 *   then actions, one byte (low 3 bits = action, the rest an argument) plus arguments:
 *   0 write up to 64 input bytes into RAM at a 16-byte-aligned offset (PFN lists, stats)
 *   1 descriptor: queue, index, 4-byte address, 2-byte length, flags, next
 *   2 publish a head on a queue and notify it
 *   3 an inflate or deflate request of up to 32 PFNs read from the input (mostly in RAM), or
 *     (bit 4) a hinting chain: a command id (mostly the open run's) and up to 4 ranges
 *   4 statistics polling tick
 *   4 statistics polling tick
 *   5 configuration space access (offset, length, write or read)
 *   6 new target (PATCH /balloon); bits 4-5: hinting start (bit 6: acknowledge), stop, status
 *   7 pause (quiesce) or reset by the driver and set up again
 * Nothing may crash, hang or touch memory outside RAM; the counters must add up; a hinted
 * page sent while no hinting run is open keeps its data. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "devices/virtio/balloon.h"
#include "../fake_driver.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

#define RAM_SIZE (1u << 20)
#define QS 16
#define LIST_BUF 0xc000
#define HINT_CMD 0xe000     /* the driver's command id buffer */
#define CANARY 0x1f000      /* a page hinted while no run is open: must keep its bytes */

static struct guest_mem mem;
static uint8_t *ram;

static uint64_t qdesc(unsigned q) { return fake_driver_desc(0x1000, q); }

static void publish(struct virtio_dev *d, unsigned q, uint16_t head)
{
	fake_driver_publish(d, ram, 0x1000, QS, q, head);
}

static void driver_setup(struct virtio_dev *v)
{
	fake_driver_restart(v, ram, 0x1000, QS);
}

/* A chain on the hinting queue (when there is one): descriptor 0 the command id (mostly the
 * open run's, else STOP, DONE or anything), then up to 4 writable ranges. While no run is open
 * the canary page rides along and must come back untouched. */
static void hint_chain(struct virtio_balloon *b, struct fuzz_input *in)
{
	struct virtio_dev *d = &b->vdev;
	if (!(b->st.flags & BALLOON_STATE_HINTING))
		return;
	unsigned q = 0;
	while (q < d->nqueues && virtio_balloon_queue_role(d, q) != BALLOON_Q_HINTING)
		q++;
	if (q == d->nqueues)
		return;
	uint8_t k = fuzz_byte(in);
	uint32_t cmd = b->st.hint_cmd_id;
	if ((k & 3) == 1)
		cmd = k & 4 ? BALLOON_HINT_CMD_DONE : BALLOON_HINT_CMD_STOP;
	else if ((k & 3) == 2)
		fuzz_take(in, &cmd, 4);
	memcpy(ram + HINT_CMD, &cmd, 4);
	unsigned n = (k >> 3) % 5, di = 0;
	bool with_cmd = !(k & 0x80);
	bool open = b->st.hint_cmd_id >= BALLOON_HINT_CMD_FIRST;
	struct virtq_desc desc;
	if (with_cmd) {
		desc = (struct virtq_desc){ HINT_CMD, 4, n ? 1 : 0, 1 };
		memcpy(ram + qdesc(q), &desc, 16);
		di = 1;
	}
	for (unsigned r = 0; r < n; r++, di++) {
		uint32_t addr = 0;
		uint16_t len = 0;
		fuzz_take(in, &addr, 4);
		fuzz_take(in, &len, 2);
		/* mostly pages above the rings; the canary while no run is open */
		uint64_t gpa = 0x20000 + (uint64_t)addr % (RAM_SIZE - 0x20000);
		uint32_t l = 1 + len % 0x4000;
		if (!open && r == 0) {
			gpa = CANARY;
			l = 0x1000;
		}
		if (gpa + l > RAM_SIZE)
			l = (uint32_t)(RAM_SIZE - gpa);
		desc = (struct virtq_desc){ gpa, l, 2 | (r + 1 < n ? 1 : 0), (uint16_t)(di + 1) };
		memcpy(ram + qdesc(q) + 16 * di, &desc, 16);
	}
	if (!di)
		return;
	memset(ram + CANARY, 0xc5, 0x1000);
	publish(d, q, 0);
	/* Recheck: the chain's own STOP may have closed the run (ack), never opened one. */
	if (!open && n && ram[CANARY] != 0xc5)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ram) {
		ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (ram == MAP_FAILED)
			abort();
		mem.regions[0] = (struct guest_region){ 0, RAM_SIZE, ram };
		mem.nregions = 1;
		mem.total = RAM_SIZE;
	}
	madvise(ram, RAM_SIZE, MADV_DONTNEED); /* a fresh, zeroed RAM per input */
	struct fuzz_input in = { data, size };
	uint8_t opt = fuzz_byte(&in);
	struct balloon_params p = { .amount_mib = 1, .stats_polling_interval_s = opt & 1 ? 1 : 0,
				    .free_page_reporting = opt & 2, .deflate_on_oom = opt & 4,
				    .free_page_hinting = opt & 8 };
	static struct virtio_balloon b;
	if (virtio_balloon_create(&b, &p, &mem, NULL) < 0)
		abort();
	struct virtio_dev *d = &b.vdev;
	driver_setup(d);
	uint64_t pfns_sent = 0;

	for (int steps = 0; in.left && steps < 300; steps++) {
		uint8_t a = fuzz_byte(&in);
		switch (a & 7) {
		case 0: {
			uint16_t off = 0;
			uint8_t n = 0;
			fuzz_take(&in, &off, 2);
			n = fuzz_byte(&in) % 65;
			uint64_t at = (uint64_t)off * 16;
			if (at + n <= RAM_SIZE)
				fuzz_take(&in, ram + at, n > in.left ? in.left : n);
			break;
		}
		case 1: {
			unsigned q = (a >> 3) % d->nqueues, i = fuzz_byte(&in) % QS;
			struct virtq_desc desc = { 0 };
			uint32_t addr = 0;
			uint16_t len = 0;
			fuzz_take(&in, &addr, 4);
			fuzz_take(&in, &len, 2);
			desc.addr = addr % (RAM_SIZE + 0x10000); /* sometimes past the end */
			desc.len = len;
			desc.flags = fuzz_byte(&in) & 7;
			desc.next = fuzz_byte(&in);
			memcpy(ram + qdesc(q) + 16 * i, &desc, 16);
			break;
		}
		case 2:
			publish(d, (a >> 3) % d->nqueues, fuzz_byte(&in) % QS);
			break;
		case 3: {
			if ((a >> 4) & 1) {
				hint_chain(&b, &in);
				break;
			}
			unsigned q = (a >> 3) & 1, n = fuzz_byte(&in) % 33, i = fuzz_byte(&in) % QS;
			uint32_t *list = (uint32_t *)(ram + LIST_BUF + 0x1000 * q);
			for (unsigned k = 0; k < n; k++) {
				uint16_t v = 0;
				fuzz_take(&in, &v, 2);
				/* mostly pages above the rings, sometimes anywhere in 32 bits */
				list[k] = v & 0x8000 ? (uint32_t)v << 12 | v : 0x20 + v % ((RAM_SIZE >> 12) - 0x20);
			}
			struct virtq_desc desc = { LIST_BUF + 0x1000ull * q, 4 * n, 0, 0 };
			memcpy(ram + qdesc(q) + 16 * i, &desc, 16);
			publish(d, q, (uint16_t)i);
			pfns_sent += n;
			break;
		}
		case 4:
			virtio_balloon_stats_tick(&b);
			break;
		case 5: {
			uint8_t off = fuzz_byte(&in) % BALLOON_CONFIG_LEN, len = 1u << (fuzz_byte(&in) % 3);
			uint8_t buf[4] = { 0 };
			fuzz_take(&in, buf, 4);
			if (off + len <= BALLOON_CONFIG_LEN) {
				pthread_mutex_lock(&d->lock);
				virtio_config_access(d, off, buf, len, (a >> 3) & 1);
				pthread_mutex_unlock(&d->lock);
			}
			break;
		}
		case 6: {
			uint32_t mib = 0;
			fuzz_take(&in, &mib, 4);
			virtio_balloon_set_target_mib(&b, mib % 4096);
			if ((a >> 3) & 1)
				virtio_balloon_set_stats_interval(&b, mib % 5);
			uint32_t host, guest;
			bool has_guest;
			switch ((a >> 4) & 3) {
			case 1:
				virtio_balloon_hint_start(&b, (a >> 6) & 1);
				break;
			case 2:
				virtio_balloon_hint_stop(&b);
				break;
			case 3:
				virtio_balloon_hint_status(&b, &host, &has_guest, &guest);
				break;
			}
			break;
		}
		case 7:
			if ((a >> 3) & 1)
				virtio_quiesce(d);
			else
				driver_setup(d);
			break;
		}
	}
	/* Released and refused pages come from PFN lists: never more of them than sent, except
	 * for lists the script wrote itself (case 0/1), which a chain caps per request. */
	if (b.ctr.pages_released > pfns_sent + (uint64_t)BALLOON_MAX_PFNS_PER_REQ * (b.ctr.inflate_count + 1))
		abort();
	virtio_dev_destroy(d);
	return 0;
}
