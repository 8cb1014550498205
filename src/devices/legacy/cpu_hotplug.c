/* The CPU hot-plug register block (cpu_hotplug.h). Everything the guest writes is untrusted:
 * the selector is kept as written and checked at each use. */
#include "devices/legacy/cpu_hotplug.h"
#include "devices/dev_state.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static uint64_t all_below(unsigned n)
{
	return n >= 64 ? ~0ull : (1ull << n) - 1;
}

void cpu_hotplug_init(struct cpu_hotplug *h, unsigned max_cpus, unsigned boot_cpus, uint16_t port,
		      void (*eject)(void *opaque, unsigned cpu), void *opaque)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	if (max_cpus > CPUHP_MAX_CPUS)
		max_cpus = CPUHP_MAX_CPUS;
	if (boot_cpus > max_cpus)
		boot_cpus = max_cpus;
	h->st.max_cpus = max_cpus;
	h->st.present = all_below(boot_cpus);
	h->st.port = port;
	h->eject = eject;
	h->opaque = opaque;
}

void cpu_hotplug_reset(struct cpu_hotplug *h)
{
	pthread_mutex_lock(&h->lock);
	h->st.inserting = h->st.removing = 0;
	h->st.selector = 0;
	pthread_mutex_unlock(&h->lock);
}

/* The status byte of the selected vCPU (lock held). */
static uint8_t status_locked(const struct cpu_hotplug *h)
{
	uint32_t sel = h->st.selector;
	if (sel >= h->st.max_cpus)
		return 0;
	uint64_t bit = 1ull << sel;
	return (uint8_t)(((h->st.present & bit) ? CPUHP_ST_PRESENT : 0) |
			 ((h->st.inserting & bit) ? CPUHP_ST_INSERTING : 0) |
			 ((h->st.removing & bit) ? CPUHP_ST_REMOVING : 0));
}

void cpu_hotplug_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct cpu_hotplug *h = opaque;
	pthread_mutex_lock(&h->lock);
	for (uint32_t i = 0; i < len; i++) {
		uint64_t o = off + i;
		if (o < 4)
			data[i] = (uint8_t)(h->st.selector >> (8 * o));
		else if (o == CPUHP_STATUS_OFF)
			data[i] = status_locked(h);
		else
			data[i] = 0;
	}
	pthread_mutex_unlock(&h->lock);
}

void cpu_hotplug_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct cpu_hotplug *h = opaque;
	int eject = -1;
	pthread_mutex_lock(&h->lock);
	for (uint32_t i = 0; i < len; i++) {
		uint64_t o = off + i;
		if (o < 4) {
			uint32_t shift = (uint32_t)(8 * o);
			h->st.selector = (h->st.selector & ~(0xffu << shift)) | (uint32_t)data[i] << shift;
			continue;
		}
		if (o != CPUHP_STATUS_OFF)
			continue;
		uint32_t sel = h->st.selector;
		uint8_t v = data[i];
		if (sel >= h->st.max_cpus) {
			h->ignored += v != 0;
			continue;
		}
		uint64_t bit = 1ull << sel;
		if (v & CPUHP_ST_INSERTING)
			h->st.inserting &= ~bit;
		/* CPUHP_ST_REMOVING written (the scan's acknowledgement) changes nothing: the request
		 * stays until the eject or the VMM withdraws it, or GET would call it done (or
		 * refused) while the guest is still offlining the CPU, and a later PATCH could no
		 * longer withdraw it. A later scan notifies it again. */
		if (v & CPUHP_CTL_EJECT) {
			/* The boot CPU stays (its device has no _EJ0), and so does nothing absent. */
			if (sel == 0 || !(h->st.present & bit)) {
				h->ignored++;
				continue;
			}
			/* Gone for the guest at once: _EJ0's caller reads _STA right after it. */
			h->st.present &= ~bit;
			h->st.inserting &= ~bit;
			h->st.removing &= ~bit;
			h->ejects++;
			eject = (int)sel;
		}
	}
	pthread_mutex_unlock(&h->lock);
	if (eject >= 0 && h->eject)
		h->eject(h->opaque, (unsigned)eject);
}

int cpu_hotplug_insert(struct cpu_hotplug *h, unsigned cpu)
{
	int r = 0;
	pthread_mutex_lock(&h->lock);
	if (cpu >= h->st.max_cpus || (h->st.present & (1ull << cpu))) {
		r = -EINVAL;
	} else {
		h->st.present |= 1ull << cpu;
		h->st.inserting |= 1ull << cpu;
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

int cpu_hotplug_request_remove(struct cpu_hotplug *h, unsigned cpu)
{
	int r = 0;
	pthread_mutex_lock(&h->lock);
	if (cpu == 0 || cpu >= h->st.max_cpus || !(h->st.present & (1ull << cpu)))
		r = -EINVAL;
	else
		h->st.removing |= 1ull << cpu;
	pthread_mutex_unlock(&h->lock);
	return r;
}

int cpu_hotplug_cancel_remove(struct cpu_hotplug *h, unsigned cpu)
{
	int r = 0;
	pthread_mutex_lock(&h->lock);
	if (cpu >= h->st.max_cpus || !(h->st.removing & (1ull << cpu)))
		r = -EINVAL;
	else
		h->st.removing &= ~(1ull << cpu);
	pthread_mutex_unlock(&h->lock);
	return r;
}

unsigned cpu_hotplug_count(struct cpu_hotplug *h, unsigned *removing)
{
	pthread_mutex_lock(&h->lock);
	unsigned n = (unsigned)__builtin_popcountll(h->st.present);
	if (removing)
		*removing = (unsigned)__builtin_popcountll(h->st.removing);
	pthread_mutex_unlock(&h->lock);
	return n;
}

void cpu_hotplug_save(struct cpu_hotplug *h, struct vcpu_hotplug_state *out)
{
	pthread_mutex_lock(&h->lock);
	*out = h->st;
	pthread_mutex_unlock(&h->lock);
}

int cpu_hotplug_check(const struct cpu_hotplug *h, const struct vcpu_hotplug_state *st, char *err,
		      size_t errlen)
{
	uint64_t valid = all_below(h->st.max_cpus);
	if (st->port != h->st.port || st->max_cpus != h->st.max_cpus)
		return error_set(err, errlen, -EINVAL, "CPU hot-plug: the snapshot's guest has %u possible vCPUs (registers at "
			 "0x%x); this definition %u (at 0x%x)", st->max_cpus, st->port, h->st.max_cpus, h->st.port);
	if (!(st->present & 1))
		return error_set(err, errlen, -EINVAL, "CPU hot-plug: the snapshot's guest has no boot CPU");
	if ((st->present | st->inserting | st->removing) & ~valid)
		return error_set(err, errlen, -EINVAL, "CPU hot-plug: vCPUs beyond the %u possible ones", h->st.max_cpus);
	if ((st->inserting | st->removing) & ~st->present)
		return error_set(err, errlen, -EINVAL, "CPU hot-plug: an insert or removal pending for an absent vCPU");
	for (size_t i = 0; i < sizeof(st->pad); i++)
		if (st->pad[i])
			return error_set(err, errlen, -EINVAL, "CPU hot-plug: reserved bytes set");
	return 0;
}

int cpu_hotplug_restore(struct cpu_hotplug *h, const struct vcpu_hotplug_state *st, char *err,
			size_t errlen)
{
	int r = cpu_hotplug_check(h, st, err, errlen);
	if (r < 0)
		return r;
	pthread_mutex_lock(&h->lock);
	h->st = *st;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

/* ---- saved state (section CPUH, docs/snapshots.md; vm/vcpu_hotplug.c loads it) ---- */

void cpu_hotplug_state_put(struct enc *e, const struct vcpu_hotplug_state *st)
{
	put_u64(e, st->present);
	put_u64(e, st->inserting);
	put_u64(e, st->removing);
	put_u32(e, st->selector);
	put_u32(e, st->max_cpus);
	put_u16(e, st->port);
}

int cpu_hotplug_state_get(struct dec *d, struct vcpu_hotplug_state *st, char *err, size_t errlen)
{
	memset(st, 0, sizeof(*st));
	st->present = get_u64(d);
	st->inserting = get_u64(d);
	st->removing = get_u64(d);
	st->selector = get_u32(d);
	st->max_cpus = get_u32(d);
	st->port = get_u16(d);
	return dec_end(d, "vCPU hot-plug (CPUH)", err, errlen);
}
