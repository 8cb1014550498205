/* The decompression libraries are loaded only when a bzImage needs one (dlopen), so petrel's
 * start-up does not pay for five more shared objects (measured: about 1 ms of CPU per process
 * on this host). zlib (gzip) is linked: petrel uses it anyway. */
#ifndef PETREL_BOOT_PAYLOAD_LIB_H
#define PETREL_BOOT_PAYLOAD_LIB_H

#include <stddef.h>

struct payload_sym {
	const char *name;
	void **ptr;   /* where the address goes: a function pointer, cast */
};

/* Load soname (once) and resolve every symbol. 0, or -ENOTSUP with why in err (the library
 * or a symbol is missing: the caller falls back to the guest's decompressor). */
int payload_lib_load(const char *soname, const struct payload_sym *syms, size_t n, char *err,
		     size_t errlen);

#endif
