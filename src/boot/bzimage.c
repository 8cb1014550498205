/* Linux bzImage, entered through the 64-bit boot protocol: petrel plays the boot loader,
 * fills the zero page (struct boot_params) and jumps to startup_64 at load address + 0x200. */
#include "boot/boot.h"
#include "boot/bzimage_unpack.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "memory/guest_mem.h"
#include "util/error.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>

/* Offsets inside the image / zero page. */
enum {
	BP_ACPI_RSDP = 0x070, BP_EXT_RAMDISK_IMAGE = 0x0c0, BP_EXT_RAMDISK_SIZE = 0x0c4,
	BP_EXT_CMD_LINE_PTR = 0x0c8, BP_E820_ENTRIES = 0x1e8,
	HDR_SETUP_SECTS = 0x1f1, HDR_SYSSIZE = 0x1f4, HDR_BOOT_FLAG = 0x1fe, HDR_JUMP = 0x200, HDR_MAGIC = 0x202,
	HDR_VERSION = 0x206, HDR_TYPE_OF_LOADER = 0x210, HDR_LOADFLAGS = 0x211,
	HDR_CODE32_START = 0x214, HDR_RAMDISK_IMAGE = 0x218, HDR_RAMDISK_SIZE = 0x21c,
	HDR_HEAP_END_PTR = 0x224, HDR_CMD_LINE_PTR = 0x228, HDR_INITRD_ADDR_MAX = 0x22c,
	HDR_KERNEL_ALIGNMENT = 0x230, HDR_RELOCATABLE = 0x234, HDR_XLOADFLAGS = 0x236,
	HDR_CMDLINE_SIZE = 0x238, HDR_PAYLOAD_OFFSET = 0x248, HDR_PAYLOAD_LENGTH = 0x24c,
	HDR_PREF_ADDRESS = 0x258, HDR_INIT_SIZE = 0x260,
	BP_E820_TABLE = 0x2d0, BP_E820_MAX = 128, BP_SIZE = 0x1000,
	LOADED_HIGH = 0x01, CAN_USE_HEAP = 0x80, XLF_KERNEL_64 = 0x01,
};

static uint16_t get16(const uint8_t *p, size_t off) { return (uint16_t)(p[off] | p[off + 1] << 8); }
static uint32_t get32(const uint8_t *p, size_t off) { return get16(p, off) | (uint32_t)get16(p, off + 2) << 16; }
static uint64_t get64(const uint8_t *p, size_t off) { return get32(p, off) | (uint64_t)get32(p, off + 4) << 32; }
static void put16(uint8_t *p, size_t off, uint16_t v) { p[off] = (uint8_t)v; p[off + 1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, size_t off, uint32_t v) { put16(p, off, (uint16_t)v); put16(p, off + 2, (uint16_t)(v >> 16)); }
static void put64(uint8_t *p, size_t off, uint64_t v) { put32(p, off, (uint32_t)v); put32(p, off + 4, (uint32_t)(v >> 32)); }

int bzimage_parse(const uint8_t *img, size_t len, struct bzimage_info *info, char *err,
		  size_t errlen)
{
	memset(info, 0, sizeof(*info));
	if (len < HDR_INIT_SIZE + 4)
		return error_set(err, errlen, -EINVAL, "image is too small to be a bzImage (%zu bytes)", len);
	if (get16(img, HDR_BOOT_FLAG) != 0xaa55 || memcmp(img + HDR_MAGIC, "HdrS", 4) != 0)
		return error_set(err, errlen, -EINVAL,
				 "not a bzImage: no boot flag 0xAA55 / \"HdrS\" setup header");
	info->version = get16(img, HDR_VERSION);
	if (info->version < 0x020c)
		return error_set(err, errlen, -EINVAL,
				 "bzImage boot protocol %u.%02u is too old: 2.12 or later is needed for the 64-bit entry",
				 info->version >> 8, info->version & 0xff);
	info->setup_sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4;
	info->loadflags = img[HDR_LOADFLAGS];
	info->xloadflags = get16(img, HDR_XLOADFLAGS);
	info->initrd_addr_max = get32(img, HDR_INITRD_ADDR_MAX);
	info->cmdline_size = get32(img, HDR_CMDLINE_SIZE);
	info->kernel_alignment = get32(img, HDR_KERNEL_ALIGNMENT);
	info->relocatable = img[HDR_RELOCATABLE];
	info->pref_address = get64(img, HDR_PREF_ADDRESS);
	info->init_size = get32(img, HDR_INIT_SIZE);
	info->payload_offset = get32(img, HDR_PAYLOAD_OFFSET);
	info->payload_length = get32(img, HDR_PAYLOAD_LENGTH);
	info->hdr_end = HDR_JUMP + 2 + (size_t)img[HDR_JUMP + 1];
	if (!(info->xloadflags & XLF_KERNEL_64))
		return error_set(err, errlen, -EINVAL,
				 "bzImage has no 64-bit entry point (XLF_KERNEL_64 clear)");
	if (!(info->loadflags & LOADED_HIGH))
		return error_set(err, errlen, -EINVAL,
				 "bzImage is not loadable at 1 MiB (LOADED_HIGH clear)");
	info->kernel_offset = ((size_t)info->setup_sects + 1) * 512;
	if (info->kernel_offset + 0x200 >= len)
		return error_set(err, errlen, -EINVAL,
				 "bzImage is truncated: setup is %zu bytes but the file has %zu",
				 info->kernel_offset, len);
	if (info->hdr_end > len || info->hdr_end > BP_SIZE)
		return error_set(err, errlen, -EINVAL, "bzImage setup header length is invalid");
	info->kernel_size = len - info->kernel_offset;
	/* syssize (16-byte units, rounded up) says how much protected-mode code the file holds. */
	uint64_t syssize = (uint64_t)get32(img, HDR_SYSSIZE) * 16;
	if (syssize > (uint64_t)info->kernel_size + 15)
		return error_set(err, errlen, -EINVAL,
				 "bzImage is truncated: its header announces %llu bytes of kernel but the file holds %zu",
				 (unsigned long long)syssize, info->kernel_size);
	return 0;
}

int bzimage_check_cmdline(const struct bzimage_info *bz, size_t clen)
{
	uint32_t cmax = bz->version >= 0x0206 ? bz->cmdline_size : 255;
	if (clen > cmax || clen >= LAYOUT_CMDLINE_MAX) {
		log_error("kernel command line is %zu bytes; this kernel accepts at most %u", clen, cmax);
		return -EINVAL;
	}
	return 0;
}

uint64_t boot_place_initrd(const struct guest_mem *mem, uint64_t len, uint64_t floor,
			   uint64_t limit)
{
	uint64_t top = MIN(limit, guest_mem_low_end(mem));
	if (len == 0 || len > top)
		return 0;
	uint64_t addr = ALIGN_DOWN(top - len, 4096);
	if (addr < floor)
		return 0;
	return addr;
}

int bzimage_setup_params(struct guest_mem *mem, const struct boot_request *req,
			 const struct bzimage_info *bz, uint64_t load, uint64_t kernel_end)
{
	uint8_t *zp = guest_mem_ptr(mem, LAYOUT_ZERO_PAGE, BP_SIZE);
	memset(zp, 0, BP_SIZE);
	memcpy(zp + HDR_SETUP_SECTS, req->kernel + HDR_SETUP_SECTS, bz->hdr_end - HDR_SETUP_SECTS);
	zp[HDR_TYPE_OF_LOADER] = 0xff;
	zp[HDR_LOADFLAGS] |= CAN_USE_HEAP;
	put16(zp, HDR_HEAP_END_PTR, 0xfe00);
	put32(zp, HDR_CODE32_START, (uint32_t)load);

	size_t clen = strlen(req->cmdline);
	if (bzimage_check_cmdline(bz, clen) < 0)
		return -EINVAL;
	guest_mem_write(mem, LAYOUT_CMDLINE, req->cmdline, clen + 1);
	put32(zp, HDR_CMD_LINE_PTR, (uint32_t)LAYOUT_CMDLINE);

	if (req->initrd) {
		uint64_t limit = (uint64_t)bz->initrd_addr_max + 1;
		uint64_t addr = boot_place_initrd(mem, req->initrd_len, kernel_end, limit);
		if (!addr) {
			log_error("initrd (%zu bytes) does not fit in guest memory between the kernel and 0x%llx",
				  req->initrd_len, (unsigned long long)limit);
			return -ENOMEM;
		}
		guest_mem_write(mem, addr, req->initrd, req->initrd_len);
		put32(zp, HDR_RAMDISK_IMAGE, (uint32_t)addr);
		put32(zp, HDR_RAMDISK_SIZE, (uint32_t)req->initrd_len);
		put32(zp, BP_EXT_RAMDISK_IMAGE, (uint32_t)(addr >> 32));
		put32(zp, BP_EXT_RAMDISK_SIZE, (uint32_t)((uint64_t)req->initrd_len >> 32));
	}

	int n = MIN(req->e820_n, BP_E820_MAX);
	zp[BP_E820_ENTRIES] = (uint8_t)n;
	for (int i = 0; i < n; i++) {
		size_t o = BP_E820_TABLE + (size_t)i * 20;
		put64(zp, o, req->e820[i].addr);
		put64(zp, o + 8, req->e820[i].size);
		put32(zp, o + 16, req->e820[i].type);
	}
	put64(zp, BP_ACPI_RSDP, req->rsdp);
	return 0;
}

int bzimage_load(struct guest_mem *mem, const struct boot_request *req, struct boot_info *out)
{
	struct bzimage_info bz;
	char err[256];
	if (bzimage_parse(req->kernel, req->kernel_len, &bz, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -EINVAL;
	}
	int done = bzimage_load_unpacked(mem, req, &bz, out);
	if (done != 0)
		return done < 0 ? done : 0;
	uint64_t load = LAYOUT_KERNEL;
	if (bz.pref_address >= LAYOUT_KERNEL && bz.pref_address < LAYOUT_MMIO_HOLE)
		load = bz.pref_address;
	uint64_t need = MAX((uint64_t)bz.init_size, (uint64_t)bz.kernel_size);
	void *dst = guest_mem_ptr(mem, load, need);
	if (!dst) {
		log_error("guest memory is too small for this kernel: it needs %llu MiB above 0x%llx",
			  (unsigned long long)((need >> 20) + 1), (unsigned long long)load);
		return -ENOMEM;
	}
	memcpy(dst, req->kernel + bz.kernel_offset, bz.kernel_size);

	uint64_t kernel_end = load + need;
	int r = bzimage_setup_params(mem, req, &bz, load, kernel_end);
	if (r < 0)
		return r;

	out->mode = BOOT_LINUX64;
	out->entry = load + 0x200;
	out->params = LAYOUT_ZERO_PAGE;
	out->kernel_end = kernel_end;
	return 0;
}
