/* libjansson, zlib and liburing, loaded with dlopen instead of linked into the petrel program
 * (docs/performance.md#start-up): a `petrel run` of a VM without devices, files or API calls
 * none of them, and each linked shared object costs every start its mapping, relocation and
 * page faults. src/util/lazy_libs.c defines their functions petrel calls, each loading its
 * library on first use; only the petrel executable has it (tests, tools and petreld link the
 * libraries as before). */
#ifndef PETREL_UTIL_LAZY_LIBS_H
#define PETREL_UTIL_LAZY_LIBS_H

#include <stdbool.h>
#include <stddef.h>

/* Load all three now (idempotent): 0, or -ENOTSUP with why in err. For every mode whose
 * threads may call them first: a thread's seccomp filter may not allow what dlopen needs. */
int lazy_libs_load(char *err, size_t errlen);

/* Whether `petrel run ARGS` (argv[0] = "run") names only options that start no device, read
 * no JSON and take no VM from elsewhere, so that none of its threads but main can call these
 * libraries (main's filter allows loading them). An allowlist: any other option, or a
 * shortened one, is not bare and loads them at start. */
bool lazy_libs_bare_run(int argc, char **argv);

#endif
