/* SPDX-License-Identifier: Apache-2.0 */
/*
 * guest.h - the API of petrel's freestanding x86-64 test guests.
 *
 * A test guest is one C file that defines DEFINE_GUEST("name") and
 * test_main().  The library (head.S + lib/ *.c) boots it through either PVH
 * (32-bit entry from the ELF note) or the Linux 64-bit boot protocol
 * (bzImage, entry at load address + 0x200), installs its own GDT/TSS/IDT and
 * static identity page tables (0-4 GiB, 2 MiB pages, user-accessible), and
 * calls test_main() in ring 0 with interrupts off.  The GDT follows Linux's
 * layout (PVM hosts require its user segments).
 *
 * Under PVM every ring-0 instruction is emulated (~1000x slower than native),
 * so ring-0 code must stay short: run loops in ring 3 with user_call()
 * (port I/O works there; see "ring 3" below for what does not under PVM).
 *
 * Results go to the serial console ("ok NAME" / "FAIL NAME: why") and the VM
 * ends through petrel's debug-exit port 0xF4 (exit status = value written).
 */
#ifndef PETREL_GUEST_H
#define PETREL_GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define noreturn __attribute__((noreturn))
#define barrier() __asm__ __volatile__("" ::: "memory")
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- each guest names itself once ---- */
#define DEFINE_GUEST(n) const char guest_name[] = n
extern const char guest_name[];
void test_main(void); /* provided by the guest; ring 0, IF=0 */

/* ---- petrel's test ports (only with `petrel run --debug-exit`) ---- */
#define DEBUG_EXIT_PORT 0xF4 /* out v: VM ends, petrel exits with v & 0xff */
#define NULL_PORT 0xF5       /* writes ignored, reads 0: exit round trips */

enum guest_exit_code {
	EXIT_PASS = 0,
	EXIT_FAIL = 1,
	EXIT_EXCEPTION = 2, /* unexpected CPU exception */
	EXIT_NOT_REACHED = 3,
};

/* ---- port and memory-mapped I/O ---- */
static inline void outb(uint16_t port, uint8_t v) { __asm__ __volatile__("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ __volatile__("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ __volatile__("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ __volatile__("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ __volatile__("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t mmio_read32(uintptr_t addr) { return *(volatile uint32_t *)addr; }
static inline void mmio_write32(uintptr_t addr, uint32_t v) { *(volatile uint32_t *)addr = v; }

/* ---- CPU ---- */
static inline void cli(void) { __asm__ __volatile__("cli" ::: "memory"); }
static inline void sti(void) { __asm__ __volatile__("sti" ::: "memory"); }
static inline void pause(void) { __asm__ __volatile__("pause" ::: "memory"); }
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}
static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
	__asm__ __volatile__("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}
static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ __volatile__("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}
#define DEFINE_CR(n)                                                            \
	static inline uint64_t read_cr##n(void)                                 \
	{                                                                       \
		uint64_t v;                                                     \
		__asm__ __volatile__("mov %%cr" #n ", %0" : "=r"(v));           \
		return v;                                                       \
	}                                                                       \
	static inline void write_cr##n(uint64_t v) { __asm__ __volatile__("mov %0, %%cr" #n ::"r"(v) : "memory"); }
DEFINE_CR(0)
DEFINE_CR(2)
DEFINE_CR(3)
DEFINE_CR(4)
#undef DEFINE_CR
static inline unsigned cpl(void)
{
	uint16_t cs;
	__asm__ __volatile__("mov %%cs, %0" : "=r"(cs));
	return cs & 3;
}

/* GDT selectors: Linux's layout (kernel CS/DS are the boot protocol's
 * 0x10/0x18; user CS32/DS/CS64 in SYSRET order; PVM insists on these). */
#define SEL_KCODE32 0x08
#define SEL_KCODE 0x10
#define SEL_KDATA 0x18
#define SEL_UCODE32 0x23
#define SEL_UDATA 0x2b
#define SEL_UCODE 0x33
#define SEL_TSS 0x40

/* ---- ending the VM ---- */
noreturn void guest_exit(int code);
noreturn void pass(void);                                   /* "ok NAME", exit 0 */
noreturn void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* "FAIL NAME: ...", exit 1 */
/* fail() that also names the condition and where it is: "FAIL NAME: ... (FILE:LINE: COND)". */
noreturn void fail_at(const char *file, int line, const char *cond, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* check(cond, fmt, ...): the guest's assertion with a message of its own; guest_assert(cond)
 * the same without one. Either reports through the console and the debug-exit port (exit 1),
 * from ring 0 or ring 3, e.g. "FAIL boot: cmdline lacks ... (boot.c:36: cmdline_is(...))". */
#define check(cond, ...)                                                        \
	do {                                                                    \
		if (!(cond))                                                    \
			fail_at(__FILE__, __LINE__, #cond, __VA_ARGS__);        \
	} while (0)
#define guest_assert(cond) check(cond, "assertion failed")

/* ---- serial console (COM1, polled output) ---- */
#define COM1 0x3F8
#define UART_RBR 0 /* read: receive buffer */
#define UART_THR 0 /* write: transmit holding */
#define UART_IER 1
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define IER_RDI 0x01  /* received data available */
#define IER_THRI 0x02 /* transmitter holding register empty */
#define IIR_NO_INT 0x01
#define IIR_ID_MASK 0x0e
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_CTI 0x0c
void serial_putc(char c);
void serial_puts(const char *s);
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap);
int snprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);

/* ---- freestanding string functions (gcc may also emit calls to these) ---- */
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

/* ---- what the loader told us ---- */
enum boot_proto { BOOT_PVH = 1, BOOT_BZIMAGE = 2 };
#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3
#define E820_NVS 4
struct mem_region {
	uint64_t addr, size;
	uint32_t type;
};
#define MAX_MEM_REGIONS 64
#define CMDLINE_MAX 2048
struct boot_info {
	enum boot_proto proto;
	uint64_t boot_ptr;  /* PVH: hvm_start_info; bzImage: zero page */
	bool magic_ok;      /* PVH: start_info magic; bzImage: "HdrS" in the zero page */
	char cmdline[CMDLINE_MAX];
	uint64_t cmdline_paddr;
	uint64_t rsdp;      /* from start_info/zero page, else the EFI system table's, else found in the BIOS areas; 0 if none */
	const char *rsdp_from; /* "given", "efi" (the system table's configuration table), "scanned"; NULL: none */
	uint64_t efi_systab; /* bzImage from a loader on UEFI (zero page's efi_info, "EL64"): the EFI system table; else 0 */
	int nr_mem;
	struct mem_region mem[MAX_MEM_REGIONS];
};
extern struct boot_info boot;
const char *boot_proto_name(enum boot_proto p);
/* The ACPI RSDP in the EBDA's first KiB or 0xE0000-0xFFFFF (0: none), searched in ring 3;
 * guest_start fills boot.rsdp with it when the loader gave none. */
uint64_t rsdp_scan(void);
/* The RSDP the EFI system table boot.efi_systab lists (ACPI 2.0's, else 1.0's; 0: none), read in
 * ring 3. GRUB's `linux` on UEFI passes no RSDP and OVMF puts none in the BIOS areas. */
uint64_t rsdp_efi(void);

/* Kernel command line: "key=value" words separated by spaces. */
const char *cmdline_value(const char *key, size_t *len); /* NULL if absent */
bool cmdline_has(const char *key);
long cmdline_int(const char *key, long dflt);
bool cmdline_is(const char *key, const char *value);

/* ---- interrupts ---- */
struct irq_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rdi, rsi, rbp, rbx, rdx, rcx, rax;
	uint64_t vector, error_code;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};
typedef void (*irq_handler_t)(struct irq_frame *f);
#define PIC_VECTOR_BASE 0x20 /* IRQ n -> vector 0x20 + n (master 0x20-0x27, slave 0x28-0x2f) */
#define SPURIOUS_VECTOR 0xff
/* Vector handlers run in ring 0 with IF=0.  The dispatcher sends the EOI: to
 * the PIC for vectors 0x20-0x2f, to the LAPIC for other vectors >= 0x30. */
void set_handler(int vector, irq_handler_t h);
void pic_init(void); /* remap to 0x20/0x28, mask everything */
void pic_quiet(void); /* the same without the LAPIC: every guest's start (a firmware leaves IRQ 0 open) */
void pic_set_handler(int irq, irq_handler_t h); /* and unmask it */
void pic_mask(int irq);
void pic_unmask(int irq);
void pit_periodic(unsigned hz); /* PIT channel 0, mode 2, IRQ 0 */
const char *exception_name(unsigned vector);

/* Wait until *p != v, at most `seconds` (RTC): spins in ring 3 with
 * interrupts enabled (callable from ring 0 or 3).  True if *p changed. */
bool wait_while_eq(volatile uint32_t *p, uint32_t v, int seconds);

/* ---- local APIC / IOAPIC ---- */
#define LAPIC_BASE 0xFEE00000ul
#define LAPIC_ID 0x020
#define LAPIC_VER 0x030
#define LAPIC_TPR 0x080
#define LAPIC_EOI 0x0B0
#define LAPIC_SVR 0x0F0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_TIMER_ICR 0x380
#define LAPIC_TIMER_CCR 0x390
#define LAPIC_TIMER_DCR 0x3E0
#define IOAPIC_BASE 0xFEC00000ul
static inline uint32_t lapic_read(unsigned reg) { return mmio_read32(LAPIC_BASE + reg); }
static inline void lapic_write(unsigned reg, uint32_t v) { mmio_write32(LAPIC_BASE + reg, v); }
static inline unsigned lapic_id(void) { return lapic_read(LAPIC_ID) >> 24; }
void lapic_enable(void); /* software-enable, LINT0 = ExtINT (PIC), LINT1 = NMI */
/* lapic_enable(), then INIT and two SIPIs to every other CPU: each AP starts in real mode at
 * tramp (page-aligned, below 1 MiB) with CS = tramp >> 4, IP = 0. */
void lapic_start_aps(uint32_t tramp);
uint32_t ioapic_read(unsigned reg);
void ioapic_write(unsigned reg, uint32_t v);
void ioapic_route(unsigned pin, uint8_t vector, uint8_t dest_apic_id, bool level, bool masked);

/* ---- ACPI ---- */
/* Fills ids[] with the APIC IDs of the enabled processors in the MADT and
 * returns how many, or -1 if no MADT was found.  Pure memory reads: call it
 * from ring 3 when you can. */
int acpi_madt_cpus(uint8_t *ids, int max);

/* ---- CMOS RTC ---- */
#define RTC_INDEX 0x70
#define RTC_DATA 0x71
uint8_t rtc_read(uint8_t reg);
struct rtc_time {
	int year, month, day, hour, min, sec;
};
bool rtc_read_time(struct rtc_time *t); /* waits for UIP clear, decodes BCD/12h */
int64_t rtc_to_epoch(const struct rtc_time *t);
/* Seconds-granular timeout from the RTC (bounded by the TSC too); poll it
 * every few thousand loop iterations (each poll is two port exits). */
struct deadline {
	uint8_t last;
	int left;
	uint64_t tsc_end;
};
void deadline_start(struct deadline *d, int seconds);
bool deadline_expired(struct deadline *d);
/* From now on the TSC alone is the clock, calibrated against the RTC now (1-2 s): for a
 * guest whose other vCPU uses the RTC's index latch, which makes RTC reads race. False
 * (and the RTC stays the clock) when the RTC does not tick. */
bool deadline_use_tsc(void);
/* The same with a rate the caller measured (tsc_hz_from_rtc): a loop that checks its deadline
 * often must not read the RTC each time (two port I/O exits, tens of us on a PVM host). */
void deadline_tsc_hz(uint64_t hz);
/* TSC ticks in one RTC second, counted between two ticks of its seconds register (1 to 2 s;
 * port reads only: callable from ring 3). */
uint64_t tsc_hz_from_rtc(void);

/* ---- ring 3 ----
 * Port I/O is allowed in ring 3 twice over: RFLAGS.IOPL=3 and a TSS I/O
 * bitmap that permits every port (PVM runs ring 3 with the real IOPL=0 and
 * consults only the bitmap).  Not portable to PVM from ring 3: cli/sti (#GP),
 * int 0x80 (#UD) and SYSCALL (stays in ring 3); under PVM ring 3 always runs
 * with interrupts enabled.  So the guest's system call is int3 (#BP, a
 * DPL-3 gate) with the number in rax: see syscall2().  A #BP from ring 0
 * is still reported as an exception. */
#define USER_IF 0x1 /* run with RFLAGS.IF=1 (PVM: always) */
/* Run fn(arg) in ring 3 on the user stack; returns its value in ring 0.
 * Returns with interrupts disabled. */
long user_call(long (*fn)(long), long arg, unsigned flags);
enum syscall_nr { SYS_USER_RETURN = 0, SYS_EXIT = 2 };
static inline long syscall2(long nr, long a, long b)
{
	long ret;
	__asm__ __volatile__("int3" : "=a"(ret) : "a"(nr), "D"(a), "S"(b) : "memory");
	return ret;
}

/* ---- small utilities ---- */
int64_t days_from_civil(int y, int m, int d);

#endif
