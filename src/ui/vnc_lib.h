/* Debian's libvncserver, loaded with dlopen by a worker whose VM has a display (and by nothing
 * else: a headless VM maps none of it, docs/display.md#vnc). The functions src/ui calls are
 * pointers here, each with the library's own prototype (from <rfb/rfb.h>, so a mismatch does
 * not compile), set by vnc_lib_load. */
#ifndef PETREL_UI_VNC_LIB_H
#define PETREL_UI_VNC_LIB_H

#include <rfb/rfb.h>
#include <stddef.h>

#define VNC_LIB_SONAME "libvncserver.so.1"

/* X(name, prototype's type); rfbInitServer is a macro naming the threaded, ZRLE build Debian's
 * library exports. */
#define VNC_LIB_FNS(X)                                                                 \
	X(rfbGetScreen)                                                                \
	X(rfbInitServerWithPthreadsAndZRLE)                                            \
	X(rfbNewClient)                                                                \
	X(rfbProcessEvents)                                                            \
	X(rfbMarkRectAsModified)                                                       \
	X(rfbNewFramebuffer)                                                           \
	X(rfbShutdownServer)                                                           \
	X(rfbScreenCleanup)                                                            \
	X(rfbRegisterProtocolExtension)                                                \
	X(rfbReadExact)                                                                \
	X(rfbWriteExact)                                                               \
	X(rfbCloseClient)                                                              \
	X(rfbGetClientIterator)                                                        \
	X(rfbClientIteratorNext)                                                       \
	X(rfbReleaseClientIterator)                                                    \
	X(rfbSetTranslateFunction)

#define VNC_LIB_PTR(name) __typeof__(name) *name;
struct vnc_lib {
	VNC_LIB_FNS(VNC_LIB_PTR)
	rfbLogProc *log, *err;      /* the library's rfbLog and rfbErr (variables) */
	int *max_client_wait;       /* rfbMaxClientWait: ms a partial message may take */
};
#undef VNC_LIB_PTR

extern struct vnc_lib vnc_lib;

/* Load the library (once; thread-safe) and resolve every function: 0, or -ENOTSUP with what to
 * install in err. Call it on a thread whose filter allows dlopen (the VMM's), before the VNC
 * thread starts. */
int vnc_lib_load(char *err, size_t errlen);

#endif
