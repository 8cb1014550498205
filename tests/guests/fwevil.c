/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fwevil: a hostile guest against the firmware machine (issue 52, "Hostile input"), booted
 * through SeaBIOS and GRUB with 2 vCPUs (tests/firmware/test_fwevil.py). This file drives
 * fw_cfg from ring 3: selectors of no item, reads past an item's end, writes to the data port,
 * wide and odd accesses, and DMA descriptors and buffers outside RAM, in MMIO, in the ROM,
 * across the end of RAM and of 4 GiB, 64-bit addresses a truncating VMM would fold back onto
 * the guest's own memory, huge lengths, write requests, a descriptor overlapping its buffer; it
 * reads and parses the file directory and a few files. Every DMA happens in a canary-filled
 * arena: only the control word and the buffer a good request names may change. The chipset
 * part (PAM while the AP runs in the BIOS area, the PIIX4 PM base, port 0x92, ROM writes) is
 * fwevil_chipset.c. Prints "fwevil cases=N" and passes through the debug-exit port.
 */
#include "fwevil.h"

DEFINE_GUEST("fwevil");

#define FW_SEL 0x510
#define FW_DATA 0x511
#define FW_DMA_HI 0x514
#define FW_DMA_LO 0x518

#define KEY_SIGNATURE 0x00
#define KEY_ID 0x01
#define KEY_FILE_DIR 0x19
#define KEY_FILE_FIRST 0x20

#define CTL_ERROR 0x01
#define CTL_READ 0x02
#define CTL_SKIP 0x04
#define CTL_SELECT 0x08
#define CTL_WRITE 0x10
#define CTL_KEY(k) ((uint32_t)(k) << 16)

#define ROM_BASE 0xfffc0000ull  /* bios-256k.bin */
#define IN_PCI_HOLE 0xe0000000ull

#define MAX_FILES 64
#define DIR_ENTRY 64
#define DIR_MAX (4 + MAX_FILES * DIR_ENTRY)

uint64_t fwevil_ram_end;
static unsigned cases;

void fwevil_case(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("fwevil: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	cases++;
}

/* ---- PCI configuration mechanism #1 ---- */

static uint32_t cfg_addr(unsigned dev, unsigned fn, unsigned off)
{
	return 0x80000000u | dev << 11 | fn << 8 | (off & 0xfc);
}

uint32_t cfg_read32(unsigned dev, unsigned fn, unsigned off)
{
	outl(0xcf8, cfg_addr(dev, fn, off));
	return inl(0xcfc);
}

uint8_t cfg_read8(unsigned dev, unsigned fn, unsigned off)
{
	outl(0xcf8, cfg_addr(dev, fn, off));
	return inb((uint16_t)(0xcfc + (off & 3)));
}

void cfg_write8(unsigned dev, unsigned fn, unsigned off, uint8_t v)
{
	outl(0xcf8, cfg_addr(dev, fn, off));
	outb((uint16_t)(0xcfc + (off & 3)), v);
}

void cfg_write32(unsigned dev, unsigned fn, unsigned off, uint32_t v)
{
	outl(0xcf8, cfg_addr(dev, fn, off));
	outl(0xcfc, v);
}

/* ---- the arena: every DMA's descriptor and buffer, the rest canaries ---- */

#define ARENA_SIZE 0x8000
#define A_DESC 0x1000   /* the descriptor */
#define A_BUF 0x2000    /* the buffer, up to 0x4000 bytes */

struct dma_desc {
	uint32_t control, length; /* big-endian */
	uint64_t address;
} __attribute__((packed));

static uint8_t arena[ARENA_SIZE] __attribute__((aligned(4096)));
static uint8_t dir[DIR_MAX];
static unsigned nfiles;

static uint8_t pat(unsigned i) { return (uint8_t)((i * 31 + 7) ^ 0x5c); }
static uint64_t gpa(unsigned off) { return (uintptr_t)arena + off; }
static struct dma_desc *desc_at(unsigned off) { return (struct dma_desc *)(arena + off); }

/* The descriptor the guest last wrote into the arena (since arena_fill): its bytes are
 * expected there instead of the canaries. */
static uint8_t last_desc[16];
static unsigned last_off = -1u;

static void arena_fill(void)
{
	for (unsigned i = 0; i < ARENA_SIZE; i++)
		arena[i] = pat(i);
	last_off = -1u;
}

static uint8_t expected(unsigned i)
{
	return last_off != -1u && i >= last_off && i < last_off + 16 ? last_desc[i - last_off] : pat(i);
}

/* Every arena byte outside [lo, hi) and outside `ctl` (a control word the device writes back:
 * -1u for none) still holds its canary. */
static void arena_check(const char *name, unsigned ctl, unsigned lo, unsigned hi)
{
	for (unsigned i = 0; i < ARENA_SIZE; i++) {
		if ((i >= lo && i < hi) || (ctl != -1u && i >= ctl && i < ctl + 4))
			continue;
		check(arena[i] == expected(i), "%s: arena byte 0x%x changed (0x%02x, expected 0x%02x)", name, i, arena[i],
		      expected(i));
	}
}

static void desc_set(unsigned off, uint32_t control, uint32_t len, uint64_t addr)
{
	struct dma_desc *d = desc_at(off);
	d->control = __builtin_bswap32(control);
	d->length = __builtin_bswap32(len);
	d->address = __builtin_bswap64(addr);
	memcpy(last_desc, d, 16);
	last_off = off;
}

static void dma_kick(uint64_t desc)
{
	barrier();
	outl(FW_DMA_HI, __builtin_bswap32((uint32_t)(desc >> 32)));
	outl(FW_DMA_LO, __builtin_bswap32((uint32_t)desc));
	barrier();
}

static uint32_t ctl_at(unsigned off) { return __builtin_bswap32(READ_ONCE(desc_at(off)->control)); }

/* One request with the descriptor at A_DESC; the control word it leaves. */
static uint32_t dma(uint32_t control, uint32_t len, uint64_t addr)
{
	desc_set(A_DESC, control, len, addr);
	dma_kick(gpa(A_DESC));
	return ctl_at(A_DESC);
}

/* A request that must be refused with the error bit, the arena untouched but the control word. */
static void dma_refused(const char *name, uint32_t control, uint32_t len, uint64_t addr)
{
	arena_fill();
	uint32_t c = dma(control, len, addr);
	check(c & CTL_ERROR, "%s: control 0x%x, expected the error bit", name, c);
	arena_check(name, A_DESC, 0, 0);
	fwevil_case("%s -> control 0x%x", name, c);
}

/* ---- selector and data ports ---- */

static void sel(uint16_t key) { outw(FW_SEL, key); }

static void pio_read(void *buf, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		((uint8_t *)buf)[i] = inb(FW_DATA);
}

static bool all_zero(const uint8_t *p, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

bool fwcfg_signature_ok(void)
{
	char s[4];
	sel(KEY_SIGNATURE);
	pio_read(s, 4);
	return !memcmp(s, "QEMU", 4);
}

static bool has_nul(const char *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (!s[i])
			return true;
	return false;
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void ports(void)
{
	uint8_t b[8];
	check(fwcfg_signature_ok(), "the signature is not QEMU");
	pio_read(b, 8);
	check(all_zero(b, 8), "bytes past the signature's end are not 0");
	sel(KEY_ID);
	pio_read(b, 4);
	check(b[0] & 2, "fw_cfg ID 0x%x lacks the DMA bit", b[0]);
	check(inl(FW_DMA_HI) == 0x554d4551 && inl(FW_DMA_LO) == 0x47464320, "the DMA register does not read \"QEMU CFG\"");
	fwevil_case("signature, past its end, ID 0x%x, DMA signature", b[0]);

	/* writes to the data port (all widths) and a byte to the selector change nothing */
	sel(KEY_SIGNATURE);
	char s[4];
	s[0] = (char)inb(FW_DATA);
	outb(FW_DATA, 0x55);
	s[1] = (char)inb(FW_DATA);
	outw(FW_DATA, 0x5555);
	outl(FW_DATA, 0x55555555);
	s[2] = (char)inb(FW_DATA);
	outb(FW_SEL, KEY_FILE_DIR);
	s[3] = (char)inb(FW_DATA);
	check(!memcmp(s, "QEMU", 4), "data-port writes changed the stream: \"%c%c%c%c\"", s[0], s[1], s[2], s[3]);
	fwevil_case("data port written (8/16/32 bits), byte write to the selector: ignored");

	/* 16- and 32-bit accesses at every odd place: reads do not advance the stream, writes
	 * (but the selector's word and the DMA halves' dwords) do nothing */
	sel(KEY_SIGNATURE);
	for (uint16_t p = FW_SEL - 1; p <= FW_SEL + 12; p++) {
		if (p != FW_DMA_HI && p != FW_DMA_LO)
			(void)inl(p);
		(void)inw(p);
	}
	check(inb(FW_DATA) == 'Q', "wide reads advanced the data stream");
	outl(FW_SEL, KEY_FILE_DIR);      /* a dword at the selector */
	outw(FW_DATA, KEY_FILE_DIR);     /* a word at the data port */
	for (uint16_t p = FW_SEL + 2; p <= FW_SEL + 12; p++)
		if (p != FW_DMA_HI && p != FW_DMA_LO) {
			outw(p, 0xffff);
			outl(p, 0xffffffffu);
			outb(p, 0xff);
		}
	check(inb(FW_DATA) == 'E', "odd writes changed the selection");
	fwevil_case("16/32-bit reads and writes at odd fw_cfg ports: no effect");

	/* selectors of no item read 0; the write-channel bit is ignored in a selector (as QEMU) */
	static const uint16_t none[] = { 0x7fff, 0x3fff, 0xbfff, 0xffff, 0x1234, 0x8050, 0xc019 };
	for (unsigned i = 0; i < ARRAY_SIZE(none); i++) {
		sel(none[i]);
		pio_read(b, 8);
		check(all_zero(b, 8), "selector 0x%x of no item read non-zero", none[i]);
	}
	sel(0x4000 | KEY_SIGNATURE);
	pio_read(b, 4);
	check(!memcmp(b, "QEMU", 4), "selector 0x4000 (write channel + signature) does not read the signature");
	fwevil_case("%u selectors of no item read 0", (unsigned)ARRAY_SIZE(none));
}

/* ---- the file directory ---- */

static int find_file(const char *name, uint32_t *len)
{
	for (unsigned i = 0; i < nfiles; i++) {
		const uint8_t *e = dir + 4 + i * DIR_ENTRY;
		if (!strcmp((const char *)e + 8, name)) {
			if (len)
				*len = be32(e);
			return (int)(e[4] << 8 | e[5]);
		}
	}
	return -1;
}

static void directory(void)
{
	arena_fill();
	uint32_t c = dma(CTL_SELECT | CTL_READ | CTL_KEY(KEY_FILE_DIR), 4, gpa(A_BUF));
	check(c == 0, "reading the directory's count: control 0x%x", c);
	arena_check("directory count", A_DESC, A_BUF, A_BUF + 4);
	nfiles = be32(arena + A_BUF);
	uint8_t b[4];
	sel(KEY_FILE_DIR);
	pio_read(b, 4);
	check(be32(b) == nfiles, "the directory's count: %u through DMA, %u through the data port", nfiles, be32(b));
	check(nfiles > 0 && nfiles <= MAX_FILES, "%u files in the directory", nfiles);

	unsigned n = 4 + nfiles * DIR_ENTRY;
	arena_fill();
	c = dma(CTL_SELECT | CTL_READ | CTL_KEY(KEY_FILE_DIR), n, gpa(A_BUF));
	check(c == 0, "reading the directory: control 0x%x", c);
	arena_check("directory", A_DESC, A_BUF, A_BUF + n);
	memcpy(dir, arena + A_BUF, n);
	for (unsigned i = 0; i < nfiles; i++) {
		const uint8_t *e = dir + 4 + i * DIR_ENTRY;
		const char *name = (const char *)e + 8;
		unsigned key = e[4] << 8 | e[5];
		check(key == KEY_FILE_FIRST + i, "file %u has key 0x%x", i, key);
		check(has_nul(name, DIR_ENTRY - 8), "file %u's name is not NUL-terminated", i);
		check(name[0], "file %u has no name", i);
		if (i)
			check(strcmp((const char *)e + 8 - DIR_ENTRY, name) < 0, "the directory is not sorted at %s", name);
	}
	static const char *const want[] = { "etc/e820", "etc/acpi/tables", "etc/acpi/rsdp", "etc/table-loader",
					    "etc/sercon-port", "etc/smbios/smbios-anchor", "etc/smbios/smbios-tables" };
	for (unsigned i = 0; i < ARRAY_SIZE(want); i++)
		check(find_file(want[i], NULL) >= 0, "no %s in the directory", want[i]);
	if (cmdline_has("bootorder"))
		check(find_file("bootorder", NULL) >= 0, "no bootorder in the directory");
	fwevil_case("directory: %u files, sorted, keys in order, the firmware's files there", nfiles);
}

/* Read file `name` whole into the arena's buffer; its length. */
static uint32_t read_file(const char *name)
{
	uint32_t len;
	int key = find_file(name, &len);
	check(key >= 0 && len <= 0x4000, "%s: key %d, %u bytes", name, key, len);
	arena_fill();
	uint32_t c = dma(CTL_SELECT | CTL_READ | CTL_KEY(key), len, gpa(A_BUF));
	check(c == 0, "%s: control 0x%x", name, c);
	arena_check(name, A_DESC, A_BUF, A_BUF + len);
	return len;
}

static void files(void)
{
	uint32_t len = read_file("etc/e820");
	check(len && len % 20 == 0, "etc/e820 is %u bytes", len);
	const uint8_t *e = arena + A_BUF;
	check(le64(e) == 0 && e[16] == E820_RAM, "etc/e820 does not start with RAM at 0");
	uint64_t end = 0;
	for (unsigned i = 0; i < len / 20; i++) {
		uint64_t a = le64(e + i * 20), l = le64(e + i * 20 + 8);
		if (a < (1ull << 32) && a + l > end)
			end = a + l;
	}
	fwevil_ram_end = end;
	long mib = cmdline_int("ram_mib", 0);
	check(!mib || end == (uint64_t)mib << 20, "etc/e820 ends low memory at 0x%llx, not %ld MiB", (unsigned long long)end,
	      mib);
	len = read_file("etc/acpi/rsdp");
	check(len >= 20 && !memcmp(arena + A_BUF, "RSD PTR ", 8), "etc/acpi/rsdp is no RSDP");
	len = read_file("etc/table-loader");
	check(len && len % 128 == 0, "etc/table-loader is %u bytes", len);
	if (find_file("bootorder", &len) >= 0) {
		read_file("bootorder");
		arena[A_BUF + len] = 0;
		check(strncmp((char *)arena + A_BUF, "/pci@i0cf8/", 11) == 0, "bootorder: \"%s\"", (char *)arena + A_BUF);
	}
	fwevil_case("etc/e820 (RAM below 4 GiB ends at 0x%llx), etc/acpi/rsdp, etc/table-loader, bootorder parse",
		    (unsigned long long)end);
}

/* ---- DMA ---- */

static void dma_reads(void)
{
	/* past the item's end: zeros */
	arena_fill();
	uint32_t c = dma(CTL_SELECT | CTL_READ | CTL_KEY(KEY_SIGNATURE), 16, gpa(A_BUF));
	check(c == 0 && !memcmp(arena + A_BUF, "QEMU", 4) && all_zero(arena + A_BUF + 4, 12),
	      "16 bytes of the 4-byte signature: control 0x%x, not QEMU and zeros", c);
	arena_check("read past the end", A_DESC, A_BUF, A_BUF + 16);
	fwevil_case("DMA read past an item's end: zeros");

	/* of no item: zeros, no error */
	arena_fill();
	c = dma(CTL_SELECT | CTL_READ | CTL_KEY(0x7fff), 32, gpa(A_BUF));
	check(c == 0 && all_zero(arena + A_BUF, 32), "a read of no item: control 0x%x or not zeros", c);
	arena_check("read of no item", A_DESC, A_BUF, A_BUF + 32);
	/* every control bit at once: select 0xffff (no item), read wins */
	arena_fill();
	c = dma(0xffffffffu, 8, gpa(A_BUF));
	check(c == 0 && all_zero(arena + A_BUF, 8), "control 0xffffffff: control 0x%x or not zeros", c);
	arena_check("control 0xffffffff", A_DESC, A_BUF, A_BUF + 8);
	arena_fill();
	c = dma(0, 0x1000, gpa(A_BUF));
	check(c == 0, "control 0 (nothing to do): control 0x%x", c);
	arena_check("control 0", A_DESC, 0, 0);
	fwevil_case("DMA reads of no item, with every control bit, with none");

	/* skips: past the end, by 0xffffffff, twice */
	arena_fill();
	c = dma(CTL_SELECT | CTL_SKIP | CTL_KEY(KEY_FILE_DIR), 4, 0);
	check(c == 0, "skip 4: control 0x%x", c);
	c = dma(CTL_READ, 4, gpa(A_BUF));
	check(c == 0 && be32(arena + A_BUF) == be32(dir + 4), "after skip 4: not the first file's size");
	c = dma(CTL_SKIP, 0xffffffffu, 0);
	check(c == 0, "skip 0xffffffff: control 0x%x", c);
	c = dma(CTL_SKIP, 0xffffffffu, 0);
	check(c == 0, "skip 0xffffffff again: control 0x%x", c);
	c = dma(CTL_READ, 8, gpa(A_BUF));
	check(c == 0 && all_zero(arena + A_BUF, 8), "a read after skipping past the end is not zeros");
	check(inb(FW_DATA) == 0, "the data port after skipping past the end is not 0");
	arena_check("skips", A_DESC, A_BUF, A_BUF + 8);
	fwevil_case("DMA skip by 0xffffffff twice: then reads are 0");

	/* write requests: refused, the item unchanged */
	dma_refused("DMA write of the signature", CTL_SELECT | CTL_WRITE | CTL_KEY(KEY_SIGNATURE), 4, gpa(A_BUF));
	dma_refused("DMA write of a file", CTL_SELECT | CTL_WRITE | CTL_KEY(KEY_FILE_FIRST), 16, gpa(A_BUF));
	dma_refused("DMA write of no item", CTL_SELECT | CTL_WRITE | CTL_KEY(0x7fff), 16, gpa(A_BUF));
	check(fwcfg_signature_ok(), "the signature changed after write requests");
}

/* The first memory BAR of a virtio PCI device (0: none). */
static uint64_t virtio_bar(void)
{
	for (unsigned dev = 0; dev < 32; dev++) {
		uint32_t id = cfg_read32(dev, 0, 0);
		if ((id & 0xffff) != 0x1af4 || (id >> 16) < 0x1000 || (id >> 16) > 0x107f)
			continue;
		for (unsigned b = 0; b < 6; b++) {
			uint32_t lo = cfg_read32(dev, 0, 0x10 + 4 * b);
			if (lo & 1)
				continue;
			uint64_t a = lo & ~0xfu;
			if (((lo >> 1) & 3) == 2 && b < 5)
				a |= (uint64_t)cfg_read32(dev, 0, 0x10 + 4 * ++b) << 32;
			if (a)
				return a;
		}
	}
	return 0;
}

static void bytes_save(uint64_t addr, uint8_t *save, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		save[i] = ((volatile uint8_t *)(uintptr_t)addr)[i];
}

static bool bytes_same(uint64_t addr, const uint8_t *save, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (((volatile uint8_t *)(uintptr_t)addr)[i] != save[i])
			return false;
	return true;
}

static void dma_bad_buffers(void)
{
	const uint64_t end = fwevil_ram_end;
	uint32_t sig = CTL_SELECT | CTL_READ | CTL_KEY(KEY_SIGNATURE);
	uint8_t save[64], save2[64];

	dma_refused("buffer of 0xffffffff bytes in RAM", sig, 0xffffffffu, gpa(A_BUF));
	dma_refused("buffer of 0xffffffff bytes at 0", sig, 0xffffffffu, 0);
	dma_refused("buffer in the PCI hole", sig, 64, IN_PCI_HOLE);
	uint32_t ver = ioapic_read(1);
	dma_refused("buffer at the IOAPIC", sig, 64, IOAPIC_BASE);
	check(ioapic_read(1) == ver, "the IOAPIC's version register changed");
	uint32_t lver = lapic_read(LAPIC_VER);
	dma_refused("buffer at the LAPIC", sig, 64, LAPIC_BASE);
	check(lapic_read(LAPIC_VER) == lver, "the LAPIC's version register changed");
	uint64_t bar = virtio_bar();
	if (bar) {
		bool low = bar < (1ull << 32);
		if (low)
			bytes_save(bar, save, 16);
		dma_refused("buffer at a virtio BAR", sig, 64, bar);
		check(!low || bytes_same(bar, save, 16), "the virtio BAR's registers changed");
	}
	bytes_save(ROM_BASE, save, 64);
	bytes_save(0xfffffff0ull, save2, 16);
	dma_refused("buffer at the firmware ROM", sig, 64, ROM_BASE);
	dma_refused("buffer at 0xfffffff0 (ROM, reset vector)", sig, 16, 0xfffffff0ull);
	dma_refused("buffer at 0xfffffff0 across 4 GiB", sig, 32, 0xfffffff0ull);
	check(bytes_same(ROM_BASE, save, 64) && bytes_same(0xfffffff0ull, save2, 16), "the ROM changed");
	dma_refused("buffer above RAM", sig, 16, end + 0x100000);
	dma_refused("buffer at the end of RAM", sig, 1, end);
	/* 64-bit addresses whose low half is the arena: a VMM truncating them would write there */
	dma_refused("buffer at 4 GiB + the arena", sig, 16, (1ull << 32) | gpa(A_BUF));
	dma_refused("buffer at 0xffffffff00000000 + the arena", sig, 16, (0xffffffffull << 32) | gpa(A_BUF));
	bytes_save(0, save, 64); /* the real-mode IVT: where a wrapping length would land */
	dma_refused("buffer at 0xfffffffffffffff0 (wraps)", sig, 0x100, 0xfffffffffffffff0ull);
	check(bytes_same(0, save, 64), "low memory at 0 changed");

	/* across the end of RAM: refused, nothing written; ending exactly there: done */
	bytes_save(end - 16, save, 16);
	for (unsigned i = 0; i < 16; i++)
		((volatile uint8_t *)(uintptr_t)(end - 16))[i] = pat(i);
	dma_refused("buffer across the end of RAM", sig, 32, end - 16);
	for (unsigned i = 0; i < 16; i++)
		check(((volatile uint8_t *)(uintptr_t)(end - 16))[i] == pat(i), "RAM below its end changed");
	arena_fill();
	uint32_t c = dma(sig, 16, end - 16);
	check(c == 0 && !memcmp((void *)(uintptr_t)(end - 16), "QEMU", 4), "a buffer ending at RAM's end: control 0x%x", c);
	arena_check("buffer ending at RAM's end", A_DESC, 0, 0);
	for (unsigned i = 0; i < 16; i++)
		((volatile uint8_t *)(uintptr_t)(end - 16))[i] = save[i];
	fwevil_case("buffer ending exactly at the end of RAM: done");
}

/* A descriptor outside RAM: nothing can be reported, nothing may be written; fw_cfg works on. */
static void desc_ignored(const char *name, uint64_t addr)
{
	arena_fill();
	desc_set(A_DESC, CTL_SELECT | CTL_READ | CTL_KEY(KEY_SIGNATURE), 16, gpa(A_BUF));
	dma_kick(addr);
	arena_check(name, -1u, 0, 0); /* the arena's valid descriptor was not run either */
	arena_fill();
	uint32_t c = dma(CTL_SELECT | CTL_READ | CTL_KEY(KEY_SIGNATURE), 4, gpa(A_BUF));
	check(c == 0 && !memcmp(arena + A_BUF, "QEMU", 4), "%s: fw_cfg DMA broken afterwards (control 0x%x)", name, c);
	fwevil_case("%s: ignored", name);
}

static void dma_bad_descriptors(void)
{
	const uint64_t end = fwevil_ram_end;
	uint8_t save[16];
	desc_ignored("descriptor in the PCI hole", IN_PCI_HOLE);
	desc_ignored("descriptor at the IOAPIC", IOAPIC_BASE);
	desc_ignored("descriptor at the LAPIC", LAPIC_BASE);
	bytes_save(0xfffffff0ull, save, 16);
	desc_ignored("descriptor at 0xfffffff0 (ROM)", 0xfffffff0ull);
	check(bytes_same(0xfffffff0ull, save, 16), "the ROM's reset vector changed");
	desc_ignored("descriptor above RAM", end + 0x1000);
	desc_ignored("descriptor at 4 GiB + the arena's", (1ull << 32) | gpa(A_DESC));
	desc_ignored("descriptor at 0xffffffff00000000 + the arena's", (0xffffffffull << 32) | gpa(A_DESC));
	desc_ignored("descriptor at 0xfffffffffffffff8", 0xfffffffffffffff8ull);

	/* across the end of RAM: its first 8 bytes (a valid control and length) stay as they are */
	volatile uint32_t *tail = (volatile uint32_t *)(uintptr_t)(end - 8);
	bytes_save(end - 8, save, 8);
	tail[0] = __builtin_bswap32(CTL_SELECT | CTL_READ);
	tail[1] = __builtin_bswap32(4);
	desc_ignored("descriptor across the end of RAM", end - 8);
	check(tail[0] == __builtin_bswap32(CTL_SELECT | CTL_READ) && tail[1] == __builtin_bswap32(4),
	      "a descriptor across the end of RAM was written to");
	for (unsigned i = 0; i < 8; i++)
		((volatile uint8_t *)(uintptr_t)(end - 8))[i] = save[i];

	/* the high half latched, then a partial low write: no transfer; a whole one uses the
	 * latched half (not RAM: ignored); the latch is 0 after it */
	arena_fill();
	desc_set(A_DESC, CTL_SELECT | CTL_READ | CTL_KEY(KEY_SIGNATURE), 16, gpa(A_BUF));
	outl(FW_DMA_HI, __builtin_bswap32(0x12345678));
	outw(FW_DMA_LO, 0);
	outb(FW_DMA_LO + 3, 0);
	outl(FW_DMA_LO, __builtin_bswap32((uint32_t)gpa(A_DESC)));
	arena_check("latched high half", -1u, 0, 0);
	outl(FW_DMA_LO, __builtin_bswap32((uint32_t)gpa(A_DESC)));
	check(ctl_at(A_DESC) == 0 && !memcmp(arena + A_BUF, "QEMU", 4), "the high half was not 0 after a transfer");
	fwevil_case("a latched high half with partial writes: no transfer; reset after one");
}

static void dma_overlaps(void)
{
	/* the descriptor is its own buffer: the data, then the control word over it */
	arena_fill();
	uint32_t c = dma(CTL_SELECT | CTL_READ | CTL_KEY(KEY_FILE_DIR), 16, gpa(A_DESC));
	check(c == 0 && !memcmp(arena + A_DESC + 4, dir + 4, 12), "a descriptor that is its own buffer: control 0x%x", c);
	arena_check("own buffer", A_DESC, A_DESC, A_DESC + 16);
	/* its buffer starts in its address field */
	arena_fill();
	c = dma(CTL_SELECT | CTL_READ | CTL_KEY(KEY_FILE_DIR), 16, gpa(A_DESC + 8));
	check(c == 0 && be32(arena + A_DESC + 4) == 16 && !memcmp(arena + A_DESC + 8, dir, 16),
	      "a buffer over the descriptor's address: control 0x%x", c);
	arena_check("buffer over the address", A_DESC, A_DESC + 8, A_DESC + 24);
	/* its buffer ends in its length field */
	arena_fill();
	c = dma(CTL_SELECT | CTL_READ | CTL_KEY(KEY_FILE_DIR), 16, gpa(A_DESC - 8));
	check(c == 0 && !memcmp(arena + A_DESC - 8, dir, 8) && !memcmp(arena + A_DESC + 4, dir + 12, 4),
	      "a buffer over the descriptor's head: control 0x%x", c);
	arena_check("buffer over the head", A_DESC, A_DESC - 8, A_DESC + 8);
	fwevil_case("descriptors overlapping their buffers (whole, address, head)");

	/* a descriptor at the very end of RAM, valid: done, its control written there */
	const uint64_t end = fwevil_ram_end;
	uint8_t save[16];
	bytes_save(end - 16, save, 16);
	struct dma_desc *d = (struct dma_desc *)(uintptr_t)(end - 16);
	d->control = __builtin_bswap32(CTL_SELECT | CTL_READ | CTL_KEY(KEY_SIGNATURE));
	d->length = __builtin_bswap32(4);
	d->address = __builtin_bswap64(gpa(A_BUF));
	arena_fill();
	dma_kick(end - 16);
	check(READ_ONCE(d->control) == 0 && !memcmp(arena + A_BUF, "QEMU", 4), "a descriptor at the end of RAM failed");
	arena_check("descriptor at the end of RAM", -1u, A_BUF, A_BUF + 4);
	for (unsigned i = 0; i < 16; i++)
		((volatile uint8_t *)(uintptr_t)(end - 16))[i] = save[i];
	fwevil_case("a descriptor in the last 16 bytes of RAM: done");
}

long fwcfg_tests(long unused)
{
	ports();
	directory();
	files();
	dma_reads();
	dma_bad_buffers();
	dma_bad_descriptors();
	dma_overlaps();
	/* the selector/data interface still works after it all */
	check(fwcfg_signature_ok(), "the signature is gone after the DMA cases");
	return 0;
}

/* The phases' start on the console with the RTC's time: where a slow host spends it. */
static void phase(const char *name)
{
	struct rtc_time t;
	rtc_read_time(&t);
	printf("fwevil: %02d:%02d:%02d %s\n", t.hour, t.min, t.sec, name);
}

void test_main(void)
{
	pic_init(); /* SeaBIOS left IRQ 0 unmasked at vector 8; ring 3 runs with IF=1 under PVM */
	phase("fw_cfg");
	user_call(fwcfg_tests, 0, 0);
	phase("PAM");
	pam_tests();
	phase("PM block");
	user_call(pm_tests, 0, 0);
	phase("chipset, port 0x92, ROM");
	user_call(misc_tests, 0, 0);
	phase("done");
	printf("fwevil cases=%u\n", cases);
	pass();
}
