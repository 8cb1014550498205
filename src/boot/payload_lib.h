/* The decompression libraries are loaded only when a bzImage needs one (util/dlopen.h), so
 * petrel's start-up does not pay for five more shared objects (measured: about 1 ms of CPU per
 * process on this host). zlib (gzip) is linked: petrel uses it anyway. The decompressors' names
 * for the generic loader: */
#ifndef PETREL_BOOT_PAYLOAD_LIB_H
#define PETREL_BOOT_PAYLOAD_LIB_H

#include "util/dlopen.h"

#define payload_sym dl_sym
#define payload_lib_load dl_load_syms

#endif
