/* ELF vmlinux entered through PVH: 32-bit protected mode, paging off, EBX pointing to an
 * hvm_start_info that carries the command line, modules (the initrd) and memory map. */
#include "boot/boot.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "memory/guest_mem.h"
#include "util/error.h"
#include "util/log.h"
#include "util/util.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC 0x336ec578

struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr, size, cmdline_paddr, reserved;
};

struct hvm_memmap_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};

int image_is_elf(const uint8_t *img, size_t len)
{
	return len >= SELFMAG && memcmp(img, ELFMAG, SELFMAG) == 0;
}

/* Walk the notes in [p, p+len) looking for the PVH entry. */
static int find_pvh_note(const uint8_t *p, size_t len, uint32_t *entry)
{
	size_t off = 0;
	while (len - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		memcpy(&nh, p + off, sizeof(nh));
		off += sizeof(nh);
		size_t name = ALIGN_UP((size_t)nh.n_namesz, 4), desc = ALIGN_UP((size_t)nh.n_descsz, 4);
		if (name > len - off || desc > len - off - name)
			return -EINVAL;
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    memcmp(p + off, "Xen", 4) == 0 && (nh.n_descsz == 4 || nh.n_descsz == 8)) {
			uint64_t v = 0;
			memcpy(&v, p + off + name, nh.n_descsz);
			if (v > UINT32_MAX)
				return -EINVAL;
			*entry = (uint32_t)v;
			return 1;
		}
		off += name + desc;
	}
	return 0;
}

int elf_kernel_parse(const uint8_t *img, size_t len, struct pvh_info *info, char *err,
		     size_t errlen)
{
	memset(info, 0, sizeof(*info));
	Elf64_Ehdr eh;
	if (!image_is_elf(img, len) || len < sizeof(eh))
		return error_set(err, errlen, -EINVAL, "not an ELF image");
	memcpy(&eh, img, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64)
		return error_set(err, errlen, -EINVAL, "ELF image is not a little-endian x86-64 ELF64 file");
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phoff > len ||
	    (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff)
		return error_set(err, errlen, -EINVAL, "ELF program headers are missing or outside the file");
	info->elf_entry = eh.e_entry;
	int found = 0;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, img + eh.e_phoff + (size_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE)
			continue;
		if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
			return error_set(err, errlen, -EINVAL, "ELF segment %u lies outside the file", i);
		if (ph.p_type == PT_NOTE) {
			if (!found) {
				found = find_pvh_note(img + ph.p_offset, ph.p_filesz, &info->entry);
				if (found < 0)
					return error_set(err, errlen, -EINVAL,
							 "ELF note segment %u is malformed", i);
			}
			continue;
		}
		if (ph.p_filesz > ph.p_memsz || ph.p_paddr + ph.p_memsz < ph.p_paddr)
			return error_set(err, errlen, -EINVAL, "ELF segment %u has invalid sizes", i);
		if (info->nseg == PVH_MAX_SEGMENTS)
			return error_set(err, errlen, -EINVAL, "ELF image has more than %d loadable segments",
					 PVH_MAX_SEGMENTS);
		info->seg[info->nseg++] = (struct elf_segment){ ph.p_paddr, ph.p_filesz, ph.p_memsz, ph.p_offset };
	}
	info->has_pvh = found;
	if (!info->nseg)
		return error_set(err, errlen, -EINVAL, "ELF image has no loadable segments");
	return 0;
}

int pvh_parse(const uint8_t *img, size_t len, struct pvh_info *info, char *err, size_t errlen)
{
	int r = elf_kernel_parse(img, len, info, err, errlen);
	if (r == 0 && !info->has_pvh)
		return error_set(err, errlen, -EINVAL,
				 "ELF kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): build it with CONFIG_PVH=y or use a bzImage");
	return r;
}

int elf_load_segments(struct guest_mem *mem, const uint8_t *img, const struct pvh_info *pi,
		      uint64_t *end)
{
	uint64_t kernel_end = 0;
	for (unsigned i = 0; i < pi->nseg; i++) {
		const struct elf_segment *s = &pi->seg[i];
		uint8_t *dst = guest_mem_ptr(mem, s->paddr, s->memsz);
		if (!dst || s->paddr < LAYOUT_KERNEL) {
			log_error("ELF segment at 0x%llx (+0x%llx) is outside guest RAM above 1 MiB",
				  (unsigned long long)s->paddr, (unsigned long long)s->memsz);
			return -EINVAL;
		}
		memcpy(dst, img + s->offset, s->filesz);
		memset(dst + s->filesz, 0, s->memsz - s->filesz);
		kernel_end = MAX(kernel_end, s->paddr + s->memsz);
	}
	*end = kernel_end;
	return 0;
}

int pvh_load(struct guest_mem *mem, const struct boot_request *req, struct boot_info *out)
{
	struct pvh_info pi;
	char err[256];
	if (pvh_parse(req->kernel, req->kernel_len, &pi, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -EINVAL;
	}
	uint64_t kernel_end;
	if (elf_load_segments(mem, req->kernel, &pi, &kernel_end) < 0)
		return -EINVAL;

	size_t clen = strlen(req->cmdline);
	if (clen >= LAYOUT_CMDLINE_MAX) {
		log_error("kernel command line is too long (%zu bytes)", clen);
		return -EINVAL;
	}
	guest_mem_write(mem, LAYOUT_CMDLINE, req->cmdline, clen + 1);

	struct hvm_start_info si = {
		.magic = HVM_START_MAGIC, .version = 1, .cmdline_paddr = LAYOUT_CMDLINE,
		.rsdp_paddr = req->rsdp,
	};
	uint64_t modlist = LAYOUT_START_INFO + 0x40;
	uint64_t memmap = LAYOUT_START_INFO + 0x80;
	if (req->initrd) {
		uint64_t addr = boot_place_initrd(mem, req->initrd_len, kernel_end, LAYOUT_MMIO_HOLE);
		if (!addr) {
			log_error("initrd (%zu bytes) does not fit in guest memory above the kernel",
				  req->initrd_len);
			return -ENOMEM;
		}
		guest_mem_write(mem, addr, req->initrd, req->initrd_len);
		struct hvm_modlist_entry m = { .paddr = addr, .size = req->initrd_len };
		guest_mem_write(mem, modlist, &m, sizeof(m));
		si.nr_modules = 1;
		si.modlist_paddr = modlist;
	}
	for (int i = 0; i < req->e820_n; i++) {
		struct hvm_memmap_entry e = { req->e820[i].addr, req->e820[i].size, req->e820[i].type, 0 };
		guest_mem_write(mem, memmap + (uint64_t)i * sizeof(e), &e, sizeof(e));
	}
	si.memmap_paddr = memmap;
	si.memmap_entries = (uint32_t)req->e820_n;
	guest_mem_write(mem, LAYOUT_START_INFO, &si, sizeof(si));

	out->mode = BOOT_PVH;
	out->entry = pi.entry;
	out->params = LAYOUT_START_INFO;
	out->kernel_end = kernel_end;
	return 0;
}
