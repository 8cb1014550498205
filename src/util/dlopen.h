/* Libraries loaded on first use (dlopen) rather than linked, so that petrel's start-up does
 * not pay for shared objects most runs never call: the bzImage decompressors, libseccomp for
 * --seccomp-filter, nettle for MMDS tokens, http_parser. */
#ifndef PETREL_UTIL_DLOPEN_H
#define PETREL_UTIL_DLOPEN_H

#include <stddef.h>

struct dl_sym {
	const char *name;
	void **ptr;   /* where the address goes: a function pointer, cast */
};

/* Load soname (once) and resolve every symbol; the first one is set last, so a caller may test
 * it alone to know all are. 0, or -ENOTSUP with why in err (the library or a symbol is
 * missing: the caller falls back or says what to install). Thread-safe. */
int dl_load_syms(const char *soname, const struct dl_sym *syms, size_t n, char *err, size_t errlen);

/* The directory the C library was loaded from, with its '/', where dl_load_syms looks for a
 * soname first (by path: no search of the loader's cache); NULL when unknown or when
 * LD_LIBRARY_PATH is set (then sonames go through the loader's search). Not thread-safe
 * before dl_load_syms ran once. */
const char *dl_libc_dir(void);

#endif
