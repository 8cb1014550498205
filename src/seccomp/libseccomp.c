/* libseccomp, loaded with dlopen only when a filter has to be compiled: by the build-time
 * generator (gen/sc_gen.c), for --seccomp-filter FILE, and by tests. The built-in filters
 * petrel installs by default were compiled at build time, so a plain start never maps the
 * library (docs/security.md#seccomp). */
#include "seccomp/seccomp_int.h"
#include "util/dlopen.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>

struct sc_libseccomp sc_lib;

int sc_lib_load(char *err, size_t errlen)
{
	/* the first symbol is set last (dl_load_syms): set means all are */
	const struct dl_sym syms[] = {
		{ "seccomp_init", (void **)&sc_lib.init },
		{ "seccomp_release", (void **)&sc_lib.release },
		{ "seccomp_attr_set", (void **)&sc_lib.attr_set },
		{ "seccomp_rule_add_array", (void **)&sc_lib.rule_add_array },
		{ "seccomp_export_bpf", (void **)&sc_lib.export_bpf },
		{ "seccomp_syscall_resolve_name_arch", (void **)&sc_lib.resolve_name_arch },
		{ "seccomp_syscall_resolve_num_arch", (void **)&sc_lib.resolve_num_arch },
	};
	char why[256] = "";
	int e = dl_load_syms("libseccomp.so.2", syms, sizeof(syms) / sizeof(syms[0]), why, sizeof(why));
	if (e < 0)
		return error_set(err, errlen, -ENOTSUP, "%s", why);
	return 0;
}

int sc_syscall_nr(const char *name)
{
	if (sc_lib_load(NULL, 0) < 0)
		return -1;
	return sc_lib.resolve_name_arch(SCMP_ARCH_X86_64, name);
}
