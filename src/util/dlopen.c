/* Libraries loaded on first use (dlopen.h). */
#include "util/dlopen.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

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
		void *h = dlopen(soname, RTLD_LAZY | RTLD_LOCAL);
		if (!h) {
			snprintf(err, errlen, "cannot load %s: %s", soname, dlerror());
			r = -ENOTSUP;
		}
		for (size_t i = n; r == 0 && i-- > 0;) {
			void *f = dlsym(h, syms[i].name);
			if (!f) {
				snprintf(err, errlen, "%s has no %s", soname, syms[i].name);
				r = -ENOTSUP;
			}
			*syms[i].ptr = f;
		}
		for (size_t i = 0; r < 0 && i < n; i++)
			*syms[i].ptr = NULL;
	}
	pthread_mutex_unlock(&lock);
	return r;
}
