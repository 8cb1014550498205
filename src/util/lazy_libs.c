/* The functions of libjansson, zlib and liburing that petrel calls, each loading its library
 * on first use (lazy_libs.h). A function used and missing here fails the program's link (the
 * libraries are not linked into it): add it to its list. Each keeps the library's own
 * prototype (from its header, so a mismatch does not compile). */
#include "util/lazy_libs.h"
#include "util/dlopen.h"

#include <errno.h>
#include <jansson.h>
#include <liburing.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include <zlib.h>

/* X(return type, name, (parameters), (arguments)); the functions returning void and the
 * variadic json_pack are written out below. */
#define JANSSON_FNS(X)                                                                              \
	X(json_t *, json_array, (void), ())                                                         \
	X(int, json_array_append_new, (json_t *a, json_t *v), (a, v))                               \
	X(json_t *, json_array_get, (const json_t *a, size_t i), (a, i))                            \
	X(size_t, json_array_size, (const json_t *a), (a))                                          \
	X(json_t *, json_deep_copy, (const json_t *v), (v))                                         \
	X(char *, json_dumps, (const json_t *v, size_t flags), (v, flags))                          \
	X(json_t *, json_false, (void), ())                                                         \
	X(json_t *, json_integer, (json_int_t v), (v))                                              \
	X(json_int_t, json_integer_value, (const json_t *v), (v))                                   \
	X(json_t *, json_loadb, (const char *b, size_t n, size_t flags, json_error_t *e), (b, n, flags, e)) \
	X(json_t *, json_loads, (const char *s, size_t flags, json_error_t *e), (s, flags, e))      \
	X(json_t *, json_null, (void), ())                                                          \
	X(json_t *, json_object, (void), ())                                                        \
	X(int, json_object_del, (json_t *o, const char *k), (o, k))                                 \
	X(json_t *, json_object_get, (const json_t *o, const char *k), (o, k))                      \
	X(void *, json_object_iter, (json_t *o), (o))                                               \
	X(const char *, json_object_iter_key, (void *it), (it))                                     \
	X(void *, json_object_iter_next, (json_t *o, void *it), (o, it))                            \
	X(json_t *, json_object_iter_value, (void *it), (it))                                       \
	X(void *, json_object_key_to_iter, (const char *k), (k))                                    \
	X(int, json_object_set_new, (json_t *o, const char *k, json_t *v), (o, k, v))               \
	X(size_t, json_object_size, (const json_t *o), (o))                                         \
	X(json_t *, json_real, (double v), (v))                                                     \
	X(double, json_real_value, (const json_t *v), (v))                                          \
	X(json_t *, json_string, (const char *s), (s))                                              \
	X(size_t, json_string_length, (const json_t *s), (s))                                       \
	X(const char *, json_string_value, (const json_t *s), (s))                                  \
	X(json_t *, json_true, (void), ())                                                          \
	X(json_t *, json_vpack_ex, (json_error_t *e, size_t flags, const char *fmt, va_list ap), (e, flags, fmt, ap))

#define ZLIB_FNS(X)                                                                                 \
	X(uLong, adler32, (uLong a, const Bytef *b, uInt n), (a, b, n))                             \
	X(uLong, crc32, (uLong c, const Bytef *b, uInt n), (c, b, n))                               \
	X(int, inflate, (z_streamp s, int flush), (s, flush))                                       \
	X(int, inflateEnd, (z_streamp s), (s))                                                      \
	X(int, inflateInit2_, (z_streamp s, int bits, const char *version, int size), (s, bits, version, size))

#define URING_FNS(X)                                                                                \
	X(int, io_uring_queue_init, (unsigned n, struct io_uring *r, unsigned flags), (n, r, flags)) \
	X(int, io_uring_submit, (struct io_uring *r), (r))                                          \
	X(int, io_uring_register_files, (struct io_uring *r, const int *fds, unsigned n), (r, fds, n)) \
	X(int, __io_uring_get_cqe, (struct io_uring *r, struct io_uring_cqe **c, unsigned submit,    \
				    unsigned wait, sigset_t *sig), (r, c, submit, wait, sig))

#define PTR(ret, name, params, args) static ret(*p_##name) params;
#define SYM(ret, name, params, args) { #name, (void **)&p_##name },

struct lazy_lib {
	const char *soname;
	const struct dl_sym *syms;   /* the first one is set last (dl_load_syms) */
	size_t n;
};

JANSSON_FNS(PTR)
static void (*p_json_delete)(json_t *);
static const struct dl_sym jansson_syms[] = { { "json_delete", (void **)&p_json_delete }, JANSSON_FNS(SYM) };
static const struct lazy_lib jansson = { "libjansson.so.4", jansson_syms, sizeof(jansson_syms) / sizeof(jansson_syms[0]) };

ZLIB_FNS(PTR)
static const struct dl_sym zlib_syms[] = { ZLIB_FNS(SYM) };
static const struct lazy_lib zlib = { "libz.so.1", zlib_syms, sizeof(zlib_syms) / sizeof(zlib_syms[0]) };

URING_FNS(PTR)
static void (*p_io_uring_queue_exit)(struct io_uring *);
static const struct dl_sym uring_syms[] = { { "io_uring_queue_exit", (void **)&p_io_uring_queue_exit }, URING_FNS(SYM) };
static const struct lazy_lib uring = { "liburing.so.2", uring_syms, sizeof(uring_syms) / sizeof(uring_syms[0]) };

static int load(const struct lazy_lib *l, char *err, size_t errlen)
{
	if (__atomic_load_n(l->syms[0].ptr, __ATOMIC_ACQUIRE))
		return 0;
	return dl_load_syms(l->soname, l->syms, l->n, err, errlen);
}

/* A library petrel cannot do without at this point: it was there when petrel was built and is
 * gone now. Said and ended, as the dynamic loader did when it was linked. */
static void need(const struct lazy_lib *l)
{
	char err[256];
	if (load(l, err, sizeof(err)) == 0)
		return;
	dprintf(STDERR_FILENO, "petrel: %s\n", err);
	_exit(127);
}

#define JANSSON_STUB(ret, name, params, args) ret name params { need(&jansson); return p_##name args; }
#define ZLIB_STUB(ret, name, params, args) ret name params { need(&zlib); return p_##name args; }
#define URING_STUB(ret, name, params, args) ret name params { need(&uring); return p_##name args; }

JANSSON_FNS(JANSSON_STUB)
ZLIB_FNS(ZLIB_STUB)
URING_FNS(URING_STUB)

void json_delete(json_t *v)
{
	need(&jansson);
	p_json_delete(v);
}

json_t *json_pack(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	json_t *v = json_vpack_ex(NULL, 0, fmt, ap);
	va_end(ap);
	return v;
}

void io_uring_queue_exit(struct io_uring *r)
{
	need(&uring);
	p_io_uring_queue_exit(r);
}

int lazy_libs_load(char *err, size_t errlen)
{
	const struct lazy_lib *libs[] = { &jansson, &zlib, &uring };
	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
		int r = load(libs[i], err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Whether the option a ("--name" or "--name=value") is name. By hand rather than with libc's
 * string functions: those the start does not otherwise call sit elsewhere in libc, and each
 * first call maps another 64 KiB of it (the kernel's fault-around; docs/performance.md). */
static bool option_is(const char *a, const char *name)
{
	a += 2;
	while (*name && *a == *name) {
		a++;
		name++;
	}
	return !*name && (!*a || *a == '=');
}

bool lazy_libs_bare_run(int argc, char **argv)
{
	/* `petrel run --help` lists them all: these make a VM of the kernel, initrd, vCPUs and
	 * memory alone, with the legacy devices (UART, i8042, RTC) that use none of the libraries. */
	static const char *const bare[] = {
		"kernel", "initrd", "cmdline", "cpus", "mem", "stats", "debug-exit", "smt", "pvm",
		"level", "no-vmgenid", "kernel-decompress", "initrd-unpack", "no-seccomp", "help",
	};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-')
			continue;   /* a value (an option's argument) */
		if (a[1] != '-')
			return false;
		bool known = false;
		for (size_t k = 0; !known && k < sizeof(bare) / sizeof(bare[0]); k++)
			known = option_is(a, bare[k]);
		if (!known)
			return false;
	}
	return true;
}
