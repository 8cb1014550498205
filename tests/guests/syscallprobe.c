#include "guest.h"
DEFINE_GUEST("syscallprobe");
volatile uint64_t s_rcx, s_r11, s_cs, s_rsp, s_rflags;
extern char lstar_target[], after_syscall[];
noreturn void report(void);
__asm__(".globl lstar_target\nlstar_target:\n"
	" mov %rcx, s_rcx(%rip)\n mov %r11, s_r11(%rip)\n mov %rsp, s_rsp(%rip)\n"
	" mov %cs, %rax\n mov %rax, s_cs(%rip)\n pushfq\n popq %rax\n mov %rax, s_rflags(%rip)\n"
	" and $-16, %rsp\n call report\n");
noreturn void report(void)
{
	printf("syscallprobe: at LSTAR rcx=%lx (expected %lx) r11=%lx cs=%lx rsp=%lx rflags=%lx\n",
	       (unsigned long)s_rcx, (unsigned long)after_syscall, (unsigned long)s_r11,
	       (unsigned long)s_cs, (unsigned long)s_rsp, (unsigned long)s_rflags);
	pass();
}
static long user_fn(long a)
{
	__asm__ __volatile__("mov $0x1234, %%r11\n mov $0x5678, %%rcx\n syscall\n.globl after_syscall\nafter_syscall:" ::: "rcx", "r11", "rax", "memory");
	return 0;
}
void test_main(void)
{
	wrmsr(0xC0000080, rdmsr(0xC0000080) | 1);
	wrmsr(0xC0000081, ((uint64_t)(SEL_UCODE32 - 3) << 48) | ((uint64_t)SEL_KCODE << 32));
	wrmsr(0xC0000082, (uint64_t)lstar_target);
	wrmsr(0xC0000084, 0x700);
	printf("syscallprobe: efer=%lx star=%lx lstar=%lx\n", (unsigned long)rdmsr(0xC0000080),
	       (unsigned long)rdmsr(0xC0000081), (unsigned long)rdmsr(0xC0000082));
	user_call(user_fn, 0, 0);
	fail("syscall returned to user code");
}
