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

#endif
