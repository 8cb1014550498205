/* libvncserver loaded on first use (vnc_lib.h), through util/dlopen.h as the other lazily
 * loaded libraries are. */
#include "ui/vnc_lib.h"
#include "util/dlopen.h"
#include "util/error.h"

#include <errno.h>

struct vnc_lib vnc_lib;

#define VNC_LIB_SYM(name) { #name, (void **)&vnc_lib.name },
static const struct dl_sym syms[] = {
	/* the first is set last: dl_load_syms tests it alone */
	{ "rfbGetScreen", (void **)&vnc_lib.rfbGetScreen },
	{ "rfbLog", (void **)&vnc_lib.log },
	{ "rfbErr", (void **)&vnc_lib.err },
	{ "rfbMaxClientWait", (void **)&vnc_lib.max_client_wait },
	VNC_LIB_FNS(VNC_LIB_SYM)
};

int vnc_lib_load(char *err, size_t errlen)
{
	/* rfbGetScreen is in the list twice (first, and in VNC_LIB_FNS): harmless */
	char why[256];
	int r = dl_load_syms(VNC_LIB_SONAME, syms, sizeof(syms) / sizeof(syms[0]), why, sizeof(why));
	if (r < 0)
		return error_set(err, errlen, r, "%s (the VNC server of a VM with a display: apt-get install libvncserver1)",
				 why);
	return 0;
}
