#include "bus/bus.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
}

/* ---- writers: exclusive through bus->seq ---- */

static void write_begin(struct bus *bus)
{
	for (;;) {
		unsigned s = __atomic_load_n(&bus->seq, __ATOMIC_RELAXED);
		if (!(s & 1) && __atomic_compare_exchange_n(&bus->seq, &s, s + 1, false,
							    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			break;
		__builtin_ia32_pause();
	}
	/* the odd count is visible before any store that follows */
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void write_end(struct bus *bus)
{
	__atomic_fetch_add(&bus->seq, 1, __ATOMIC_RELEASE);
}

/* Another decoding range than `self` overlapping [base, base + len); the writer holds seq. */
static const struct bus_range *overlap(struct bus *bus, const struct bus_range *self, uint64_t base, uint64_t len)
{
	for (unsigned i = 0; i < bus->n; i++) {
		const struct bus_range *r = &bus->ranges[i];
		if (r != self && r->on && base < r->base + r->len && r->base < base + len)
			return r;
	}
	return NULL;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, const char *name,
		 bus_read_fn read, bus_write_fn write, void *opaque)
{
	if (len == 0 || base + len < base)
		return -EINVAL;
	write_begin(bus);
	int err = 0;
	const struct bus_range *o = overlap(bus, NULL, base, len);
	if (o) {
		log_error("%s bus: %s at 0x%llx overlaps %s", bus->name, name,
			  (unsigned long long)base, o->name);
		err = -EEXIST;
	} else if (bus->n == BUS_MAX_RANGES) {
		err = -ENOSPC;
	} else {
		bus->ranges[bus->n] = (struct bus_range){ base, len, true, name, read, write, opaque };
		__atomic_store_n(&bus->n, bus->n + 1, __ATOMIC_RELEASE);
	}
	write_end(bus);
	return err;
}

int bus_move(struct bus *bus, bus_read_fn read, void *opaque, uint64_t new_base, bool on)
{
	write_begin(bus);
	struct bus_range *r = NULL;
	for (unsigned i = 0; i < bus->n && !r; i++)
		if (bus->ranges[i].read == read && bus->ranges[i].opaque == opaque)
			r = &bus->ranges[i];
	int err = 0;
	if (!r)
		err = -ENOENT;
	else if (new_base + r->len < new_base)
		err = -EINVAL;
	else if (on && overlap(bus, r, new_base, r->len))
		err = -EEXIST;
	if (r && err != -ENOENT) {
		__atomic_store_n(&r->on, false, __ATOMIC_RELAXED);
		if (!err) {
			__atomic_store_n(&r->base, new_base, __ATOMIC_RELAXED);
			__atomic_store_n(&r->on, on, __ATOMIC_RELAXED);
		}
	}
	write_end(bus);
	return err;
}

/* ---- readers: no lock, retry while a writer changed the map ---- */

bool bus_access(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	const struct bus_range *hit;
	uint64_t off = 0;
	for (;;) {
		unsigned s = __atomic_load_n(&bus->seq, __ATOMIC_ACQUIRE);
		if (s & 1) {
			__builtin_ia32_pause();
			continue;
		}
		hit = NULL;
		unsigned n = __atomic_load_n(&bus->n, __ATOMIC_ACQUIRE);
		for (unsigned i = 0; i < n && !hit; i++) {
			const struct bus_range *r = &bus->ranges[i];
			uint64_t base = __atomic_load_n(&r->base, __ATOMIC_RELAXED);
			if (!__atomic_load_n(&r->on, __ATOMIC_RELAXED) || addr < base || addr - base >= r->len)
				continue;
			hit = r;
			off = addr - base;
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&bus->seq, __ATOMIC_RELAXED) == s)
			break;
	}
	if (!hit) {
		if (!is_write)
			memset(data, 0xff, len);
		return false;
	}
	if (is_write) {
		if (hit->write)
			hit->write(hit->opaque, off, data, len);
	} else if (hit->read) {
		hit->read(hit->opaque, off, data, len);
	} else {
		memset(data, 0xff, len);
	}
	return true;
}
