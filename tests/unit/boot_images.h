/* The boot tests (test_boot_*.c, test_e820.c): fake guest memory (heap buffers, one region below
 * 4 GiB and optionally one above), little-endian accessors, and synthetic kernels: a bzImage
 * (boot protocol 2.15 header, patterned payload) and a PVH ELF (a GNU and a Xen PVH note, one
 * PT_LOAD at 16 MiB with filesz < memsz). */
#ifndef PETREL_TESTS_UNIT_BOOT_IMAGES_H
#define PETREL_TESTS_UNIT_BOOT_IMAGES_H

#include <elf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memory/guest_mem.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* ---- fake guest memory ---- */

/* One region [0, low), and when high is non-zero a second one [4 GiB, 4 GiB + high). */
static inline void mem_init2(struct guest_mem *m, uint64_t low, uint64_t high)
{
	memset(m, 0, sizeof(*m));
	m->regions[0] = (struct guest_region){ 0, low, calloc(1, low) };
	m->nregions = 1;
	m->total = low;
	if (high) {
		m->regions[1] = (struct guest_region){ 4 * GiB, high, calloc(1, high) };
		m->nregions = 2;
		m->total += high;
	}
}

static inline void mem_init(struct guest_mem *m, uint64_t size) { mem_init2(m, size, 0); }

static inline void mem_free(struct guest_mem *m)
{
	for (unsigned i = 0; i < m->nregions; i++)
		free(m->regions[i].hva);
	memset(m, 0, sizeof(*m));
}

static inline uint8_t *gp(struct guest_mem *m, uint64_t gpa) { return guest_mem_ptr(m, gpa, 1); }

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static inline uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static inline void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void wr32(uint8_t *p, uint32_t v) { wr16(p, (uint16_t)v); wr16(p + 2, (uint16_t)(v >> 16)); }
static inline void wr64(uint8_t *p, uint64_t v) { wr32(p, (uint32_t)v); wr32(p + 4, (uint32_t)(v >> 32)); }

/* ---- a synthetic bzImage ---- */

#define BZ_SETUP_SECTS 1
#define BZ_KOFF ((BZ_SETUP_SECTS + 1) * 512)
#define BZ_PAYLOAD 0x3000
#define BZ_HDR_END 0x270

struct bz {
	uint8_t *img;
	size_t len;
};

static inline struct bz bz_make(size_t payload)
{
	struct bz b;
	b.len = BZ_KOFF + payload;
	b.img = calloc(1, b.len);
	uint8_t *h = b.img;
	h[0x1f1] = BZ_SETUP_SECTS;
	wr16(h + 0x1fe, 0xaa55);
	h[0x200] = 0xeb;
	h[0x201] = BZ_HDR_END - 0x202;
	memcpy(h + 0x202, "HdrS", 4);
	wr16(h + 0x206, 0x020f);
	h[0x211] = 0x01;                 /* LOADED_HIGH */
	wr32(h + 0x22c, 0x7fffffff);     /* initrd_addr_max */
	wr32(h + 0x230, 0x200000);       /* kernel_alignment */
	h[0x234] = 1;                    /* relocatable */
	wr16(h + 0x236, 0x0003);         /* XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G */
	wr32(h + 0x238, 2048);           /* cmdline_size */
	wr64(h + 0x258, 0x1000000);      /* pref_address: 16 MiB */
	wr32(h + 0x260, 0x10000);        /* init_size: 64 KiB */
	h[0x26f] = 0x5a;                 /* last byte of the header: copied to the zero page */
	for (size_t i = 0; i < payload; i++)
		h[BZ_KOFF + i] = (uint8_t)(i * 7 + 1);
	return b;
}

/* ---- a synthetic PVH ELF ---- */

struct elf {
	uint8_t buf[0x4000];
	size_t len;
	unsigned nph;
};

static inline Elf64_Phdr *ph(struct elf *e, unsigned i)
{
	return (Elf64_Phdr *)(e->buf + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr));
}

static inline void elf_sync(struct elf *e)
{
	((Elf64_Ehdr *)e->buf)->e_phnum = (Elf64_Half)e->nph;
}

static inline unsigned elf_add_ph(struct elf *e, Elf64_Phdr p)
{
	*ph(e, e->nph) = p;
	e->nph++;
	elf_sync(e);
	return e->nph - 1;
}

/* Note at `off`: returns its total size. */
static inline size_t put_note(uint8_t *p, const char *name, uint32_t namesz, uint32_t type,
		       const void *desc, uint32_t descsz)
{
	Elf64_Nhdr nh = { namesz, descsz, type };
	memcpy(p, &nh, sizeof(nh));
	size_t off = sizeof(nh);
	memcpy(p + off, name, namesz);
	off += (namesz + 3) & ~3u;
	memcpy(p + off, desc, descsz);
	off += (descsz + 3) & ~3u;
	return off;
}

#define PVH_ENTRY 0x1000123u
#define NOTE_OFF 0x800
#define SEG_OFF 0x1000
#define SEG_FILESZ 0x1800
#define SEG_MEMSZ 0x3000

/* An ELF with a GNU note and the Xen PVH note (8-byte descriptor) in one PT_NOTE, and one
 * PT_LOAD at 16 MiB with filesz < memsz. */
static inline void elf_make(struct elf *e)
{
	memset(e, 0, sizeof(*e));
	Elf64_Ehdr *eh = (Elf64_Ehdr *)e->buf;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = 0xffffffff81000000ull;
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);

	size_t noff = NOTE_OFF, n = 0;
	uint8_t gnu_desc[20] = { 1, 2, 3 };
	n += put_note(e->buf + noff + n, "GNU", 4, 3, gnu_desc, sizeof(gnu_desc));
	uint64_t entry = PVH_ENTRY;
	n += put_note(e->buf + noff + n, "Xen", 4, 18, &entry, 8);
	elf_add_ph(e, (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = noff, .p_filesz = n });
	elf_add_ph(e, (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = SEG_OFF, .p_paddr = 0x1000000,
				    .p_vaddr = 0xffffffff81000000ull, .p_filesz = SEG_FILESZ,
				    .p_memsz = SEG_MEMSZ });
	for (size_t i = 0; i < SEG_FILESZ; i++)
		e->buf[SEG_OFF + i] = (uint8_t)(i * 3 + 7);
	e->len = SEG_OFF + SEG_FILESZ;
}

#endif
