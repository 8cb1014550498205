/* Keys as the guest's keyboard takes them (display.h: PC XT scan codes, set 1, an 0xe0-prefixed
 * key as 0xe0XX). A VNC client that speaks QEMU's extended key event (noVNC, TigerVNC,
 * virt-viewer) sends the scan code itself, and the guest's own layout applies; one that sends
 * only X keysyms goes through a fixed US keymap (docs/display.md#keyboard). */
#ifndef PETREL_UI_VNC_KEYS_H
#define PETREL_UI_VNC_KEYS_H

#include <stdint.h>

/* The scan code of keysym on a US keyboard, or 0 for a keysym without a key there. A letter's
 * capital, a shifted symbol ('!', '{') give their key: the client sends Shift itself. */
uint16_t vnc_keysym_to_xt(uint32_t keysym);

/* QEMU's extended key event carries a "qnum": an 0xe0-prefixed key as 0x80 | XX. Its XT
 * scan code (0xe0XX for those), or 0 for a value no key has (0, or above 0xff). */
uint16_t vnc_qnum_to_xt(uint32_t qnum);

#endif
