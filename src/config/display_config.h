/* petrel's "display" section (PUT /display before the start, the config file's "display",
 * GET /vm/config): a screen, a keyboard and a pointer for the VM (docs/display.md). No section:
 * no display device, no input devices beyond the i8042's keyboard port, no VNC library. */
#ifndef PETREL_CONFIG_DISPLAY_CONFIG_H
#define PETREL_CONFIG_DISPLAY_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum display_model {
	DISPLAY_MODEL_BOCHS,    /* "bochs": QEMU's bochs-display, PCI 1234:1111 class 0380 */
	DISPLAY_MODEL_STDVGA,   /* "stdvga": the same registers plus legacy VGA (class 0300) */
};

#define DISPLAY_MIN_WIDTH 320
#define DISPLAY_MIN_HEIGHT 200
#define DISPLAY_MAX_WIDTH 3840
#define DISPLAY_MAX_HEIGHT 2160
#define DISPLAY_SOCKET_MAX 107   /* sockaddr_un's sun_path, less its NUL */
/* stdvga's VGA BIOS (Debian's seabios package), read by the VMM at this path (petreld puts it
 * at the same path in a worker's jail) */
#define DISPLAY_STDVGA_ROM "/usr/share/seabios/vgabios-stdvga.bin"

struct display_config {
	enum display_model model;   /* default bochs */
	uint32_t width, height;     /* the preferred mode the EDID offers; default 1024x768 */
	bool tablet;                /* a virtio-input tablet (absolute pointer); default true */
	char *vnc_socket;           /* where the worker serves VNC (a Unix socket), or NULL */
};

/* Strict: unknown keys, wrong types, a model other than "bochs"/"stdvga", sizes outside
 * [DISPLAY_MIN_*, DISPLAY_MAX_*] or an empty/overlong socket path are -EINVAL with
 * "where.key: ..." in err. Absent keys take the defaults. */
int display_config_from_json(json_t *obj, const char *where, struct display_config *out, char *err,
			     size_t errlen);
json_t *display_config_to_json(const struct display_config *c);
void display_config_free(struct display_config *c);
/* A deep copy (the socket path duplicated): 0 or -ENOMEM. */
int display_config_copy(struct display_config *dst, const struct display_config *src);
const char *display_model_name(enum display_model m);

#endif
