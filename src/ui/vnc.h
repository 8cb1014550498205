/* The VNC server of a VM with a display (docs/display.md#vnc): RFB 3.8 by Debian's libvncserver
 * (loaded with dlopen, vnc_lib.h), on a Unix socket in the worker's jail that petreld (its
 * WebSocket proxy, petrelctl vnc, screenshots) connects to; never a TCP port. One thread (kind
 * SC_VNC) accepts the connections itself and hands each to the library, sends what the guest
 * changed (display_changed: KVM's dirty log of the framebuffer, narrowed to the tiles that differ
 * from what was sent: vnc_damage.h), and passes keys (QEMU's
 * extended key event, or keysyms through vnc_keys.h's US map) and the pointer to the display's
 * input devices. */
#ifndef PETREL_UI_VNC_H
#define PETREL_UI_VNC_H

#include <stddef.h>

struct display;
struct vnc;

/* Load the library and serve d on a new listening socket at path (a stale socket there is
 * replaced). On the VMM's thread (dlopen). 0 and *out, or -errno with why in err. */
int vnc_start(struct display *d, const char *path, struct vnc **out, char *err, size_t errlen);
/* Stop serving: the thread joined, every client closed, the socket removed. NULL: nothing. */
void vnc_stop(struct vnc *v);

#endif
