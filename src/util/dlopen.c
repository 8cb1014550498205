/* Libraries loaded on first use (dlopen.h). */
#include "util/dlopen.h"
#include "util/error.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* dlopen of a bare soname asks the loader's cache: /etc/ld.so.cache opened, mapped, searched
 * and unmapped again for every library (glibc unloads it after each dlopen). On the
 * development host (a PVM guest) that cost ~0.5 ms of CPU per library: a program loading
 * petrel's four start-up libraries (libjansson, zlib, liburing, http_parser) by soname took
 * 9.47 ms, by path 7.52 ms (medians of 500 alternating runs). Our libraries are Debian's, in
 * the directory the C library itself came from: try there first, by path, and fall back to
 * the soname (the loader's search) when the file is not there or LD_LIBRARY_PATH asks for
 * another search. */
const char *dl_libc_dir(void)
{
	static char dir[256];
	static int known;   /* 0: not yet, 1: dir, -1: none */
	if (!known) {
		Dl_info info;
		const char *slash = NULL;
		known = -1;
		if (!getenv("LD_LIBRARY_PATH") && dladdr((void *)&snprintf, &info) && info.dli_fname &&
		    info.dli_fname[0] == '/' && (slash = strrchr(info.dli_fname, '/')) &&
		    (size_t)(slash - info.dli_fname) + 1 < sizeof(dir)) {
			memcpy(dir, info.dli_fname, (size_t)(slash - info.dli_fname) + 1);
			dir[slash - info.dli_fname + 1] = 0;
			known = 1;
		}
	}
	return known > 0 ? dir : NULL;
}

static void *open_lib(const char *soname, int flags)
{
	const char *dir = dl_libc_dir();
	char path[512];
	if (dir && !strchr(soname, '/') && (size_t)snprintf(path, sizeof(path), "%s%s", dir, soname) < sizeof(path)) {
		void *h = dlopen(path, flags);
		if (h)
			return h;
	}
	return dlopen(soname, flags);
}

int dl_load_syms(const char *soname, const struct dl_sym *syms, size_t n, char *err, size_t errlen)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	int r = 0;
	pthread_mutex_lock(&lock);
	if (!*syms[0].ptr) {   /* the first symbol is set last: set means all are */
		/* Lazy: the library's own imports are bound when first called, as for a linked
		 * library, rather than all at once (binding needs no system call, so a thread's
		 * seccomp filter does not matter). RTLD_NOW cost the API mode ~70 000 more
		 * instructions to serving for libjansson, zlib and liburing (lazy_libs.h). */
		void *h = open_lib(soname, RTLD_LAZY | RTLD_LOCAL);
		if (!h) {
			r = error_set(err, errlen, -ENOTSUP, "cannot load %s: %s", soname, dlerror());
		}
		for (size_t i = n; r == 0 && i-- > 0;) {
			void *f = dlsym(h, syms[i].name);
			if (!f) {
				r = error_set(err, errlen, -ENOTSUP, "%s has no %s", soname, syms[i].name);
			}
			*syms[i].ptr = f;
		}
		for (size_t i = 0; r < 0 && i < n; i++)
			*syms[i].ptr = NULL;
	}
	pthread_mutex_unlock(&lock);
	return r;
}
