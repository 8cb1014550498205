#include "boot/boot.h"
#include "boot/initrd_unpack.h"
#include "memory/guest_mem.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>

#define KERNEL_MAX (512ull << 20)
#define INITRD_MAX (2048ull << 20)

int boot_decompress_from_name(const char *s, unsigned *out)
{
	static const char *const names[] = { "host", "host-linux64", "guest" };
	for (unsigned i = 0; i < ARRAY_SIZE(names); i++)
		if (strcmp(s, names[i]) == 0) {
			*out = i; /* enum boot_decompress */
			return 0;
		}
	log_error("--kernel-decompress: expected host, host-linux64 or guest, not '%s'", s);
	return -EINVAL;
}

/* Decompress the initrd's compressed archives on the host (--initrd-unpack, on by default);
 * whenever petrel does not, the kernel gets the file as it is. The result is kept to a
 * quarter of the guest's RAM: the kernel needs about as much again for the files it makes. */
static void maybe_unpack_initrd(const struct guest_mem *mem, const char *path, char **initrd,
				size_t *ilen)
{
	struct initrd_unpacked u;
	char msg[320];
	size_t max = (size_t)MIN(INITRD_UNPACK_MAX, mem->total / 4);
	int r = initrd_unpack((const uint8_t *)*initrd, *ilen, max, &u, msg, sizeof(msg));
	if (r == 1) {
		log_info("initrd: %u %s archive%s decompressed by petrel (%zu -> %zu bytes, %llu entries, "
			 "in %.1f ms)", u.members, u.formats, u.members == 1 ? "" : "s", *ilen, u.len,
			 (unsigned long long)u.entries, (double)u.ns / 1e6);
		free(*initrd);
		*initrd = (char *)u.data;
		*ilen = u.len;
	} else if (r == 0) {
		log_debug("initrd '%s' left as it is: %s", path, msg);
	} else {
		log_warn("initrd '%s' is handed to the kernel as it is (it decompresses it itself): %s",
			 path, msg);
	}
}

int initrd_unpack_from_name(const char *s, bool *off)
{
	if (strcmp(s, "on") != 0 && strcmp(s, "off") != 0) {
		log_error("--initrd-unpack: expected on or off, not '%s'", s);
		return -EINVAL;
	}
	*off = strcmp(s, "off") == 0;
	return 0;
}

int boot_load_images(struct guest_mem *mem, struct boot_images *img, const char *cmdline,
		     const struct e820_entry *e820, int e820_n, uint64_t rsdp, enum boot_decompress decompress,
		     bool initrd_unpack_on, struct boot_info *out)
{
	/* Neither can be larger than the guest's RAM. */
	if (img->klen > mem->total || (img->initrd && img->ilen > mem->total)) {
		bool k = img->klen > mem->total;
		log_error("%s '%s' (%zu MiB) is larger than the guest's memory (%llu MiB)", k ? "kernel image" : "initrd",
			  k ? img->kernel_name : img->initrd_name, (k ? img->klen : img->ilen) >> 20,
			  (unsigned long long)(mem->total >> 20));
		return -EFBIG;
	}
	if (img->initrd && initrd_unpack_on)
		maybe_unpack_initrd(mem, img->initrd_name, &img->initrd, &img->ilen);
	struct boot_request req = {
		.kernel = (const uint8_t *)img->kernel, .kernel_len = img->klen,
		.initrd = (const uint8_t *)img->initrd, .initrd_len = img->ilen,
		.cmdline = cmdline, .e820 = e820, .e820_n = e820_n, .rsdp = rsdp,
		.decompress = decompress,
	};
	if (image_is_elf(req.kernel, img->klen))
		return pvh_load(mem, &req, out);
	struct bzimage_info bz;
	char msg[256];
	if (bzimage_parse(req.kernel, img->klen, &bz, msg, sizeof(msg)) < 0) {
		log_error("kernel image '%s' is neither a bzImage nor an ELF vmlinux with a PVH note: %s",
			  img->kernel_name, msg);
		return -EINVAL;
	}
	return bzimage_load(mem, &req, out);
}

int boot_load(struct guest_mem *mem, const char *kernel_path, const char *initrd_path,
	      const char *cmdline, const struct e820_entry *e820, int e820_n, uint64_t rsdp,
	      enum boot_decompress decompress, bool initrd_unpack_on, struct boot_info *out)
{
	struct boot_images img = { .kernel_name = kernel_path, .initrd_name = initrd_path };
	/* Neither can be larger than the guest's RAM: refuse that from the size, before reading. */
	uint64_t kmax = MIN(KERNEL_MAX, mem->total), imax = MIN(INITRD_MAX, mem->total);
	int err = read_whole_file(kernel_path, kmax, &img.kernel, &img.klen);
	if (err < 0) {
		if (err == -EFBIG)
			log_error("kernel image '%s' is larger than %llu MiB (the guest's memory, at most %llu MiB)",
				  kernel_path, (unsigned long long)(kmax >> 20), KERNEL_MAX >> 20);
		else
			log_error("cannot read kernel image '%s': %s", kernel_path, strerror(-err));
		return err;
	}
	if (initrd_path) {
		err = read_whole_file(initrd_path, imax, &img.initrd, &img.ilen);
		if (err < 0) {
			if (err == -EFBIG)
				log_error("initrd '%s' does not fit: it is larger than %llu MiB (the guest's memory, "
					  "at most %llu MiB)", initrd_path, (unsigned long long)(imax >> 20), INITRD_MAX >> 20);
			else
				log_error("cannot read initrd '%s': %s", initrd_path, strerror(-err));
			free(img.kernel);
			return err;
		}
	}
	err = boot_load_images(mem, &img, cmdline, e820, e820_n, rsdp, decompress, initrd_unpack_on, out);
	free(img.kernel);
	free(img.initrd);
	return err;
}
