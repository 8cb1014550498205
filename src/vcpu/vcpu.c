/* One thread per vCPU: the KVM_RUN loop and exit dispatch. */
#include "arch/x86/boot_cpu.h"
#include "arch/x86/cpu_state.h"
#include "arch/x86/emulate.h"
#include "arch/x86/pagewalk.h"
#include "kvm/kvm_coalesced.h"
#include "kvm/kvm_vcpu.h"
#include "util/log.h"
#include "arch/x86/pvm_idle.h"
#include "arch/x86/pvm_syscall.h"
#include "kvm/kvm.h"
#include "memory/guest_mem.h"
#include "util/util.h"
#include "vcpu/vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define KICK_SIGNAL SIGUSR1

static void kick_handler(int sig) { (void)sig; }

/* Ask the machine to stop, with a message formatted here. */
static void __attribute__((format(printf, 4, 5)))
stop(struct vcpu *v, enum vm_stop_reason reason, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	power_request(&v->env->stop, reason, code, msg);
}

/* Coalesced MMIO writes (kvm/kvm_coalesced.h) go to the MMIO bus, as if they had exited. */
static void coalesced_write(void *opaque, uint64_t addr, const uint8_t *data, uint32_t len)
{
	uint8_t buf[8];
	memcpy(buf, data, len);
	bus_access(opaque, addr, buf, len, true);
}

/* Replay the VM's coalesced writes: at every return from KVM_RUN, before its exit is handled
 * (an exit may read what those writes changed) and before the vCPU parks (a snapshot saves the
 * devices with them applied). False when the ring is corrupt: the VM stops. */
static bool drain_coalesced(struct vcpu *v)
{
	int n = kvm_coalesced_flush(v->env->kvm);
	if (n >= 0) {
		exit_stats_add_coalesced(&v->stats, (uint64_t)n);
		return true;
	}
	stop(v, VM_STOP_ERROR, 1, "vCPU %u: KVM's coalesced MMIO ring is corrupt", v->id);
	return false;
}

/* A KVM vCPU lives as long as its VM, not as long as its fd: KVM_CREATE_VCPU refuses an id it
 * has made once (EEXIST). So a slot keeps the fd and kvm_run mapping of the vCPU it made even
 * when setting it up fails (vcpu_release frees them with the VM), and the next vcpu_create of
 * that id (a hot-plug retried) sets up the same vCPU again instead of asking KVM for a new one. */
int vcpu_create(struct vcpu *v, struct vcpu_env *env, unsigned id)
{
	int fd = v->run ? v->fd : -1;
	struct kvm_run *run = v->run;
	memset(v, 0, sizeof(*v));
	v->env = env;
	v->id = id;
	v->fd = -1;
	if (!run) {
		int err = kvm_create_vcpu(env->kvm, id, &fd, &run);
		if (err < 0)
			return err;
	}
	v->fd = fd;
	v->run = run;
	kvm_coalesced_set_sink(env->kvm, coalesced_write, env->mmio);   /* the same for every vCPU */
	struct kvm_cpuid2 *c;
	int err = cpuid_for_vcpu(env->cpuid, id, env->cpuid_opts, &c);
	if (err < 0)
		return err;
	if (kvm_set_cpuid2(v->fd, c) < 0) {
		err = -errno;
		log_error("vCPU %u: KVM_SET_CPUID2: %s", id, strerror(errno));
		free(c);
		return err;
	}
	free(c);
	return x86_vcpu_init(v->fd, id);
}

void vcpu_release(struct vcpu *v, struct vcpu_env *env)
{
	/* A slot that never held a vCPU (a fd and kvm_run come together) is not written: the VM's
	 * unused slots stay untouched zero pages, not a page each at every VM's teardown. */
	if (!v->run)
		return;
	kvm_destroy_vcpu(env->kvm, v->fd, v->run);
	v->run = NULL;
	v->fd = -1;
}

void vcpu_set_started(struct vcpu *v, bool started)
{
	__atomic_store_n(&v->started, started, __ATOMIC_SEQ_CST);
}

bool vcpu_started(const struct vcpu *v)
{
	return __atomic_load_n(&v->started, __ATOMIC_SEQ_CST);
}

void vcpu_kick(struct vcpu *v)
{
	if (!v->run)
		return;
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	/* v->thread is valid once `started` says so (vcpu_set_started); a vCPU not started yet
	 * sees immediate_exit at its first KVM_RUN */
	if (vcpu_started(v))
		pthread_kill(v->thread, KICK_SIGNAL);
}

/* ---- reading guest memory by linear address (for the emulator and error reports) ---- */

/* What the emulator's callbacks see: the vCPU and its control registers at the exit. */
struct emu_ctx {
	struct vcpu *v;
	const struct kvm_sregs *s;
};

#define CR0_WP (1ull << 16)

/* One page's worth: the guest's own page tables in long mode (with the permission checks of a
 * real access, and A/D bits set as the CPU would); KVM_TRANSLATE before that. */
static int translate(const struct emu_ctx *c, uint64_t la, bool write, uint64_t *gpa)
{
	struct page_walk w;
	int err = x86_page_walk(c->v->env->mem, c->s->cr0, c->s->cr3, c->s->cr4, c->s->efer, la, &w);
	if (err == -EINVAL) { /* paging not in long mode: no permissions to check here */
		struct kvm_translation t = { .linear_address = la };
		if (kvm_translate(c->v->fd, &t) < 0 || !t.valid)
			return -EFAULT;
		*gpa = t.physical_address;
		return 0;
	}
	if (err < 0)
		return -EFAULT;
	unsigned cpl = c->s->cs.selector & 3u;
	if ((cpl == 3 && !w.user) || (write && !w.writable && (cpl == 3 || (c->s->cr0 & CR0_WP))))
		return -EMU_EPROT;
	x86_page_mark_used(c->v->env->mem, &w, write);
	*gpa = w.gpa;
	return 0;
}

static int linear_access(void *opaque, uint64_t la, void *buf, unsigned len, bool write)
{
	const struct emu_ctx *c = opaque;
	uint8_t *p = buf;
	while (len) {
		unsigned chunk = (unsigned)MIN((uint64_t)len, 4096 - (la & 4095));
		uint64_t gpa;
		int err = translate(c, la, write, &gpa);
		if (err < 0)
			return err;
		err = write ? guest_mem_write(c->v->env->mem, gpa, p, chunk)
			    : guest_mem_read(c->v->env->mem, gpa, p, chunk);
		if (err < 0)
			return -EIO; /* not RAM (MMIO): nothing the guest's #PF handler can mend */
		la += chunk;
		p += chunk;
		len -= chunk;
	}
	return 0;
}

static int linear_read(void *opaque, uint64_t la, void *buf, unsigned len)
{
	return linear_access(opaque, la, buf, len, false);
}

static int linear_write(void *opaque, uint64_t la, const void *buf, unsigned len)
{
	return linear_access(opaque, la, (void *)buf, len, true);
}

/* Fetch up to EMU_MAX_INSN bytes at RIP, stopping at an unmapped page; returns how many. */
static unsigned fetch_code(struct vcpu *v, const struct kvm_regs *regs,
			   const struct kvm_sregs *sregs, uint8_t *code)
{
	struct emu_ctx c = { v, sregs };
	uint64_t la = sregs->cs.l ? regs->rip : sregs->cs.base + (regs->rip & 0xffffffff);
	unsigned first = (unsigned)MIN((uint64_t)EMU_MAX_INSN, 4096 - (la & 4095));
	if (linear_read(&c, la, code, first) < 0)
		return 0;
	if (first < EMU_MAX_INSN && linear_read(&c, la + first, code + first, EMU_MAX_INSN - first) == 0)
		return EMU_MAX_INSN;
	return first;
}

static int get_mxcsr(void *opaque, uint32_t *mxcsr)
{
	const struct emu_ctx *c = opaque;
	struct kvm_fpu fpu;
	if (kvm_get_fpu(c->v->fd, &fpu) < 0)
		return -errno;
	*mxcsr = fpu.mxcsr;
	return 0;
}

static int set_mxcsr(void *opaque, uint32_t mxcsr)
{
	const struct emu_ctx *c = opaque;
	struct kvm_fpu fpu;
	if (kvm_get_fpu(c->v->fd, &fpu) < 0)
		return -errno;
	fpu.mxcsr = mxcsr;
	return kvm_set_fpu(c->v->fd, &fpu);
}

_Static_assert(sizeof(struct kvm_xsave) == EMU_XSAVE_SIZE, "KVM's XSAVE area size");

static int get_xsave(void *opaque, uint8_t buf[EMU_XSAVE_SIZE])
{
	const struct emu_ctx *c = opaque;
	return kvm_get_xsave(c->v->fd, buf);
}

static int set_xsave(void *opaque, const uint8_t buf[EMU_XSAVE_SIZE])
{
	const struct emu_ctx *c = opaque;
	return kvm_set_xsave(c->v->fd, buf);
}

static int get_xcr(void *opaque, uint32_t index, uint64_t *value)
{
	const struct emu_ctx *c = opaque;
	struct kvm_xcrs x;
	if (kvm_get_xcrs(c->v->fd, &x) < 0)
		return -errno;
	for (uint32_t i = 0; i < x.nr_xcrs && i < KVM_MAX_XCRS; i++)
		if (x.xcrs[i].xcr == index) {
			*value = x.xcrs[i].value;
			return 0;
		}
	return -EINVAL;
}

static int set_xcr(void *opaque, uint32_t index, uint64_t value)
{
	const struct emu_ctx *c = opaque;
	struct kvm_xcrs x = { .nr_xcrs = 1, .xcrs = { { .xcr = index, .value = value } } };
	return kvm_set_xcrs(c->v->fd, &x);
}

static void format_bytes(const uint8_t *code, unsigned n, char *out, size_t outlen)
{
	size_t o = 0;
	out[0] = '\0';
	for (unsigned i = 0; i < n && o + 4 < outlen; i++)
		o += (size_t)snprintf(out + o, outlen - o, "%s%02x", i ? " " : "", code[i]);
	if (!n)
		snprintf(out, outlen, "(unreadable)");
}

/* Stop the VM with a one-line description of where the guest was: what, the vCPU's RIP, mode
 * and instruction bytes, those given (what was emulated: KVM's own fetch when it gave one) or
 * else read from guest memory now. */
static void fail_at(struct vcpu *v, const char *what, const uint8_t *given, unsigned given_n)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint8_t code[EMU_MAX_INSN];
	char bytes[64];
	if (kvm_get_regs(v->fd, &regs) < 0 || kvm_get_sregs(v->fd, &sregs) < 0) {
		stop(v, VM_STOP_ERROR, 1, "vCPU %u: %s (registers unavailable)", v->id, what);
		return;
	}
	unsigned n = given ? given_n : fetch_code(v, &regs, &sregs, code);
	format_bytes(given ? given : code, n, bytes, sizeof(bytes));
	stop(v, VM_STOP_ERROR, 1,
			"vCPU %u: %s at RIP 0x%llx (CPL %u, %s), instruction bytes: %s", v->id, what,
			(unsigned long long)regs.rip, sregs.cs.selector & 3u,
			sregs.cs.l ? "64-bit" : sregs.cs.db ? "32-bit" : "16-bit", bytes);
}

/* Queue the exception an emulated instruction raised, as the CPU would have. */
static int inject_exception(struct vcpu *v, const struct emu_result *res, struct kvm_sregs *sregs)
{
	struct kvm_vcpu_events ev;
	if (kvm_get_vcpu_events(v->fd, &ev) < 0)
		return -errno;
	memset(&ev.exception, 0, sizeof(ev.exception));
	ev.exception.nr = (uint8_t)res->vector;
	ev.exception.has_error_code = res->has_error_code;
	ev.exception.error_code = res->error_code;
	ev.flags = 0;
	if (v->env->kvm->exception_payload) {
		ev.flags = KVM_VCPUEVENT_VALID_PAYLOAD;
		ev.exception.pending = 1;
		ev.exception_has_payload = res->vector == 14;
		ev.exception_payload = res->vector == 14 ? res->cr2 : 0;
	} else {
		ev.exception.injected = 1;
		if (res->vector == 14) { /* no payload support: CR2 must be in place beforehand */
			sregs->cr2 = res->cr2;
			if (kvm_set_sregs(v->fd, sregs) < 0)
				return -errno;
		}
	}
	return kvm_set_vcpu_events(v->fd, &ev);
}

/* The instruction the host failed on: the bytes its emulator fetched when it gives them, as the
 * memory at RIP may hold another by now (another vCPU rewrote it: Linux's text_poke_bp() puts
 * an int3 over an instruction, then the new one); the memory at RIP otherwise. */
static unsigned failed_code(struct vcpu *v, const struct kvm_regs *regs, const struct kvm_sregs *sregs,
			    uint8_t *code)
{
	const struct kvm_run *run = v->run;
	if (run->emulation_failure.ndata >= 4 &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) &&
	    run->emulation_failure.insn_size) {
		unsigned n = MIN((unsigned)run->emulation_failure.insn_size, (unsigned)EMU_MAX_INSN);
		n = MIN(n, (unsigned)sizeof(run->emulation_failure.insn_bytes));
		memcpy(code, run->emulation_failure.insn_bytes, n);
		return n;
	}
	return fetch_code(v, regs, sregs, code);
}

/* KVM could not emulate an instruction (on PVM: anything its ring-0 emulator lacks). */
static void handle_emulation_failure(struct vcpu *v)
{
	if (!v->env->pvm) {
		fail_at(v, "unhandled exit KVM_EXIT_INTERNAL_ERROR (emulation failure)", NULL, 0);
		return;
	}
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	if (kvm_get_regs(v->fd, &regs) < 0 || kvm_get_sregs(v->fd, &sregs) < 0) {
		fail_at(v, "emulation failure", NULL, 0);
		return;
	}
	uint8_t code[EMU_MAX_INSN];
	unsigned n = failed_code(v, &regs, &sregs, code);
	struct emu_ctx ctx = { v, &sregs };
	struct emu_env env = {
		.opaque = &ctx, .read = linear_read, .write = linear_write,
		.get_mxcsr = get_mxcsr, .set_mxcsr = set_mxcsr,
		.get_xsave = get_xsave, .set_xsave = set_xsave, .get_xcr = get_xcr, .set_xcr = set_xcr,
		.xsave_layout = v->env->xsave_layout,
		.fs_base = sregs.fs.base, .gs_base = sregs.gs.base,
		.long_mode = sregs.cs.l, .cs_db = sregs.cs.db, .cpl = sregs.cs.selector & 3u,
	};
	struct emu_regs r = { .rip = regs.rip, .rflags = regs.rflags };
	__u64 *g = &regs.rax; /* kvm_regs lays out rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8.. */
	static const int order[16] = { EMU_RAX, EMU_RBX, EMU_RCX, EMU_RDX, EMU_RSI, EMU_RDI,
					EMU_RSP, EMU_RBP, EMU_R8, EMU_R9, EMU_R10, EMU_R11,
					EMU_R12, EMU_R13, EMU_R14, EMU_R15 };
	for (int i = 0; i < 16; i++)
		r.gpr[order[i]] = g[i];
	struct emu_result res;
	emu_step(&env, &r, code, n, &res);
	if (res.status == EMU_UNSUPPORTED || res.status == EMU_FAULT) {
		fail_at(v, res.status == EMU_FAULT
				   ? "emulated instruction faulted on its memory operand"
				   : "unhandled exit KVM_EXIT_INTERNAL_ERROR: instruction the host cannot emulate and petrel does not know",
			code, n);
		return;
	}
	for (int i = 0; i < 16; i++)
		g[i] = r.gpr[order[i]];
	regs.rip = r.rip;
	regs.rflags = r.rflags;
	if (kvm_set_regs(v->fd, &regs) < 0) {
		fail_at(v, "KVM_SET_REGS after emulation failed", NULL, 0);
		return;
	}
	if (res.status == EMU_EXCEPTION && inject_exception(v, &res, &sregs) < 0) {
		fail_at(v, "cannot inject the exception an emulated instruction raised", NULL, 0);
		return;
	}
	if (exit_stats_emulated(&v->stats, res.name) == 1)
		log_info("vCPU %u: emulating '%s' for the host (PVM) at RIP 0x%llx; further ones are counted in --stats",
			 v->id, res.name, (unsigned long long)regs.rip);
}

static enum exit_kind handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool out = run->io.direction == KVM_EXIT_IO_OUT;
	for (uint32_t i = 0; i < run->io.count; i++) {
		bus_access(v->env->pio, run->io.port, data, run->io.size, out);
		data += run->io.size;
	}
	return out ? EXIT_IO_OUT : EXIT_IO_IN;
}

static enum exit_kind handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return handle_io(v);
	case KVM_EXIT_MMIO:
		bus_access(v->env->mmio, run->mmio.phys_addr, run->mmio.data, run->mmio.len,
			   run->mmio.is_write);
		return run->mmio.is_write ? EXIT_MMIO_WRITE : EXIT_MMIO_READ;
	case KVM_EXIT_SHUTDOWN:
		stop(v, VM_STOP_RESET, 0, "guest reset (triple fault on vCPU %u)", v->id);
		return EXIT_SHUTDOWN;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
			stop(v, VM_STOP_POWEROFF, 0, "guest powered off");
		else if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
			stop(v, VM_STOP_RESET, 0, "guest reset");
		else
			stop(v, VM_STOP_ERROR, 1, "vCPU %u: system event %u", v->id,
					run->system_event.type);
		return EXIT_SYSTEM_EVENT;
	case KVM_EXIT_X86_WRMSR:
		/* Only MSRs petrel filters arrive here: MSR_LSTAR on PVM hosts. */
		if (run->msr.index == MSR_LSTAR && v->env->pvm)
			run->msr.error = pvm_syscall_lstar_write(v->env->pvm_syscall, v->fd, v->env->mem,
								 run->msr.data) < 0;
		else
			run->msr.error = 1; /* #GP, as for an MSR the CPU does not have */
		return EXIT_MSR;
	case KVM_EXIT_X86_RDMSR:
		run->msr.error = 1;
		return EXIT_MSR;
	case KVM_EXIT_HLT:
		/* With the in-kernel LAPIC, HLT only exits if the guest halts for good. */
		stop(v, VM_STOP_ERROR, 1, "vCPU %u halted with no way to wake up", v->id);
		return EXIT_HLT;
	case KVM_EXIT_INTERNAL_ERROR:
		if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
			handle_emulation_failure(v);
			return EXIT_EMULATED;
		}
		{
			char what[96];
			snprintf(what, sizeof(what), "unhandled exit KVM_EXIT_INTERNAL_ERROR (suberror %u)",
				 run->internal.suberror);
			fail_at(v, what, NULL, 0);
		}
		return EXIT_OTHER;
	case KVM_EXIT_FAIL_ENTRY: {
		char what[128];
		snprintf(what, sizeof(what), "KVM_EXIT_FAIL_ENTRY (hardware reason 0x%llx): invalid guest state",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		fail_at(v, what, NULL, 0);
		return EXIT_OTHER;
	}
	default: {
		char what[64];
		snprintf(what, sizeof(what), "unhandled exit reason %u", run->exit_reason);
		fail_at(v, what, NULL, 0);
		return EXIT_OTHER;
	}
	}
}

static void dump_state(struct vcpu *v)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	struct kvm_mp_state mp = { 0 };
	if (kvm_get_regs(v->fd, &r) < 0 || kvm_get_sregs(v->fd, &s) < 0)
		return;
	kvm_get_mp_state(v->fd, &mp);
	log_warn("vCPU %u: mp_state %u RIP 0x%llx RSP 0x%llx RFLAGS 0x%llx CS 0x%x CR3 0x%llx",
		 v->id, mp.mp_state, (unsigned long long)r.rip, (unsigned long long)r.rsp,
		 (unsigned long long)r.rflags, s.cs.selector, (unsigned long long)s.cr3);
	/* Where its interrupts are: the highest vector requested (IRR) and in service (ISR). */
	struct kvm_lapic_state l;
	if (kvm_get_lapic(v->fd, &l) < 0)
		return;
	int irr = lapic_highest_vector(&l, LAPIC_IRR), isr = lapic_highest_vector(&l, LAPIC_ISR);
	uint32_t tpr = lapic_reg(&l, LAPIC_TPR), lvt_timer = lapic_reg(&l, LAPIC_LVTT),
		 tmict = lapic_reg(&l, LAPIC_TMICT), tmcct = lapic_reg(&l, LAPIC_TMCCT);
	log_warn("vCPU %u: LAPIC highest IRR %d ISR %d TPR %#x LVT timer %#x initial %u current %u",
		 v->id, irr, isr, tpr, lvt_timer, tmict, tmcct);
}

/* An I/O, MMIO or MSR exit is finished (RIP past the instruction, the value read in place)
 * only when KVM_RUN is entered again, and none of that is visible in the state userspace
 * reads (KVM's API documentation): before the vCPU parks, so that a snapshot, migration or
 * checkpoint taken while paused is consistent, enter once with immediate_exit set, which
 * finishes the exit and runs no guest instruction. Without it a restored vCPU started at the
 * `out` it had already done, with KVM's half-done state for it lost (under nested KVM the
 * restored ring-3 test guests died there with a #BR). */
static void complete_exit(struct vcpu *v)
{
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	/* Finishing an exit can open the next one without running the guest (a fragmented
	 * MMIO access, string port I/O): serve each until KVM_RUN stops at immediate_exit. */
	int n = 0, r = 0, err = 0;
	while (n++ < 64) {
		r = kvm_run(v->fd);
		err = errno;
		if (!drain_coalesced(v) || r < 0)
			break;
		handle_exit(v);
	}
	if (n > 64)
		log_warn("vCPU %u: its last exits before the pause did not end", v->id);
	else if (r < 0 && err != EINTR && err != EAGAIN)
		log_warn("vCPU %u: finishing its last exit before the pause: %s", v->id, strerror(err));
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
}

void vcpu_park(struct vcpu *v)
{
	struct vcpu_env *env = v->env;
	pthread_mutex_lock(env->lock);
	(*env->parked)++;
	pthread_cond_broadcast(env->cond);
	while ((*env->pause_requested || *env->reset_requested || __atomic_load_n(&v->unplugged, __ATOMIC_ACQUIRE)) &&
	       !*env->stopping)
		pthread_cond_wait(env->cond, env->lock);
	(*env->parked)--;
	pthread_mutex_unlock(env->lock);
}

void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	/* Kickable from here on: v->thread is ours (util/thread.c writes it before fn runs). Set
	 * by the starter only, a kick in between (a pause, a stop, a checkpoint racing a hot-add)
	 * saw `started` false and sent no signal, while this thread was already blocked in
	 * KVM_RUN waiting for a SIPI: the pause hung. A kick that reads false stored
	 * immediate_exit first, which the first KVM_RUN sees. */
	vcpu_set_started(v, true);
	char name[16];
	snprintf(name, sizeof(name), "fc_vcpu %u", v->id);
	pthread_setname_np(pthread_self(), name);
	if (v->env->pvm)
		pvm_idle_set_thread(v->env->pvm_idle, v->id, (int)gettid());

	struct sigaction sa = { .sa_handler = kick_handler };
	sigaction(KICK_SIGNAL, &sa, NULL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	bool exit_open = false; /* the last KVM_RUN returned an exit KVM completes at the next one */
	while (!__atomic_load_n(v->env->stopping, __ATOMIC_ACQUIRE)) {
		if (__atomic_load_n(v->env->pause_requested, __ATOMIC_ACQUIRE) ||
		    __atomic_load_n(v->env->reset_requested, __ATOMIC_ACQUIRE) ||
		    __atomic_load_n(&v->unplugged, __ATOMIC_ACQUIRE)) {
			if (exit_open)
				complete_exit(v);
			exit_open = false;
			vcpu_park(v); /* paused, resetting (vm/vm_reset.c), or ejected by the guest (vm/vcpu_hotplug.c) */
			continue;
		}
		uint32_t nap = __atomic_exchange_n(&v->throttle_us, 0, __ATOMIC_ACQ_REL);
		if (nap)
			usleep(nap);
		uint64_t t0 = now_ns();
		if (!__atomic_load_n(v->env->first_run_ns, __ATOMIC_RELAXED))
			__atomic_store_n(v->env->first_run_ns, t0, __ATOMIC_RELEASE);
		int r = kvm_run(v->fd);
		int run_errno = errno;
		uint64_t t1 = now_ns();
		exit_stats_add_run(&v->stats, t1 - t0);
		if (!drain_coalesced(v))
			break;
		errno = run_errno;
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				exit_open = false; /* KVM finished it before it looked at the signal */
				/* A full barrier between this store and the flag loads at the top of the
				 * loop: a kicker sets its flag, then immediate_exit; were the clear to
				 * become visible after a new kick's store while the flag load read the old
				 * value, that kick would be lost until the next exit. */
				__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
				if (__atomic_exchange_n(&v->dump_requested, false, __ATOMIC_ACQ_REL))
					dump_state(v);
				if (v->env->pvm)
					pvm_idle_refresh(v->env->pvm_idle, v->id, v->fd);
				exit_stats_add(&v->stats, EXIT_INTR, now_ns() - t1);
				continue;
			}
			stop(v, VM_STOP_ERROR, 1, "vCPU %u: KVM_RUN failed: %s", v->id,
					strerror(errno));
			break;
		}
		enum exit_kind k = handle_exit(v);
		exit_open = true;
		if (v->env->pvm)
			pvm_idle_refresh(v->env->pvm_idle, v->id, v->fd);
		exit_stats_add(&v->stats, k, now_ns() - t1);
	}
	return NULL;
}
