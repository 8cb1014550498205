/* The PS/2 mouse: see ps2_mouse.h. */
#include "devices/legacy/ps2_mouse.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>

#define ACK 0xfa

void ps2_mouse_reset(struct ps2_mouse_state *m)
{
	struct ps2_queue q = m->q;
	memset(m, 0, sizeof(*m));
	m->q = q;
	m->rate = 100;
	m->resolution = 2;
}

static int32_t clamp(int32_t v, int32_t lo, int32_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* One packet of what is kept, if it fits; false when nothing was sent. */
static bool send_packet(struct ps2_mouse_state *m)
{
	size_t len = m->id ? 4 : 3;
	if (ps2_room(&m->q) < len)
		return false;
	int32_t dx = clamp(m->dx, -256, 255), dy = clamp(m->dy, -256, 255), dz = clamp(m->dz, -8, 7);
	uint8_t p[4];
	p[0] = (uint8_t)(0x08 | (m->buttons & 7) | (dx < 0 ? 0x10 : 0) | (dy < 0 ? 0x20 : 0));
	p[1] = (uint8_t)dx;
	p[2] = (uint8_t)dy;
	p[3] = m->id == 4 ? (uint8_t)((dz & 0x0f) | (m->buttons & 0x18) << 1) : (uint8_t)dz;
	ps2_push(&m->q, p, len);
	m->dx -= dx;
	m->dy -= dy;
	m->dz = m->id ? m->dz - dz : 0;
	return true;
}

static bool kept(const struct ps2_mouse_state *m)
{
	return m->dx || m->dy || m->dz;
}

bool ps2_mouse_flush(struct ps2_mouse_state *m)
{
	bool sent = false;
	while (m->reporting && !m->remote && kept(m) && send_packet(m))
		sent = true;
	return sent;
}

bool ps2_mouse_move(struct ps2_mouse_state *m, int32_t dx, int32_t dy, int32_t dz, uint8_t buttons)
{
	if (!m->reporting)
		return false;
	bool changed = buttons != m->buttons;
	/* keep at most a screen's worth: a flood of motion from a client adds up, but no further */
	m->dx = clamp(m->dx + clamp(dx, -65536, 65536), -65536, 65536);
	m->dy = clamp(m->dy - clamp(dy, -65536, 65536), -65536, 65536);
	m->dz = clamp(m->dz + clamp(dz, -256, 256), -256, 256);
	m->buttons = buttons;
	if (m->remote)
		return false;
	bool sent = ps2_mouse_flush(m);
	if (changed && !sent && send_packet(m)) /* a click alone, without motion */
		sent = true;
	return sent;
}

/* The wheel's knock: sample rates 200, 100, 80 make a wheel mouse, 200, 200, 80 (once it is
 * one) a five-button one. */
static void knock(struct ps2_mouse_state *m, uint8_t rate)
{
	m->rates[0] = m->rates[1];
	m->rates[1] = m->rates[2];
	m->rates[2] = rate;
	if (m->rates[0] == 200 && m->rates[1] == 100 && rate == 80)
		m->id = 3;
	else if (m->rates[0] == 200 && m->rates[1] == 200 && rate == 80 && m->id == 3)
		m->id = 4;
}

void ps2_mouse_write(struct ps2_mouse_state *m, uint8_t b)
{
	if (m->pending) {
		uint8_t cmd = m->pending;
		m->pending = 0;
		if (cmd == 0xe8 && b <= 3)
			m->resolution = b;
		else if (cmd == 0xf3) {
			m->rate = b;
			knock(m, b);
		}
		ps2_push1(&m->q, ACK);
		return;
	}
	if (m->wrap && b != 0xff && b != 0xec) { /* wrap mode echoes all but its way out */
		ps2_push1(&m->q, b);
		return;
	}
	switch (b) {
	case 0xff: /* reset: acknowledge, self-test passed, id */
		m->q.count = 0;
		ps2_mouse_reset(m);
		ps2_push(&m->q, (const uint8_t[]){ ACK, 0xaa, 0x00 }, 3);
		return;
	case 0xf6: { /* defaults */
		uint8_t id = m->id;
		ps2_mouse_reset(m);
		m->id = id;
		break;
	}
	case 0xf5: m->reporting = false; break;
	case 0xf4: m->reporting = true; break;
	case 0xf3: case 0xe8: m->pending = b; break;
	case 0xf2:
		ps2_push(&m->q, (const uint8_t[]){ ACK, m->id }, 2);
		return;
	case 0xf0: m->remote = true; break;
	case 0xee: m->wrap = true; break;
	case 0xec: m->wrap = false; break;
	case 0xea: m->remote = false; break;
	case 0xeb: /* read data: a packet now, whatever the mode */
		ps2_push1(&m->q, ACK);
		send_packet(m);
		return;
	case 0xe9: { /* status: mode, buttons; resolution; rate */
		uint8_t s = (uint8_t)((m->remote ? 0x40 : 0) | (m->reporting ? 0x20 : 0) | (m->scale21 ? 0x10 : 0) |
				      (m->buttons & 1 ? 4 : 0) | (m->buttons & 4 ? 2 : 0) | (m->buttons & 2 ? 1 : 0));
		ps2_push(&m->q, (const uint8_t[]){ ACK, s, m->resolution, m->rate }, 4);
		return;
	}
	case 0xe7: m->scale21 = true; break;
	case 0xe6: m->scale21 = false; break;
	case 0xfe: break; /* resend: nothing was lost */
	default:
		ps2_push1(&m->q, 0xfe); /* not a command: resend */
		return;
	}
	ps2_push1(&m->q, ACK);
}

int ps2_mouse_check(const struct ps2_mouse_state *m, char *err, size_t errlen)
{
	if (!ps2_queue_valid(&m->q))
		return error_set(err, errlen, -EINVAL, "PS/2 mouse: saved queue at %u with %u bytes (of %u)", m->q.head,
				 m->q.count, PS2_QUEUE_LEN);
	if (m->id != 0 && m->id != 3 && m->id != 4)
		return error_set(err, errlen, -EINVAL, "PS/2 mouse: saved id %u (0, 3 or 4)", m->id);
	if (m->pending && m->pending != 0xe8 && m->pending != 0xf3)
		return error_set(err, errlen, -EINVAL, "PS/2 mouse: saved pending command %#x", m->pending);
	if (m->resolution > 3 || m->buttons > 0x1f || m->dx < -65536 || m->dx > 65536 || m->dy < -65536 ||
	    m->dy > 65536 || m->dz < -256 || m->dz > 256)
		return error_set(err, errlen, -EINVAL, "PS/2 mouse: saved resolution %u, buttons %#x or motion "
				 "(%d, %d, %d) out of range", m->resolution, m->buttons, m->dx, m->dy, m->dz);
	return 0;
}
