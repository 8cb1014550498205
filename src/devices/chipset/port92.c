#include "devices/chipset/port92.h"
#include "devices/dev_state.h"
#include "bus/bus.h"

#include <string.h>

#define P92_A20 0x02
#define P92_RESET 0x01

int port92_init(struct port92 *p, struct bus *pio, struct power_ctl power)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	p->power = power;
	int e = bus_register(pio, PORT92_PORT, 1, "port92", port92_read, port92_write, p);
	return e ? e : bus_register(pio, APM_PORT, APM_LEN, "apm", apm_read, apm_write, p);
}

void port92_reset(struct port92 *p)
{
	pthread_mutex_lock(&p->lock);
	memset(&p->st, 0, sizeof(p->st));
	pthread_mutex_unlock(&p->lock);
}

void port92_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	(void)opaque, (void)off;
	memset(data, 0, len);
	data[0] = P92_A20;
}

void port92_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct port92 *p = opaque;
	(void)off, (void)len;
	if (data[0] & P92_RESET) {
		__atomic_fetch_add(&p->resets, 1, __ATOMIC_RELAXED);
		power_request(&p->power, VM_STOP_RESET, 0, "guest reset (port 0x92)");
	}
}

void apm_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct port92 *p = opaque;
	pthread_mutex_lock(&p->lock);
	for (uint32_t i = 0; i < len; i++)
		data[i] = off + i == 0 ? p->st.apmc : off + i == 1 ? p->st.apms : 0xff;
	pthread_mutex_unlock(&p->lock);
}

void apm_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct port92 *p = opaque;
	pthread_mutex_lock(&p->lock);
	for (uint32_t i = 0; i < len; i++) {
		if (off + i == 0) {
			p->st.apmc = data[i];
			__atomic_fetch_add(&p->apmc_writes, 1, __ATOMIC_RELAXED);
		} else if (off + i == 1) {
			p->st.apms = data[i];
		}
	}
	pthread_mutex_unlock(&p->lock);
}

#define RCR_SYS_RST 0x02
#define RCR_RST_CPU 0x04

void port92_rcr_read(void *opaque, uint8_t *v)
{
	struct port92 *p = opaque;
	pthread_mutex_lock(&p->lock);
	*v = p->st.rcr;
	pthread_mutex_unlock(&p->lock);
}

void port92_rcr_write(void *opaque, uint8_t v)
{
	struct port92 *p = opaque;
	pthread_mutex_lock(&p->lock);
	p->st.rcr = v & RCR_SYS_RST;
	pthread_mutex_unlock(&p->lock);
	if (v & RCR_RST_CPU) {
		__atomic_fetch_add(&p->resets, 1, __ATOMIC_RELAXED);
		power_request(&p->power, VM_STOP_RESET, 0, "guest reset (port 0xcf9)");
	}
}

uint64_t port92_apmc_writes(const struct port92 *p)
{
	return __atomic_load_n(&p->apmc_writes, __ATOMIC_RELAXED);
}

/* ---- saved state (section P92 , docs/snapshots.md) ---- */

static void port92_save_state(void *dev, struct enc *e)
{
	struct port92 *p = dev;
	pthread_mutex_lock(&p->lock);
	struct port92_state st = p->st;
	pthread_mutex_unlock(&p->lock);
	put_u8(e, st.apmc);
	put_u8(e, st.apms);
}

static int port92_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	struct port92 *p = dev;
	struct port92_state st = { 0 };
	st.apmc = get_u8(d);
	st.apms = get_u8(d);
	int e = dec_end(d, "port 0x92 and APM (P92 )", err, errlen);
	if (e == 0) {
		pthread_mutex_lock(&p->lock);
		p->st = st;
		pthread_mutex_unlock(&p->lock);
	}
	return e;
}

const struct dev_state_ops port92_state_ops = {
	.id = STATE_ID('P', '9', '2', ' '), .version = 1,
	.save = port92_save_state, .load = port92_load_state,
};
