/* An initrd whose compressed archives petrel decompresses on the host (--initrd-unpack,
 * docs/performance.md), so that the guest kernel does not spend minutes doing it where its
 * ring 0 is emulated. An initramfs is a sequence of cpio archives, each compressed or not
 * (early microcode first, uncompressed, then the main one compressed, for example), with zero
 * padding between them. petrel walks it as the kernel's unpack_to_rootfs() does, replaces each
 * compressed member by its decompressed archives (4-byte aligned, as the kernel requires of
 * uncompressed ones) and keeps the uncompressed parts byte for byte; the kernel then creates
 * exactly the same files from it. Anything the kernel would report as an error, or read in a
 * way petrel cannot be sure of, leaves the initrd as it is. */
#ifndef PETREL_BOOT_INITRD_UNPACK_H
#define PETREL_BOOT_INITRD_UNPACK_H

#include <stddef.h>
#include <stdint.h>

/* Hard cap on a decompressed initrd, whatever the guest's RAM allows. */
#define INITRD_UNPACK_MAX (1024ull << 20)

struct initrd_unpacked {
	uint8_t *data;        /* the new initrd (free() it) */
	size_t len;
	unsigned members;     /* compressed members decompressed */
	char formats[64];     /* their formats, e.g. "gzip" or "zstd+xz" */
	uint64_t entries;     /* cpio entries in the whole initrd */
	uint64_t ns;          /* time it took */
};

/* Decide and decompress img[0, len), the new initrd at most max bytes. Returns
 *   1        *u holds the new initrd (free(u->data));
 *   0        nothing to do: no compressed archive in it, or a layout petrel leaves alone
 *            (a bootconfig block at its end); why in msg;
 *   -EINVAL  the kernel would report an error reading it, or petrel cannot be sure the
 *            kernel reads the uncompressed result the same way: why in msg;
 *   -EFBIG   it decompresses to more than max;
 *   -ENOMEM, -ENOTSUP (a decompression library is missing): why in msg.
 * In every case but 1 the caller hands the original initrd to the kernel. */
int initrd_unpack(const uint8_t *img, size_t len, size_t max, struct initrd_unpacked *u, char *msg,
		  size_t msglen);

#endif
