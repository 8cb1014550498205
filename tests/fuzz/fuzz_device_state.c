/* libFuzzer target: device states from a snapshot (or a migration or replication stream, which
 * carry the same sections), loaded through each device's own load verb (devices/dev_state.h)
 * and then used. The machine is fuzz_ports.c's (legacy port devices, PCI host bridge, a
 * virtio-rng on virtio-pci and one on virtio-mmio, 64 KiB of RAM; fuzz_port_machine.h), plus a
 * virtio-balloon as fuzz_balloon.c creates it, on a virtio-mmio transport that is not mapped
 * (its queues are served directly), and an E1000 as fuzz_e1000.c creates it (a datagram socket
 * for its tap, not on the bus: its registers are driven directly). Each device's section starts as the bytes its save verb
 * wrote for the machine just built (what snapshot/save.c writes), is changed by the input, and
 * goes to its load verb in the order snapshot/load.c follows (vm/vm_state.c): the vCPU
 * hot-plug state (cpu_hotplug_state_get and the device's part of vcpu_hotplug_load), UART,
 * I804, RTC, ACPI, PCIB, GED, then for each virtio device its own section (the balloon's BALN)
 * and its transport's VIRT, then the E1000's E1K, then the chipset's I44F, PIIX and P92 , then
 * an OVMF machine's CFI flash FLSH (one 4 KiB block, its contents a heap block of exactly that
 * size). A refusal stops there, as a load does (the VM is destroyed), and
 * must say why. When all were accepted, the guest uses the restored devices: register
 * accesses as in fuzz_ports, every queue served, a statistics tick, the E1000's I/O run and its
 * interrupt cause read, the flash confirmed (what a pending erase or buffered write waits for),
 * read and put back in read-array mode.
 *
 * Input: the balloon's options (a byte, as fuzz_balloon's: bit 0 statistics, 1 free page
 * reporting, 2 deflate_on_oom, 3 free page hinting), then per section in the order above
 * (CPUH, UART, I804, RTC, ACPI, PCIB, GED, VIRT#0 the rng on PCI, VIRT#1 the rng on MMIO,
 * BALN, VIRT#2 the balloon, E1K, I44F, PIIX, P92 , FLSH) a mode byte and its bytes:
 *   mode & 3 == 0  the saved section as it is (no more bytes)
 *   mode & 3 == 1  1 + (mode >> 2) patches XORed into it, == 2 the same written over it:
 *                  a patch is a le16 offset (modulo the section's length), a length byte
 *                  (1 + b % 16) and that many bytes (cut at the end of the section)
 *   mode & 3 == 3  a new length (le16, at most SEC_MAX) and that many bytes: a section cut
 *                  short or grown (what the input lacks stays as saved, or zero past it)
 * An input that ends early leaves the rest saved. Then 64 bytes of RAM seed (repeated over RAM;
 * missing ones are zero) and fuzz_ports' accesses of 9 bytes each until the end. Nothing may
 * crash, hang, touch memory outside RAM or leak; an accepted state is one the guest could not
 * turn against the host. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/dev_state.h"
#include "devices/e1000/e1000.h"
#include "devices/flash/cfi_flash.h"
#include "devices/virtio/balloon.h"
#include "fuzz_common.h"
#include "fuzz_e1000_card.h"
#include "fuzz_port_machine.h"

FUZZ_QUIET_LOGS()

#define NSEC 16           /* the sections, in load order */
#define SEC_MAX 8192      /* a section's bytes here (FLSH is the longest: 4 KiB of contents and ~320 bytes) */

/* One section: its device, its verbs (NULL for CPUH: the codec below) and its bytes. */
struct section {
	const struct dev_state_ops *ops;
	void *dev;
	uint8_t buf[SEC_MAX];
	size_t len;
};

/* The balloon's transport: never mapped, only its state verbs are used. */
static struct virtio_mmio balloon_tr;

static void list_sections(struct port_machine *m, struct virtio_balloon *b, struct e1000 *card, struct cfi_flash *flash,
			  struct section *s)
{
	memset(&balloon_tr, 0, sizeof(balloon_tr));
	balloon_tr.vdev = &b->vdev;
	const struct dev_state_ops *ops[NSEC] = {
		NULL, &serial_state_ops, &i8042_state_ops, &rtc_state_ops, &acpi_pm_state_ops, &pci_bus_state_ops,
		&ged_state_ops, &virtio_pci_state_ops, &virtio_mmio_state_ops, b->vdev.ops->state,
		&virtio_mmio_state_ops, &e1000_state_ops, &i440fx_state_ops, &piix_state_ops, &port92_state_ops,
		&cfi_flash_state_ops,
	};
	void *dev[NSEC] = { &m->cpuhp, &m->serial, &m->kbd, &m->rtc, &m->pm, &m->pci, &m->ged, &m->vp, &m->vm,
			    &b->vdev, &balloon_tr, card, &m->host, &m->piix, &m->p92, flash };
	for (unsigned i = 0; i < NSEC; i++) {
		s[i].ops = ops[i];
		s[i].dev = dev[i];
	}
}

/* What save.c writes for the freshly built machine and balloon. */
static void save_all(struct section *s)
{
	for (unsigned i = 0; i < NSEC; i++) {
		struct enc e;
		enc_init(&e);
		if (s[i].ops) {
			s[i].ops->save(s[i].dev, &e);
		} else {
			struct vcpu_hotplug_state hs;
			cpu_hotplug_save(s[i].dev, &hs);
			cpu_hotplug_state_put(&e, &hs);
		}
		FUZZ_CHECK(e.err == 0 && e.len <= SEC_MAX);
		memset(s[i].buf, 0, SEC_MAX);
		memcpy(s[i].buf, e.buf, e.len);
		s[i].len = e.len;
		enc_free(&e);
	}
}

/* A mode byte and what it says (see the top). */
static void mutate(struct fuzz_input *in, struct section *s)
{
	uint8_t mode = fuzz_byte(in), *p = s->buf;
	if ((mode & 3) == 3) {
		uint16_t len = 0;
		fuzz_take(in, &len, 2);
		s->len = len % (SEC_MAX + 1);
		size_t n = in->left < s->len ? in->left : s->len;
		fuzz_take(in, p, n);
		return;
	}
	for (unsigned k = 0; (mode & 3) && s->len && k < 1 + (mode >> 2); k++) {
		uint16_t off;
		if (!fuzz_take(in, &off, 2))
			return;
		unsigned len = 1 + fuzz_byte(in) % 16u;
		for (size_t i = 0, at = off % s->len; i < len && in->left; i++, at++) {
			uint8_t v = fuzz_byte(in);
			if (at < s->len)
				p[at] = (mode & 3) == 1 ? p[at] ^ v : v;
		}
	}
}

/* What load.c does with each section, in its order; a copy of exactly its length, so a read
 * past it is the sanitizer's to see. */
static int load_all(const struct section *s, char *err, size_t errlen)
{
	int e = 0;
	for (unsigned i = 0; !e && i < NSEC; i++) {
		uint8_t *sec = fuzz_dup(s[i].buf, s[i].len);
		struct dec d;
		dec_init(&d, sec, s[i].len);
		if (s[i].ops) {
			e = s[i].ops->load(s[i].dev, &d, s[i].ops->version, err, errlen);
		} else {
			struct vcpu_hotplug_state hs;
			if ((e = cpu_hotplug_state_get(&d, &hs, err, errlen)) == 0)
				e = cpu_hotplug_restore(s[i].dev, &hs, err, errlen);
		}
		free(sec);
	}
	return e;
}

/* What the I/O thread does for a restored balloon: every queue looked at, a polling tick. */
static void serve_balloon(struct virtio_balloon *b)
{
	struct virtio_dev *d = &b->vdev;
	for (unsigned q = 0; q < d->nqueues; q++) {
		pthread_mutex_lock(&d->lock);
		if (virtio_is_running(d) && virtq_is_enabled(&d->vq[q]))
			d->ops->queue_notify(d, q);
		pthread_mutex_unlock(&d->lock);
	}
	virtio_balloon_stats_tick(b);
}

static bool make_balloon(struct virtio_balloon *b, uint8_t opt, struct guest_mem *mem)
{
	struct balloon_params p = { .amount_mib = 1, .stats_polling_interval_s = opt & 1 ? 1 : 0,
				    .free_page_reporting = opt & 2, .deflate_on_oom = opt & 4,
				    .free_page_hinting = opt & 8 };
	return virtio_balloon_create(b, &p, mem, NULL) == 0;
}

/* What the I/O thread and a driver do with a restored card: a tap and timer round, ICR read. */
static void serve_e1000(struct e1000 *e)
{
	uint8_t icr[4];
	e1000_poll(e);
	e1000_bar_read(e, 0, E1000_ICR, icr, 4);
}

/* An OVMF machine's vars flash: one block, fresh for each input (the machine is not told of
 * its mode: there is no slot here). */
static uint8_t *make_flash(struct cfi_flash *f)
{
	uint8_t *mem = malloc(CFI_FLASH_BLOCK);
	FUZZ_CHECK(mem);
	memset(mem, 0xff, CFI_FLASH_BLOCK);
	memset(f, 0, sizeof(*f));
	FUZZ_CHECK(cfi_flash_init(f, mem, CFI_FLASH_BLOCK, NULL, NULL) == 0);
	return mem;
}

/* What OVMF does next with a restored flash: confirm, read, back to read-array mode. */
static void use_flash(struct cfi_flash *f)
{
	uint8_t b[8] = { 0xd0 };
	cfi_flash_write(f, 0, b, 1);
	cfi_flash_read(f, CFI_FLASH_BLOCK - 4, b, 8);
	/* READ_ARRAY: a buffered write still taking data takes these as data (at most its 256
	 * bytes), then refuses them as a confirm; the next one is obeyed */
	b[0] = 0xff;
	for (unsigned i = 0; i < CFI_FLASH_BUFFER + 2 && !cfi_flash_in_array_mode(f); i++)
		cfi_flash_write(f, 0, b, 1);
	FUZZ_CHECK(cfi_flash_in_array_mode(f));
}

/* The 64-byte RAM seed after the states (missing bytes zero): RAM holds it before the states
 * are loaded, as in a restore. */
static void fill_ram(struct port_machine *m, struct fuzz_input *in)
{
	uint8_t seed[PORT_RAM_SEED] = { 0 };
	size_t n = in->left < sizeof(seed) ? in->left : sizeof(seed);
	fuzz_take(in, seed, n);
	port_machine_fill_ram(m, seed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct port_machine m;
	static struct virtio_balloon b;
	static struct section s[NSEC];
	static struct e1000 card;
	static struct cfi_flash flash;
	int peer = -1;
	struct fuzz_input in = { data, size };
	port_machine_build(&m);
	bool have_balloon = m.ok && make_balloon(&b, fuzz_byte(&in), m.mem);
	bool have_card = have_balloon && fuzz_e1000_make(&card, &peer, m.mem) == 0;
	if (have_balloon && !have_card)
		virtio_dev_destroy(&b.vdev);
	if (have_card) {
		uint8_t *flash_mem = make_flash(&flash);
		list_sections(&m, &b, &card, &flash, s);
		save_all(s);
		for (unsigned i = 0; i < NSEC; i++)
			mutate(&in, &s[i]);
		fill_ram(&m, &in);
		char err[256] = "";
		int e = load_all(s, err, sizeof(err));
		FUZZ_CHECK(e == 0 || (e == -EINVAL && err[0]));
		if (e == 0) {
			/* a hinting run open when the snapshot was taken is over */
			FUZZ_CHECK(!(b.st.flags & BALLOON_STATE_HINTING) || b.st.hint_cmd_id == BALLOON_HINT_CMD_DONE);
			port_machine_accesses(&m, &in);
			port_machine_serve(&m);
			serve_balloon(&b);
			serve_e1000(&card);
			use_flash(&flash);
		}
		virtio_dev_destroy(&b.vdev);
		e1000_destroy(&card);
		cfi_flash_destroy(&flash);
		free(flash_mem);
		close(peer);
	}
	port_machine_destroy(&m);
	return 0;
}
