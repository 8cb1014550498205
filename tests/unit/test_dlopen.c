/* Libraries loaded on first use (src/util/dlopen.c): by path from the C library's directory
 * (no search of the loader's cache, ~0.5 ms of CPU per library on the development host), by
 * soname otherwise; what is missing says so. No KVM. */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/dlopen.h"
#include "util/log.h"
#include "unit.h"

static const char *(*zlib_version)(void);

TEST(dlopen_by_path_from_the_c_library_directory)
{
	const char *dir = dl_libc_dir();
	REQUIRE(dir != NULL);
	CHECK(dir[0] == '/' && dir[strlen(dir) - 1] == '/');
	char libc[512];
	snprintf(libc, sizeof(libc), "%slibc.so.6", dir);
	CHECK_EQ(access(libc, R_OK), 0);
	char err[256] = "";
	struct dl_sym syms[] = { { "zlibVersion", (void **)&zlib_version } };
	REQUIRE_EQ(dl_load_syms("libz.so.1", syms, 1, err, sizeof(err)), 0);
	REQUIRE(zlib_version != NULL);
	CHECK(zlib_version()[0] == '1');   /* zlib 1.x */
	Dl_info info;
	REQUIRE(dladdr((void *)zlib_version, &info) != 0);
	char want[512];
	snprintf(want, sizeof(want), "%slibz.so.1", dir);
	CHECK(info.dli_fname && !strcmp(info.dli_fname, want));
}

TEST(dlopen_missing_library_or_symbol_says_which)
{
	void (*f)(void) = NULL;
	char err[256] = "";
	struct dl_sym syms[] = { { "nothing", (void **)&f } };
	CHECK_EQ(dl_load_syms("libpetrel-no-such-library.so.0", syms, 1, err, sizeof(err)), -ENOTSUP);
	CHECK(strstr(err, "libpetrel-no-such-library.so.0") != NULL);
	CHECK(f == NULL);
	struct dl_sym none[] = { { "petrel_no_such_symbol", (void **)&f } };
	CHECK_EQ(dl_load_syms("libz.so.1", none, 1, err, sizeof(err)), -ENOTSUP);
	CHECK(strstr(err, "petrel_no_such_symbol") != NULL);
	CHECK(f == NULL);
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF);
	return unit_main(argc, argv);
}
