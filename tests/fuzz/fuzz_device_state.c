/* libFuzzer target: device states from a snapshot (or a migration or replication stream, which
 * carry the same sections), restored and then used. The machine is fuzz_ports.c's (legacy port
 * devices, PCI host bridge, a virtio-rng on virtio-pci and one on virtio-mmio, 64 KiB of RAM;
 * fuzz_port_machine.h), plus a virtio-balloon as fuzz_balloon.c creates it (no transport: its
 * queues are served directly). Each device's state starts as the one the device saved when just
 * built (what save.c writes), is changed by the input, and goes through what src/snapshot/load.c
 * does with it, in its order: cpu_hotplug_restore (the device's part of vcpu_hotplug_load), then
 * load_legacy (serial, i8042, RTC, ACPI PM, the 0xCF8 latch), the GED (load_genid), and
 * load_virtio for each virtio device: its id and transport checked, load_device's part (the
 * balloon's BALN: virtio_balloon_state_decode, the options check, virtio_balloon_load_state),
 * virtio_restore, then virtio_pci_restore or virtio_mmio_restore. A refusal stops there, as a
 * load does (the VM is destroyed), and must say why. When all were accepted, the guest uses the
 * restored devices: register accesses as in fuzz_ports, every queue served, a statistics tick.
 *
 * Input: the balloon's options (a byte, as fuzz_balloon's: bit 0 statistics, 1 free page
 * reporting, 2 deflate_on_oom, 3 free page hinting), then the states one after the other in
 * the order above: CPUH, UART, I804, RTC, ACPI, PCIB, GED, VIRT#0 and VPCI#0 (the rng on PCI),
 * VIRT#1 (the rng on MMIO), the balloon's BALN (a version byte first: bits 0-1 XORed into
 * BALLOON_STATE_VERSION, bit 2 a length of 8 * bits 3-7 instead of the version's own) and
 * VIRT#2. Each state is a mode byte and its bytes:
 *   mode & 3 == 0  the saved state as it is (no more bytes)
 *   mode & 3 == 1  1 + (mode >> 2) % 4 patches XORed into it, == 2 the same written over it:
 *                  a patch is a le16 offset (modulo the state's size), a length byte
 *                  (1 + b % 16) and that many bytes (cut at the end of the state)
 *   mode & 3 == 3  the state's size in raw bytes (what the input lacks stays as saved)
 * An input that ends early leaves the rest saved. Then 64 bytes of RAM seed (repeated over RAM;
 * missing ones are zero) and fuzz_ports' accesses of 9 bytes each until the end. Nothing may
 * crash, hang, touch memory outside RAM or leak; an accepted state is one the guest could not
 * turn against the host. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/balloon.h"
#include "fuzz_common.h"
#include "fuzz_port_machine.h"
#include "snapshot/sections.h"

FUZZ_QUIET_LOGS()

#define NDEV 3            /* rng on PCI, rng on MMIO, balloon */
#define BALN_MAX 256      /* a BALN section's length: at most 8 * 31 */

/* What the input makes of the saved states: the sections load.c would read. */
struct states {
	struct vcpu_hotplug_state cpuhp;
	struct serial_state serial;
	struct i8042_state kbd;
	struct rtc_state rtc;
	struct acpi_pm_state pm;
	uint32_t latch;
	struct ged_state ged;
	struct snap_virtio virt[NDEV];
	struct snap_vpci vpci;
	uint32_t baln_version;
	uint64_t baln_len;
	uint8_t baln[BALN_MAX];
};

/* One entry of load_virtio's list. */
struct vdev_slot {
	struct virtio_dev *vdev;
	uint32_t mmio;
	struct virtio_pci *pci;          /* its transport, if PCI */
	struct virtio_mmio *tr_mmio;     /* if on a virtio-mmio window */
	struct virtio_balloon *balloon;  /* if a balloon (its BALN first) */
};

static void save_virtio(struct virtio_dev *d, uint32_t mmio, struct snap_virtio *out)
{
	memset(out, 0, sizeof(*out));
	out->device_id = d->device_id;
	out->mmio = mmio;
	out->host_features = d->host_features;
	pthread_mutex_lock(&d->lock);
	out->st = d->st;
	pthread_mutex_unlock(&d->lock);
}

/* What save.c writes for the freshly built machine and balloon. */
static void save_all(struct port_machine *m, struct virtio_balloon *b, struct states *s)
{
	memset(s, 0, sizeof(*s));
	cpu_hotplug_save(&m->cpuhp, &s->cpuhp);
	s->serial = m->serial.st;
	s->kbd = m->kbd.st;
	s->rtc = m->rtc.st;
	s->pm = m->pm.st;
	s->latch = pci_bus_cfg_addr(&m->pci);
	ged_save(&m->ged, &s->ged);
	save_virtio(&m->rng_pci.vdev, 0, &s->virt[0]);
	s->vpci.cfg = m->vp.pci.st;
	s->vpci.msix = m->vp.msix.st;
	save_virtio(&m->rng_mmio.vdev, 1, &s->virt[1]);
	save_virtio(&b->vdev, 1, &s->virt[2]);
	struct balloon_state bs;
	virtio_balloon_snapshot(b, &bs, NULL);
	memcpy(s->baln, &bs, sizeof(bs));
}

/* A mode byte and what it says (see the top). */
static void mutate(struct fuzz_input *in, void *state, size_t size)
{
	uint8_t mode = fuzz_byte(in), *p = state;
	if ((mode & 3) == 3) {
		size_t n = in->left < size ? in->left : size;
		fuzz_take(in, p, n);
		return;
	}
	for (unsigned k = 0; (mode & 3) && k < 1 + (mode >> 2) % 4u; k++) {
		uint16_t off;
		if (!fuzz_take(in, &off, 2))
			return;
		unsigned len = 1 + fuzz_byte(in) % 16u;
		for (size_t i = 0, at = off % size; i < len && in->left; i++, at++) {
			uint8_t v = fuzz_byte(in);
			if (at < size)
				p[at] = (mode & 3) == 1 ? p[at] ^ v : v;
		}
	}
}

/* The balloon's BALN section: version and length from a byte, the bytes from a state. */
static void mutate_baln(struct fuzz_input *in, struct states *s)
{
	uint8_t v = fuzz_byte(in);
	s->baln_version = BALLOON_STATE_VERSION ^ (v & 3u);
	s->baln_len = s->baln_version == 1 ? BALLOON_STATE_V1_SIZE : sizeof(struct balloon_state);
	if (v & 4)
		s->baln_len = 8u * (v >> 3);
	mutate(in, s->baln, sizeof(struct balloon_state));
}

static void read_states(struct fuzz_input *in, struct states *s)
{
	mutate(in, &s->cpuhp, sizeof(s->cpuhp));
	mutate(in, &s->serial, sizeof(s->serial));
	mutate(in, &s->kbd, sizeof(s->kbd));
	mutate(in, &s->rtc, sizeof(s->rtc));
	mutate(in, &s->pm, sizeof(s->pm));
	mutate(in, &s->latch, sizeof(s->latch));
	mutate(in, &s->ged, sizeof(s->ged));
	mutate(in, &s->virt[0], sizeof(s->virt[0]));
	mutate(in, &s->vpci, sizeof(s->vpci));
	mutate(in, &s->virt[1], sizeof(s->virt[1]));
	mutate_baln(in, s);
	mutate(in, &s->virt[2], sizeof(s->virt[2]));
}

/* load.c's load_legacy. */
static int restore_legacy(struct port_machine *m, const struct states *s, char *err, size_t errlen)
{
	int e;
	if ((e = serial_restore(&m->serial, &s->serial, err, errlen)) < 0 ||
	    (e = i8042_restore(&m->kbd, &s->kbd, err, errlen)) < 0 ||
	    (e = rtc_restore(&m->rtc, &s->rtc, err, errlen)) < 0)
		return e;
	acpi_pm_restore(&m->pm, &s->pm);
	pci_bus_set_cfg_addr(&m->pci, s->latch);
	return 0;
}

/* load_device's VIRTIO_ID_BALLOON case, on a section of baln_len bytes exactly. */
static int restore_balloon(struct virtio_balloon *b, const struct states *s, char *err, size_t errlen)
{
	struct balloon_state bs;
	uint8_t *sec = fuzz_dup(s->baln, s->baln_len);
	int e = virtio_balloon_state_decode(s->baln_version, sec, s->baln_len, &bs, err, errlen);
	free(sec);
	if (e < 0)
		return e;
	/* only the versions there are, each of its own length, read as they were written */
	size_t want = s->baln_version == 1 ? BALLOON_STATE_V1_SIZE : sizeof(bs);
	FUZZ_CHECK(s->baln_version == 1 || s->baln_version == BALLOON_STATE_VERSION);
	FUZZ_CHECK(s->baln_len == want && memcmp(&bs, s->baln, want) == 0);
	FUZZ_CHECK(s->baln_version != 1 || (!bs.hint_cmd_id && !bs.hint_last_id && !bs.hint_guest_cmd &&
					    !bs.hint_flags));
	if (bs.flags != b->st.flags || !bs.stats_polling_interval_s != !b->st.stats_polling_interval_s) {
		snprintf(err, errlen, "%s: deflate_on_oom, free_page_reporting, free_page_hinting or "
			 "statistics differ from the snapshot's", b->vdev.name);
		return -EINVAL;
	}
	virtio_balloon_load_state(b, &bs);
	/* a hinting run open when the snapshot was taken is over */
	FUZZ_CHECK(!(b->st.flags & BALLOON_STATE_HINTING) || b->st.hint_cmd_id == BALLOON_HINT_CMD_DONE);
	return 0;
}

/* One turn of load_virtio's loop. */
static int restore_vdev(const struct vdev_slot *v, const struct states *s, unsigned i, char *err, size_t errlen)
{
	const struct snap_virtio *sv = &s->virt[i];
	if (sv->device_id != v->vdev->device_id || sv->mmio != v->mmio) {
		snprintf(err, errlen, "%s: the snapshot has virtio device %u (%s) in its place", v->vdev->name,
			 sv->device_id, sv->mmio ? "MMIO" : "PCI");
		return -EINVAL;
	}
	int e;
	if ((v->balloon && (e = restore_balloon(v->balloon, s, err, errlen)) < 0) ||
	    (e = virtio_restore(v->vdev, &sv->st, sv->host_features, err, errlen)) < 0)
		return e;
	if (v->pci)
		return virtio_pci_restore(v->pci, &s->vpci.cfg, &s->vpci.msix, err, errlen);
	if (v->tr_mmio)
		virtio_mmio_restore(v->tr_mmio);
	return 0;
}

static int restore_all(struct port_machine *m, struct virtio_balloon *b, const struct states *s, char *err,
		       size_t errlen)
{
	const struct vdev_slot devs[NDEV] = {
		{ &m->rng_pci.vdev, 0, &m->vp, NULL, NULL },
		{ &m->rng_mmio.vdev, 1, NULL, &m->vm, NULL },
		{ &b->vdev, 1, NULL, NULL, b },
	};
	int e;
	if ((e = cpu_hotplug_restore(&m->cpuhp, &s->cpuhp, err, errlen)) < 0 ||
	    (e = restore_legacy(m, s, err, errlen)) < 0 || (e = ged_restore(&m->ged, &s->ged, err, errlen)) < 0)
		return e;
	for (unsigned i = 0; i < NDEV; i++)
		if ((e = restore_vdev(&devs[i], s, i, err, errlen)) < 0)
			return e;
	return 0;
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
	static struct states s;
	struct fuzz_input in = { data, size };
	port_machine_build(&m);
	bool have_balloon = m.ok && make_balloon(&b, fuzz_byte(&in), m.mem);
	if (have_balloon) {
		save_all(&m, &b, &s);
		read_states(&in, &s);
		fill_ram(&m, &in);
		char err[256] = "";
		int e = restore_all(&m, &b, &s, err, sizeof(err));
		FUZZ_CHECK(e == 0 || (e == -EINVAL && err[0]));
		if (e == 0) {
			port_machine_accesses(&m, &in);
			port_machine_serve(&m);
			serve_balloon(&b);
		}
		virtio_dev_destroy(&b.vdev);
	}
	port_machine_destroy(&m);
	return 0;
}
