/* SPDX-License-Identifier: Apache-2.0 */
/* Boot information, descriptor tables, interrupt dispatch, ring 3. */
#include "guest.h"

struct boot_info boot;

/* head.S */
extern uint64_t gdt[];
extern char isr_stubs[];
extern char irq_stack_top[];
long user_enter(long (*fn)(long), long arg, unsigned long rflags);
noreturn void user_return(long value);

/* ---- boot information ---- */

/* struct hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h) */
#define HVM_START_MAGIC 0x336ec578
#define SI_MAGIC 0x00
#define SI_CMDLINE 0x18
#define SI_RSDP 0x20
#define SI_MEMMAP 0x28
#define SI_MEMMAP_ENTRIES 0x30
/* struct boot_params (Linux Documentation/arch/x86/zero-page.rst) */
#define BP_ACPI_RSDP 0x070
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_EFI_LOADER_SIGNATURE 0x1c0 /* struct efi_info: a loader on UEFI */
#define BP_EFI_SYSTAB 0x1c4
#define BP_EFI_SYSTAB_HI 0x1d8
#define BP_E820_ENTRIES 0x1e8
#define BP_HDR_MAGIC 0x202
#define BP_CMD_LINE_PTR 0x228
#define BP_E820_TABLE 0x2d0
#define HDRS_MAGIC 0x53726448 /* "HdrS" */
#define EFI64_LOADER_SIGNATURE 0x34364c45 /* "EL64" */
/* EFI_SYSTEM_TABLE (UEFI 2.10, 4.3) on x86-64, and its configuration table's entries */
#define EFI_ST_SIGNATURE 0x5453595320494249ull /* "IBI SYST" */
#define EFI_ST_NR_TABLES 104
#define EFI_ST_TABLES 112
#define EFI_CT_ENTRY 24 /* EFI_GUID, VOID * */
#define EFI_CT_MAX 1024

#define RD(t, base, off) (*(volatile t *)(uintptr_t)((base) + (off)))

const char *boot_proto_name(enum boot_proto p)
{
	return p == BOOT_PVH ? "pvh" : p == BOOT_BZIMAGE ? "bzimage" : "unknown";
}

static void copy_cmdline(uint64_t paddr)
{
	boot.cmdline_paddr = paddr;
	if (!paddr || paddr >= (4ull << 30))
		return;
	const char *s = (const char *)(uintptr_t)paddr;
	size_t n = 0;
	while (n < CMDLINE_MAX - 1 && s[n])
		n++;
	memcpy(boot.cmdline, s, n);
	boot.cmdline[n] = '\0';
}

static void parse_boot_info(unsigned proto, uint64_t ptr)
{
	boot.proto = (enum boot_proto)proto;
	boot.boot_ptr = ptr;
	if (!ptr || ptr >= (4ull << 30))
		return;
	if (proto == BOOT_PVH) {
		boot.magic_ok = RD(uint32_t, ptr, SI_MAGIC) == HVM_START_MAGIC;
		if (!boot.magic_ok)
			return;
		copy_cmdline(RD(uint64_t, ptr, SI_CMDLINE));
		boot.rsdp = RD(uint64_t, ptr, SI_RSDP);
		uint64_t mm = RD(uint64_t, ptr, SI_MEMMAP);
		uint32_t n = RD(uint32_t, ptr, SI_MEMMAP_ENTRIES);
		if (!mm || mm >= (4ull << 30))
			n = 0;
		for (uint32_t i = 0; i < n && i < MAX_MEM_REGIONS; i++) {
			/* struct hvm_memmap_table_entry: addr, size, type, reserved */
			boot.mem[i].addr = RD(uint64_t, mm, i * 24 + 0);
			boot.mem[i].size = RD(uint64_t, mm, i * 24 + 8);
			boot.mem[i].type = RD(uint32_t, mm, i * 24 + 16);
			boot.nr_mem = i + 1;
		}
	} else if (proto == BOOT_BZIMAGE) {
		boot.magic_ok = RD(uint32_t, ptr, BP_HDR_MAGIC) == HDRS_MAGIC;
		if (!boot.magic_ok)
			return;
		copy_cmdline(RD(uint32_t, ptr, BP_CMD_LINE_PTR) |
			     ((uint64_t)RD(uint32_t, ptr, BP_EXT_CMD_LINE_PTR) << 32));
		boot.rsdp = RD(uint64_t, ptr, BP_ACPI_RSDP);
		if (RD(uint32_t, ptr, BP_EFI_LOADER_SIGNATURE) == EFI64_LOADER_SIGNATURE)
			boot.efi_systab = RD(uint32_t, ptr, BP_EFI_SYSTAB) |
					  (uint64_t)RD(uint32_t, ptr, BP_EFI_SYSTAB_HI) << 32;
		unsigned n = RD(uint8_t, ptr, BP_E820_ENTRIES);
		for (unsigned i = 0; i < n && i < MAX_MEM_REGIONS && i < 128; i++) {
			/* struct boot_e820_entry (packed): addr, size, type */
			boot.mem[i].addr = RD(uint64_t, ptr, BP_E820_TABLE + i * 20 + 0);
			boot.mem[i].size = RD(uint64_t, ptr, BP_E820_TABLE + i * 20 + 8);
			boot.mem[i].type = RD(uint32_t, ptr, BP_E820_TABLE + i * 20 + 16);
			boot.nr_mem = i + 1;
		}
	}
}

/* The RSDP where a BIOS puts it (ACPI 6.5, 5.2.5.1): on a 16-byte boundary in
 * the EBDA's first KiB or in 0xE0000-0xFFFFF.  For loaders that do not pass
 * it: GRUB on BIOS leaves the zero page's acpi_rsdp_addr 0.  Runs in ring 3
 * (the 8K-step loop would be emulated in ring 0 under PVM). */
static bool rsdp_at(uint64_t a)
{
	const uint8_t *p = (const uint8_t *)(uintptr_t)a;
	if (memcmp(p, "RSD PTR ", 8))
		return false;
	uint8_t sum = 0;
	for (int i = 0; i < 20; i++) /* the ACPI 1.0 part's checksum */
		sum += p[i];
	return sum == 0;
}

static long rsdp_scan_user(long unused)
{
	uint64_t ebda = (uint64_t)(*(volatile uint16_t *)0x40e) << 4;
	if (ebda >= 0x80000 && ebda < 0xa0000)
		for (uint64_t a = ebda; a < ebda + 1024; a += 16)
			if (rsdp_at(a))
				return (long)a;
	for (uint64_t a = 0xe0000; a < 0x100000; a += 16)
		if (rsdp_at(a))
			return (long)a;
	return 0;
}

uint64_t rsdp_scan(void) { return (uint64_t)user_call(rsdp_scan_user, 0, 0); }

/* EFI_ACPI_20_TABLE_GUID 8868e871-e4f1-11d3-bc22-0080c73c8881 and ACPI_TABLE_GUID
 * eb9d2d30-2d88-11d3-9a16-0090273fc14d, as they lie in memory. */
static const uint8_t acpi20_guid[16] = { 0x71, 0xe8, 0x68, 0x88, 0xf1, 0xe4, 0xd3, 0x11,
					 0xbc, 0x22, 0x00, 0x80, 0xc7, 0x3c, 0x88, 0x81 };
static const uint8_t acpi10_guid[16] = { 0x30, 0x2d, 0x9d, 0xeb, 0x88, 0x2d, 0xd3, 0x11,
					 0x9a, 0x16, 0x00, 0x90, 0x27, 0x3f, 0xc1, 0x4d };

static bool below_4g(uint64_t a, uint64_t len) { return a && a < (4ull << 30) && len <= (4ull << 30) - a; }

static long rsdp_efi_user(long st)
{
	if (!below_4g((uint64_t)st, EFI_ST_TABLES + 8) || RD(uint64_t, st, 0) != EFI_ST_SIGNATURE)
		return 0;
	uint64_t n = RD(uint64_t, st, EFI_ST_NR_TABLES), t = RD(uint64_t, st, EFI_ST_TABLES);
	if (n > EFI_CT_MAX || !below_4g(t, n * EFI_CT_ENTRY))
		return 0;
	long acpi10 = 0;
	for (uint64_t i = 0; i < n; i++) {
		const uint8_t *e = (const uint8_t *)(uintptr_t)(t + i * EFI_CT_ENTRY);
		uint64_t p = RD(uint64_t, e, 16);
		if (!below_4g(p, 36) || !rsdp_at(p))
			continue;
		if (!memcmp(e, acpi20_guid, 16))
			return (long)p;
		if (!memcmp(e, acpi10_guid, 16))
			acpi10 = (long)p;
	}
	return acpi10;
}

uint64_t rsdp_efi(void) { return boot.efi_systab ? (uint64_t)user_call(rsdp_efi_user, (long)boot.efi_systab, 0) : 0; }

/* ---- command line ---- */

const char *cmdline_value(const char *key, size_t *len)
{
	size_t kl = strlen(key);
	const char *p = boot.cmdline;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *w = p;
		while (*p && *p != ' ')
			p++;
		size_t wl = (size_t)(p - w);
		if (wl >= kl && !memcmp(w, key, kl) && (wl == kl || w[kl] == '=')) {
			const char *v = wl == kl ? w + kl : w + kl + 1;
			if (len)
				*len = (size_t)(p - v);
			return v;
		}
	}
	return NULL;
}

bool cmdline_has(const char *key) { return cmdline_value(key, NULL) != NULL; }

bool cmdline_is(const char *key, const char *value)
{
	size_t n;
	const char *v = cmdline_value(key, &n);
	return v && n == strlen(value) && !memcmp(v, value, n);
}

long cmdline_int(const char *key, long dflt)
{
	size_t n;
	const char *v = cmdline_value(key, &n);
	if (!v || !n)
		return dflt;
	long r = 0;
	bool neg = false;
	size_t i = 0;
	if (v[0] == '-') {
		neg = true;
		i++;
	}
	unsigned base = 10;
	if (n - i > 2 && v[i] == '0' && (v[i + 1] == 'x' || v[i + 1] == 'X')) {
		base = 16;
		i += 2;
	}
	for (; i < n; i++) {
		char c = v[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 99;
		if (d >= (int)base)
			return dflt;
		r = r * base + d;
	}
	return neg ? -r : r;
}

/* ---- descriptor tables ---- */

struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
	/* All ports allowed to ring 3, plus the terminating 0xff byte.  IOPL=3
	 * would do on hardware, but PVM runs ring 3 with the real IOPL=0 and
	 * checks port access against this bitmap when it emulates the #GP. */
	uint8_t iomap[65536 / 8 + 1];
} __attribute__((packed));

struct idt_gate {
	uint16_t off0, sel;
	uint8_t ist, type_attr;
	uint16_t off1;
	uint32_t off2, reserved;
};

static struct tss64 tss __attribute__((aligned(16)));
static struct idt_gate idt[256] __attribute__((aligned(16)));
static irq_handler_t handlers[256];

static void cpu_init(void)
{
	/* TSS: rsp0 = interrupt stack for events from ring 3; I/O bitmap
	 * allowing every port (bss: already zero but for the terminator). */
	tss.rsp[0] = (uintptr_t)irq_stack_top;
	tss.iomap_base = offsetof(struct tss64, iomap);
	tss.iomap[sizeof(tss.iomap) - 1] = 0xff;
	uint64_t base = (uintptr_t)&tss, limit = sizeof(tss) - 1;
	gdt[SEL_TSS / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
			   (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	gdt[SEL_TSS / 8 + 1] = base >> 32;
	__asm__ __volatile__("ltr %w0" ::"r"(SEL_TSS));

	/* IDT: 256 interrupt gates to the stubs; int3 and into usable from
	 * ring 3 (as on Linux): int3 is the guest's system call. */
	for (int v = 0; v < 256; v++) {
		uint64_t a = (uintptr_t)isr_stubs + 16 * v;
		idt[v].off0 = a & 0xffff;
		idt[v].sel = SEL_KCODE;
		idt[v].type_attr = (v == 3 || v == 4) ? 0xee : 0x8e;
		idt[v].off1 = (a >> 16) & 0xffff;
		idt[v].off2 = a >> 32;
	}
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (uintptr_t)idt };
	__asm__ __volatile__("lidt %0" ::"m"(idtr));

	/* Plain ring-0 semantics: no SMEP/SMAP (ring 0 touches user pages). */
	uint64_t cr4 = read_cr4();
	if (cr4 & ((1u << 20) | (1u << 21)))
		write_cr4(cr4 & ~(uint64_t)((1u << 20) | (1u << 21)));
}

/* Called from head.S on the boot stack, ring 0, IF=0, our GDT and CR3. */
noreturn void guest_start(unsigned proto, uint64_t ptr)
{
	cpu_init();
	pic_quiet();
	parse_boot_info(proto, ptr);
	if (boot.rsdp)
		boot.rsdp_from = "given";
	if (!boot.rsdp && (boot.rsdp = rsdp_efi()))
		boot.rsdp_from = "efi";
	if (!boot.rsdp && (boot.rsdp = rsdp_scan()))
		boot.rsdp_from = "scanned";
	test_main();
	fail("test_main returned");
}

/* ---- interrupts ---- */

static const char *const exc_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#MF-old", "#TS", "#NP", "#SS", "#GP", "#PF", "#15",
	"#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "#22", "#23", "#24", "#25", "#26", "#27", "#HV", "#VC", "#SX", "#31",
};

const char *exception_name(unsigned vector) { return vector < 32 ? exc_names[vector] : "irq"; }

void set_handler(int vector, irq_handler_t h) { handlers[vector & 0xff] = h; }

static void syscall_dispatch(struct irq_frame *f)
{
	switch (f->rax) {
	case SYS_USER_RETURN:
		user_return((long)f->rdi);
	case SYS_EXIT:
		guest_exit((int)f->rdi);
	default:
		fail("unknown syscall %lu from rip=%lx", (unsigned long)f->rax, (unsigned long)f->rip);
	}
}

void isr_dispatch(struct irq_frame *f)
{
	unsigned v = (unsigned)f->vector;
	if (v == 3 && (f->cs & 3)) { /* int3 from ring 3: system call */
		syscall_dispatch(f);
		return;
	}
	if (handlers[v]) {
		handlers[v](f);
	} else if (v < 32) {
		printf("FAIL %s: unexpected exception %u (%s) err=%lx rip=%lx cs=%lx rflags=%lx rsp=%lx cr2=%lx\n",
		       guest_name, v, exc_names[v], (unsigned long)f->error_code, (unsigned long)f->rip,
		       (unsigned long)f->cs, (unsigned long)f->rflags, (unsigned long)f->rsp,
		       (unsigned long)read_cr2());
		guest_exit(EXIT_EXCEPTION);
	} else if (v >= PIC_VECTOR_BASE && v < PIC_VECTOR_BASE + 16) {
		/* unclaimed (or spurious) PIC interrupt: acknowledge, ignore */
	} else if (v == SPURIOUS_VECTOR) {
		return; /* LAPIC spurious: no EOI */
	} else {
		fail("unexpected interrupt vector %u at rip=%lx", v, (unsigned long)f->rip);
	}
	if (v >= PIC_VECTOR_BASE && v < PIC_VECTOR_BASE + 16) {
		if (v >= PIC_VECTOR_BASE + 8)
			outb(0xA0, 0x20);
		outb(0x20, 0x20);
	} else if (v >= 0x30 && v != SPURIOUS_VECTOR) {
		lapic_write(LAPIC_EOI, 0);
	}
}

/* Waiting spins in ring 3 with interrupts enabled rather than halting in
 * ring 0: PVM ignores the STI interrupt shadow, so "sti; hlt" can lose the
 * wakeup, and ring-0 loops are emulated.  Ring 3 spins natively. */
struct wait_args {
	volatile uint32_t *p;
	uint32_t v;
	int seconds;
};

static long wait_spin(long arg)
{
	const struct wait_args *w = (const struct wait_args *)arg;
	struct deadline d;
	deadline_start(&d, w->seconds);
	for (;;) {
		for (int i = 0; i < 20000; i++) {
			if (*w->p != w->v)
				return 1;
			pause();
		}
		if (deadline_expired(&d))
			return *w->p != w->v;
	}
}

bool wait_while_eq(volatile uint32_t *p, uint32_t v, int seconds)
{
	struct wait_args w = { p, v, seconds };
	if (cpl() != 0)
		return wait_spin((long)&w);
	return user_call(wait_spin, (long)&w, USER_IF);
}

/* ---- ring 3 ---- */

long user_call(long (*fn)(long), long arg, unsigned flags)
{
	unsigned long rflags = 0x2 | (3ul << 12); /* reserved bit 1, IOPL=3 */
	if (flags & USER_IF)
		rflags |= 0x200;
	return user_enter(fn, arg, rflags);
}
