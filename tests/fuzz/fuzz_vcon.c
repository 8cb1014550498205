/* libFuzzer target: virtio-console (src/devices/virtio/console.c, console_port.c) driven by a
 * hostile driver through its queues, without KVM or an I/O thread, and its VCON state
 * mutated and loaded. Port 1's back end is one end of a socketpair (what the guest writes
 * goes there; the fuzzer reads it now and then), port 2 has none. The input is a script:
 *   byte 0: options (bit 0: a third port, bit 1: port 1 has no back end)
 *   then actions, one byte (low 3 bits = action, the rest an argument) plus arguments:
 *   0 write up to 64 input bytes into RAM at a 16-byte-aligned offset
 *   1 descriptor: queue, index, 4-byte address, 2-byte length, flags, next
 *   2 publish a head on a queue and notify it
 *   3 a control message (le32 id mostly small, le16 event, le16 value) on the control
 *     transmit queue, with a control receive buffer beside it
 *   4 a receive buffer (1 KiB) on a port's receive queue; bytes written into the peer
 *   5 the state saved, patched (offset, XOR byte, repeated), loaded, and the restore hook
 *   6 the driver resets the device and sets it up again
 *   7 configuration space read; the peer's bytes read
 * Nothing may crash, hang, leak or touch memory outside RAM; what the device pushes must lie
 * in the buffers given. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/dev_state.h"
#include "devices/virtio/console.h"
#include "util/codec.h"
#include "../fake_driver.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

#define RAM_SIZE (1u << 20)
#define QS 16
#define BUFS 0x80000

static struct guest_mem mem;
static uint8_t *ram;

static uint64_t qdesc(unsigned q) { return fake_driver_desc(0x1000, q); }

static void notify(struct virtio_dev *d, unsigned q)
{
	fake_driver_notify(d, q);
}

static void publish(struct virtio_dev *d, unsigned q, uint16_t head)
{
	fake_driver_publish(d, ram, 0x1000, QS, q, head);
}

static void driver_setup(struct virtio_dev *v)
{
	fake_driver_restart(v, ram, 0x1000, QS);
}

static void set_desc(unsigned q, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { addr, len, flags, next };
	memcpy(ram + qdesc(q) + 16 * (i % QS), &d, 16);
}

static void state_round(struct virtio_console *c, struct fuzz_input *in)
{
	const struct dev_state_ops *ops = c->vdev.ops->state;
	struct enc e;
	enc_init(&e);
	ops->save(&c->vdev, &e);
	unsigned n = fuzz_byte(in) % 8;
	for (unsigned i = 0; i < n && e.len; i++) {
		uint16_t off = 0;
		fuzz_take(in, &off, 2);
		e.buf[off % e.len] ^= fuzz_byte(in);
	}
	size_t len = e.len;
	if (fuzz_byte(in) & 1 && len)
		len -= 1 + fuzz_byte(in) % len;     /* cut short */
	struct dec d;
	dec_init(&d, e.buf, len);
	char err[256];
	if (ops->load(&c->vdev, &d, ops->version, err, sizeof(err)) == 0) {
		/* the restore's end: the core's kicks are the I/O thread's, here every queue */
		for (unsigned q = 0; q < c->vdev.nqueues; q++)
			notify(&c->vdev, q);
	} else if (!err[0]) {
		abort();   /* a refusal says why */
	}
	enc_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ram) {
		ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		mem.regions[0] = (struct guest_region){ 0, RAM_SIZE, ram };
		mem.nregions = 1;
		mem.total = RAM_SIZE;
	}
	memset(ram, 0, RAM_SIZE);
	struct fuzz_input in = { data, size };
	uint8_t opt = fuzz_byte(&in);
	int sp[2] = { -1, -1 };
	if (!(opt & 2) && socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0)
		return 0;
	struct vcon_port_params p[3] = { { "org.qemu.guest_agent.0", sp[1], NULL }, { "second", -1, NULL },
					 { "third", -1, NULL } };
	static struct virtio_console c;
	char err[256];
	if (virtio_console_create(&c, p, opt & 1 ? 3 : 2, &mem, NULL, err, sizeof(err)) < 0)
		abort();
	driver_setup(&c.vdev);
	unsigned nq = c.vdev.nqueues;
	uint16_t next[VIRTIO_MAX_QUEUES] = { 0 };
	while (in.left) {
		uint8_t a = fuzz_byte(&in), arg = a >> 3;
		switch (a & 7) {
		case 0: {
			uint16_t off = 0;
			fuzz_take(&in, &off, 2);
			size_t n = arg % 65, at = BUFS + (off % 0x7000) * 16ull;
			for (size_t i = 0; i < n && in.left; i++)
				ram[at + i] = fuzz_byte(&in);
			break;
		}
		case 1: {
			uint32_t addr = 0;
			uint16_t len = 0;
			uint8_t q = fuzz_byte(&in), i = fuzz_byte(&in);
			fuzz_take(&in, &addr, 4);
			fuzz_take(&in, &len, 2);
			uint8_t fl = fuzz_byte(&in), nx = fuzz_byte(&in);
			set_desc(q % nq, i, arg & 1 ? addr : BUFS + addr % 0x70000, len, fl & 7, nx);
			break;
		}
		case 2:
			publish(&c.vdev, arg % nq, fuzz_byte(&in));
			break;
		case 3: {
			uint8_t m[8];
			uint32_t id = arg & 1 ? fuzz_byte(&in) % 5 : 0;
			if (arg & 2)
				fuzz_take(&in, &id, 4);
			le_store(m, id, 4);
			le_store(m + 4, fuzz_byte(&in) % (arg & 4 ? 256 : 9), 2);
			le_store(m + 6, fuzz_byte(&in), 2);
			unsigned i = next[3]++ % QS, j = next[2]++ % QS;
			uint64_t at = BUFS + 0x10000 + 16ull * i, rx = BUFS + 0x20000 + 1024ull * j;
			memcpy(ram + at, m, 8);
			set_desc(3, i, at, arg & 8 ? fuzz_byte(&in) % 12 : 8, 0, 0);
			set_desc(2, j, rx, arg & 16 ? fuzz_byte(&in) : 1024, 2, 0);
			publish(&c.vdev, 2, (uint16_t)j);
			publish(&c.vdev, 3, (uint16_t)i);
			break;
		}
		case 4: {
			unsigned port = arg % (opt & 1 ? 4 : 3), q = VCON_RXQ(port);
			unsigned i = next[q]++ % QS;
			set_desc(q, i, BUFS + 0x40000 + 1024ull * i, 1024, 2, 0);
			publish(&c.vdev, q, (uint16_t)i);
			if (sp[0] >= 0 && (arg & 4)) {
				uint8_t b[64];
				size_t n = fuzz_byte(&in) % sizeof(b);
				memset(b, 'x', n);
				if (write(sp[0], b, n) < 0)
					break;
			}
			break;
		}
		case 5:
			state_round(&c, &in);
			break;
		case 6:
			driver_setup(&c.vdev);
			memset(next, 0, sizeof(next));
			break;
		case 7: {
			uint8_t cfg[VCON_CONFIG_LEN];
			pthread_mutex_lock(&c.vdev.lock);
			virtio_config_access(&c.vdev, arg % VCON_CONFIG_LEN, cfg, 1, false);
			pthread_mutex_unlock(&c.vdev.lock);
			uint8_t b[4096];
			if (sp[0] >= 0 && read(sp[0], b, sizeof(b)) < 0)
				break;
			break;
		}
		}
	}
	virtio_dev_destroy(&c.vdev);
	if (sp[0] >= 0)
		close(sp[0]);
	return 0;
}
