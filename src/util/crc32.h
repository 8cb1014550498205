/* CRC-32 (ISO-HDLC: the one of zlib, gzip, Ethernet) at libdeflate's speed: its crc32 folds with
 * PCLMULQDQ (carry-less multiply), about 4x zlib 1.2.13's table-driven loop (docs/snapshots.md,
 * docs/e1000.md#receive-crc). libdeflate is loaded (dlopen) on first use; without it on the
 * host, zlib's crc32, which gives the same values. */
#ifndef PETREL_UTIL_CRC32_H
#define PETREL_UTIL_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* The CRC of len bytes at p, continuing crc (0 to begin): as zlib's crc32(crc, p, len), with
 * any length. Thread-safe. The first call loads libdeflate, which needs openat and mmap: make it
 * (or crc32_load) on a thread whose seccomp filter allows them (a thread that builds VMs). */
uint32_t crc32_fast(uint32_t crc, const void *p, size_t len);

/* Load libdeflate now, if not yet: NULL, or why zlib's crc32 stands in for it. */
const char *crc32_load(void);

#endif
