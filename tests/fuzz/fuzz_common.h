/* Shared helpers for the libFuzzer targets: a fake guest memory (heap buffers, no KVM). */
#ifndef PETREL_TESTS_FUZZ_COMMON_H
#define PETREL_TESTS_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memory/guest_mem.h"
#include "util/log.h"

/* One RAM region [0, size), allocated once per process (calloc: untouched pages cost
 * nothing). ASan sees accesses past its end because it is a single heap block. */
static inline struct guest_mem *fuzz_guest_mem(uint64_t size)
{
	static struct guest_mem mem;
	if (!mem.nregions) {
		mem.regions[0] = (struct guest_region){ 0, size, calloc(1, size) };
		if (!mem.regions[0].hva)
			abort();
		mem.nregions = 1;
		mem.total = size;
	}
	return &mem;
}

/* Copy the input into a buffer of exactly its size, so reads past the end are caught. */
static inline uint8_t *fuzz_dup(const uint8_t *data, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);
	if (!p)
		abort();
	if (len)
		memcpy(p, data, len);
	return p;
}

/* Reading a fuzzer's input as a script: fuzz_take copies n bytes or, when fewer are left,
 * nothing (false); fuzz_byte gives 0 once the input is spent. */
struct fuzz_input {
	const uint8_t *p;
	size_t left;
};

static inline bool fuzz_take(struct fuzz_input *in, void *dst, size_t n)
{
	if (in->left < n)
		return false;
	memcpy(dst, in->p, n);
	in->p += n;
	in->left -= n;
	return true;
}

static inline uint8_t fuzz_byte(struct fuzz_input *in)
{
	uint8_t b = 0;
	fuzz_take(in, &b, 1);
	return b;
}

#define FUZZ_QUIET_LOGS()                                                                    \
	int LLVMFuzzerInitialize(int *argc, char ***argv);                                   \
	int LLVMFuzzerInitialize(int *argc, char ***argv)                                    \
	{                                                                                    \
		(void)argc;                                                                  \
		(void)argv;                                                                  \
		log_set_level(LOG_OFF);                                                      \
		return 0;                                                                    \
	}

#define FUZZ_CHECK(cond)                                                                     \
	do {                                                                                 \
		if (!(cond))                                                                 \
			__builtin_trap();                                                    \
	} while (0)

#endif
