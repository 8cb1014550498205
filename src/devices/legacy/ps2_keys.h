/* A PC keyboard's scan codes: what the PS/2 keyboard sends for a key (in scan code set 2, or 1
 * when the guest selected it) and the i8042's translation of set 2 into set 1, which firmwares
 * and Linux leave on. Keys come in as QEMU's extended key event carries them: XT (set 1) codes,
 * the 0xE0-prefixed ones as 0xE0XX; 0xE046 is Pause, as in QEMU. Pure tables. */
#ifndef PETREL_DEVICES_LEGACY_PS2_KEYS_H
#define PETREL_DEVICES_LEGACY_PS2_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PS2_KEY_MAX_BYTES 8   /* the longest sequence: Pause in set 2 */

/* The bytes of key xt pressed or released in scan code set `set` (1, or 2 for anything else),
 * into out: their count, 0 for a code no key has. */
size_t ps2_key_bytes(uint16_t xt, bool down, uint8_t set, uint8_t out[PS2_KEY_MAX_BYTES]);
/* The controller's translation of set-2 bytes into set 1 (a 0xF0 break prefix folds into the
 * next byte's bit 7): out gets at most n bytes; returns their count. */
size_t ps2_translate(const uint8_t *in, size_t n, uint8_t *out);
/* One byte translated (no break prefix): what the controller makes of a keyboard's reply. */
uint8_t ps2_xlate(uint8_t b);

#endif
