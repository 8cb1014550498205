/* bzImage payloads decompressed on the host. A bzImage's protected-mode part is the kernel's
 * own decompressor plus the compressed vmlinux (the payload: payload_offset/payload_length
 * in the setup header, boot protocol 2.08+). Where guest ring 0 is emulated that
 * decompressor takes minutes, so petrel decompresses the payload itself and enters the
 * vmlinux directly: through its PVH entry note when it has one (the path a vmlinux boots
 * on, src/boot/pvh.c), else at startup_64 (the ELF entry, at its physical link address)
 * with the same zero page the classic path builds. Anything unexpected falls back to the
 * classic path: the bytes are untrusted and the kernel's decompressor is always correct. */
#include "boot/bzimage_unpack.h"
#include "arch/x86/layout.h"
#include "memory/guest_mem.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static uint32_t le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* 1 if [a, a+1) lies in the file bytes of a loadable segment. */
static int in_segment(const struct pvh_info *pi, uint64_t a)
{
	for (unsigned i = 0; i < pi->nseg; i++)
		if (a >= pi->seg[i].paddr && a - pi->seg[i].paddr < pi->seg[i].filesz)
			return 1;
	return 0;
}

/* Pick the entry of the decompressed ELF in u->elf; 1, or 0 with why in msg. */
static int choose_entry(const struct guest_mem *mem, enum boot_decompress how,
			struct bzimage_unpacked *u, char *msg, size_t msglen)
{
	char err[200];
	if (elf_kernel_parse(u->elf, u->elf_len, &u->pi, err, sizeof(err)) < 0) {
		snprintf(msg, msglen, "the decompressed %s payload is not a usable vmlinux: %s",
			 payload_format_name(u->format), err);
		return 0;
	}
	for (unsigned i = 0; i < u->pi.nseg; i++) {
		const struct elf_segment *s = &u->pi.seg[i];
		if (s->paddr < LAYOUT_KERNEL || s->paddr + s->memsz > LAYOUT_MMIO_HOLE ||
		    !guest_mem_ptr(mem, s->paddr, s->memsz)) {
			snprintf(msg, msglen, "the kernel's link address 0x%llx (+0x%llx) is not in this guest's RAM above 1 MiB",
				 (unsigned long long)s->paddr, (unsigned long long)s->memsz);
			return 0;
		}
	}
	if (how == BOOT_DECOMPRESS_HOST && u->pi.has_pvh) {
		if (!in_segment(&u->pi, u->pi.entry)) {
			snprintf(msg, msglen, "the vmlinux's PVH entry 0x%x is outside its segments", u->pi.entry);
			return 0;
		}
		u->mode = BOOT_PVH;
		u->entry = u->pi.entry;
		return 1;
	}
	if (!in_segment(&u->pi, u->pi.elf_entry)) {
		snprintf(msg, msglen, "the vmlinux's entry 0x%llx is not a physical address in its segments",
			 (unsigned long long)u->pi.elf_entry);
		return 0;
	}
	u->mode = BOOT_LINUX64;
	u->entry = u->pi.elf_entry;
	return 1;
}

int bzimage_unpack(const uint8_t *img, size_t len, const struct bzimage_info *bz,
		   const struct guest_mem *mem, enum boot_decompress how,
		   struct bzimage_unpacked *u, char *msg, size_t msglen)
{
	memset(u, 0, sizeof(*u));
	if (how == BOOT_DECOMPRESS_GUEST) {
		snprintf(msg, msglen, "host decompression is off (--kernel-decompress guest)");
		return 0;
	}
	if (bz->version < 0x0208 || bz->payload_length == 0) {
		snprintf(msg, msglen, "the setup header announces no payload");
		return 0;
	}
	if (bz->kernel_offset > len || bz->kernel_size != len - bz->kernel_offset ||
	    bz->payload_offset > bz->kernel_size ||
	    bz->payload_length > bz->kernel_size - bz->payload_offset) {
		snprintf(msg, msglen, "the payload (offset %u, %u bytes) lies outside the image",
			 bz->payload_offset, bz->payload_length);
		return -EINVAL;
	}
	const uint8_t *p = img + bz->kernel_offset + bz->payload_offset;
	size_t plen = bz->payload_length;
	u->format = payload_detect(p, plen);
	if (u->format == PAYLOAD_UNKNOWN) {
		snprintf(msg, msglen, "petrel does not decompress this payload (unknown format)");
		return 0;
	}
	const char *fmt = payload_format_name(u->format);
	if (plen < 16) {
		snprintf(msg, msglen, "the %s payload is truncated (%zu bytes)", fmt, plen);
		return -EINVAL;
	}
	/* The decompressed size ends the payload (gzip's ISIZE; the build appends it to the
	 * others). The kernel's decompressor works in place inside init_size, so a real
	 * kernel's size is at most init_size; a larger one is a lie. */
	uint64_t want = le32(p + plen - 4);
	size_t slen = u->format == PAYLOAD_GZIP ? plen : plen - 4;
	uint64_t cap = MIN(BZIMAGE_UNPACK_MAX, mem->total);
	if (want == 0 || want > bz->init_size) {
		snprintf(msg, msglen, "the %s payload says it holds %llu bytes but init_size is %u",
			 fmt, (unsigned long long)want, bz->init_size);
		return -EINVAL;
	}
	if (want > cap) {
		snprintf(msg, msglen, "the %s payload holds %llu MiB, more than the guest's RAM or %llu MiB",
			 fmt, (unsigned long long)(want >> 20), BZIMAGE_UNPACK_MAX >> 20);
		return 0;
	}
	/* Pre-faulted: on this PVM host, touching 50 MiB page by page cost 150-240 ms, in one
	 * MAP_POPULATE 10-15 ms (measured). */
	uint64_t t0 = now_ns();
	void *buf = mmap(NULL, want, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (buf == MAP_FAILED) {
		snprintf(msg, msglen, "cannot allocate %llu MiB to decompress the payload",
			 (unsigned long long)(want >> 20));
		return 0;
	}
	u->elf = buf;
	u->elf_len = want;
	char err[200];
	int r = payload_decompress(u->format, p, slen, u->elf, want, err, sizeof(err));
	u->ns = now_ns() - t0;
	if (r == 0)
		r = choose_entry(mem, how, u, msg, msglen);
	else
		snprintf(msg, msglen, "the payload does not decompress: %s", err);
	if (r != 1)
		bzimage_unpacked_free(u);
	return r == -ENOMEM ? 0 : r;
}

void bzimage_unpacked_free(struct bzimage_unpacked *u)
{
	if (u->elf)
		munmap(u->elf, u->elf_len);
	u->elf = NULL;
	u->elf_len = 0;
}

int bzimage_load_unpacked(struct guest_mem *mem, const struct boot_request *req,
			  const struct bzimage_info *bz, struct boot_info *out)
{
	struct bzimage_unpacked u;
	char msg[256];
	int r = bzimage_unpack(req->kernel, req->kernel_len, bz, mem, req->decompress, &u, msg,
			       sizeof(msg));
#define CLASSIC "booting it the classic way (its own startup_64, which decompresses the kernel)"
	if (r < 0)
		log_warn("bzImage: %s; " CLASSIC, msg);
	if (r == 0)
		log_info("bzImage: %s; " CLASSIC, msg);
#undef CLASSIC
	if (r <= 0)
		return 0;
	int err = bzimage_check_cmdline(bz, strlen(req->cmdline));
	if (err == 0 && u.mode == BOOT_PVH) {
		struct boot_request vmlinux = *req;
		vmlinux.kernel = u.elf;
		vmlinux.kernel_len = u.elf_len;
		err = pvh_load(mem, &vmlinux, out);
	} else if (err == 0) {
		uint64_t load = UINT64_MAX, end = 0;
		for (unsigned i = 0; i < u.pi.nseg; i++)
			load = MIN(load, u.pi.seg[i].paddr);
		err = elf_load_segments(mem, u.elf, &u.pi, &end);
		if (err == 0)
			err = bzimage_setup_params(mem, req, bz, load, end);
		if (err == 0) {
			out->mode = BOOT_LINUX64;
			out->entry = u.entry;
			out->params = LAYOUT_ZERO_PAGE;
			out->kernel_end = end;
		}
	}
	if (err == 0)
		log_info("bzImage: %s payload decompressed by petrel (%u -> %zu bytes in %.1f ms); "
			 "entering the kernel at its %s 0x%llx", payload_format_name(u.format),
			 bz->payload_length, u.elf_len, (double)u.ns / 1e6,
			 u.mode == BOOT_PVH ? "PVH entry" : "64-bit entry (startup_64)",
			 (unsigned long long)u.entry);
	bzimage_unpacked_free(&u);
	return err < 0 ? err : 1;
}
