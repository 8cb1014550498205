/* The PS/2 keyboard: see ps2_kbd.h. */
#include "devices/legacy/ps2_kbd.h"
#include "devices/legacy/ps2_keys.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>

#define ACK 0xfa

void ps2_kbd_reset(struct ps2_kbd_state *k)
{
	k->q.count = 0;
	k->pending = 0;
	k->set = 2;
	k->leds = 0;
	k->disabled = false;
}

/* A reply byte, translated as the controller would (the identify's 0x83 becomes 0x41). */
static void reply(struct ps2_kbd_state *k, uint8_t b, bool xlate)
{
	ps2_push1(&k->q, xlate ? ps2_xlate(b) : b);
}

void ps2_kbd_write(struct ps2_kbd_state *k, uint8_t b, bool xlate)
{
	if (k->pending) {
		uint8_t cmd = k->pending;
		k->pending = 0;
		if (cmd == 0xf0 && b == 0) {   /* which set */
			ps2_push(&k->q, (const uint8_t[]){ ACK, k->set }, 2);
			return;
		}
		if (cmd == 0xf0 && (b < 1 || b > 3)) {
			ps2_push1(&k->q, 0xfe);   /* no such set: resend */
			return;
		}
		if (cmd == 0xf0)
			k->set = b;
		else if (cmd == 0xed)
			k->leds = b & 7;
		ps2_push1(&k->q, ACK);
		return;
	}
	switch (b) {
	case 0xff: /* reset: acknowledge, then the self-test's result */
		ps2_kbd_reset(k);
		ps2_push(&k->q, (const uint8_t[]){ ACK, 0xaa }, 2);
		return;
	case 0xf2: /* identify: an MF2 keyboard */
		ps2_push(&k->q, (const uint8_t[]){ ACK, 0xab }, 2);
		reply(k, 0x83, xlate);
		return;
	case 0xed: case 0xf3: case 0xf0:
		k->pending = b;
		break;
	case 0xee: /* echo */
		ps2_push1(&k->q, 0xee);
		return;
	case 0xf4: k->disabled = false; break;
	case 0xf5: k->disabled = true; break;    /* and defaults, as a real one */
	case 0xf6: k->disabled = false; k->set = 2; k->leds = 0; break;
	default: break; /* resend, the set-3 key modes, ...: acknowledged */
	}
	ps2_push1(&k->q, ACK);
}

int ps2_kbd_key(struct ps2_kbd_state *k, uint16_t xt, bool down, bool xlate)
{
	uint8_t b[PS2_KEY_MAX_BYTES], t[PS2_KEY_MAX_BYTES];
	if (k->disabled)
		return -EAGAIN;
	size_t n = ps2_key_bytes(xt, down, k->set == 1 ? 1 : 2, b);
	if (!n)
		return xt == 0xe046 && !down ? 0 : -ENOENT;   /* Pause has no release */
	/* set 1 is never translated again: a real keyboard in set 1 behind translation would
	 * be, but no driver does that */
	if (xlate && k->set != 1)
		n = ps2_translate(b, n, t);
	else
		memcpy(t, b, n);
	return ps2_push(&k->q, t, n) < 0 ? -ENOSPC : 0;
}

int ps2_kbd_check(const struct ps2_kbd_state *k, char *err, size_t errlen)
{
	if (!ps2_queue_valid(&k->q))
		return error_set(err, errlen, -EINVAL, "PS/2 keyboard: saved queue at %u with %u bytes (of %u)", k->q.head,
				 k->q.count, PS2_QUEUE_LEN);
	if (k->set < 1 || k->set > 3)
		return error_set(err, errlen, -EINVAL, "PS/2 keyboard: saved scan code set %u", k->set);
	if (k->pending && k->pending != 0xed && k->pending != 0xf0 && k->pending != 0xf3)
		return error_set(err, errlen, -EINVAL, "PS/2 keyboard: saved pending command %#x", k->pending);
	return 0;
}
