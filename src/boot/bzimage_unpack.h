/* A bzImage whose payload petrel decompresses on the host: the "bzImage -> entry" decision
 * (bzimage_unpack, a pure function over untrusted bytes) and the load that follows it. */
#ifndef PETREL_BOOT_BZIMAGE_UNPACK_H
#define PETREL_BOOT_BZIMAGE_UNPACK_H

#include "boot/boot.h"
#include "boot/payload.h"

/* Hard cap on a decompressed kernel, whatever init_size and the guest's RAM allow. */
#define BZIMAGE_UNPACK_MAX (512ull << 20)

struct bzimage_unpacked {
	enum payload_format format;
	enum boot_mode mode;   /* BOOT_PVH (entry = the PVH note) or BOOT_LINUX64 (startup_64) */
	uint64_t entry;
	uint8_t *elf;          /* the decompressed vmlinux (bzimage_unpacked_free() it) */
	size_t elf_len;
	struct pvh_info pi;    /* its segments, all inside the guest's RAM below 3 GiB */
	uint64_t ns;           /* time spent decompressing */
};

/* Decide how to enter the bzImage img (parsed into bz). Returns
 *   1        petrel decompressed it: *u is filled; bzimage_unpacked_free(u) after use;
 *   0        boot it through the kernel's own decompressor (disabled, no or unknown
 *            payload, a kernel petrel cannot place): why in msg;
 *   -EINVAL  the same fall-back, but the payload is damaged (corrupt, truncated, inconsistent
 *            sizes): why in msg; the kernel's decompressor will probably fail too;
 *   -ENOTSUP the same fall-back: the format's library is not installed (why in msg).
 * Output is bounded by min(init_size, guest RAM, BZIMAGE_UNPACK_MAX) before anything is
 * allocated. mem is only read (its size and layout). */
int bzimage_unpack(const uint8_t *img, size_t len, const struct bzimage_info *bz,
		   const struct guest_mem *mem, enum boot_decompress how,
		   struct bzimage_unpacked *u, char *msg, size_t msglen);

void bzimage_unpacked_free(struct bzimage_unpacked *u);

/* bzimage_load's first step: decide, and when petrel decompressed the kernel, load it and
 * fill *out. 1 = loaded, 0 = take the classic path (logged at info, or warning for a
 * damaged payload), <0 = error (logged). */
int bzimage_load_unpacked(struct guest_mem *mem, const struct boot_request *req,
			  const struct bzimage_info *bz, struct boot_info *out);

#endif
