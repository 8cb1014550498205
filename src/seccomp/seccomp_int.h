/* Between the files of src/seccomp. */
#ifndef PETREL_SECCOMP_INT_H
#define PETREL_SECCOMP_INT_H

#include "seccomp/seccomp.h"

/* ASan/UBSan builds: the runtime needs more (lists.c), and main stays unfiltered (seccomp.c). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define SC_SANITIZER 1
#else
#define SC_SANITIZER 0
#endif

/* What the spawner needs itself (pthread_create), added to the union of every kind. */
int sc_spawner_own(struct sc_list *l);
/* clone(CLONE_THREAD): the api kind always has it (libmicrohttpd's thread). */
int sc_api_threads(struct sc_list *l);

#endif
