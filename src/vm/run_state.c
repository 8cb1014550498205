/* A running VM's run state: pause and resume (vCPUs, then the I/O thread and the devices, and
 * the PVM idle kicker), and stop requests from any thread. */
#include "kvm/kvm_vcpu.h"
#include "util/event_monitor.h"
#include "util/log.h"
#include "vm/vm_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int code, const char *fmt, ...)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->stopping) {
		pthread_mutex_unlock(&vm->lock);
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(vm->stop_msg, sizeof(vm->stop_msg), fmt, ap);
	va_end(ap);
	vm->stop_reason = reason;
	vm->stop_code = code;
	__atomic_store_n(&vm->stopping, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&vm->cond); /* parked vCPUs leave too */
	pthread_mutex_unlock(&vm->lock);
	static const char *const event[] = { [VM_STOP_NONE] = "stopping", [VM_STOP_POWEROFF] = "shutdown",
					     [VM_STOP_RESET] = "reset", [VM_STOP_DEBUG_EXIT] = "debug-exit",
					     [VM_STOP_ERROR] = "failed", [VM_STOP_USER] = "stopping" };
	bool guest = reason == VM_STOP_POWEROFF || reason == VM_STOP_RESET || reason == VM_STOP_DEBUG_EXIT;
	event_emit(guest ? "guest" : "vm", reason <= VM_STOP_USER ? event[reason] : "stopping", "{s:s,s:i}",
		   "message", vm->stop_msg, "code", code);
	for (unsigned i = 0; i < vm->nvcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	uint64_t one = 1;
	if (write(vm->stop_efd, &one, sizeof(one)) < 0)
		log_warn("cannot signal VM stop: %s", strerror(errno));
}

/* The console's UART and its IOAPIC pin: the usual suspects when a guest stops talking. */
static void dump_console(struct vm *vm)
{
	struct serial *s = &vm->serial;
	pthread_mutex_lock(&s->lock);
	struct serial_state st = s->st;
	uint64_t tx = s->tx_bytes, rx = s->rx_bytes, dropped = s->tx_dropped;
	pthread_mutex_unlock(&s->lock);
	log_warn("serial: IER %#x IIR-THRI %u LCR %#x MCR %#x LSR %#x FCR %#x rx queued %u line %u; "
		 "%" PRIu64 " bytes out (%" PRIu64 " dropped), %" PRIu64 " in",
		 st.ier, st.iir_pending_thri, st.lcr, st.mcr, st.lsr, st.fcr, st.rx_count, st.irq_level, tx,
		 dropped, rx);
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
	if (kvm_get_irqchip(&vm->kvm, &chip) == 0) {
		uint64_t e = chip.chip.ioapic.redirtbl[SERIAL_COM1_IRQ].bits;
		log_warn("IOAPIC pin %d: vector %u %s %s%s%s, IRR %u", SERIAL_COM1_IRQ, (unsigned)(e & 0xff),
			 (e >> 15) & 1 ? "level" : "edge", (e >> 16) & 1 ? "masked" : "unmasked",
			 (e >> 12) & 1 ? " delivery-pending" : "", (e >> 14) & 1 ? " remote-IRR" : "",
			 (unsigned)((chip.chip.ioapic.irr >> SERIAL_COM1_IRQ) & 1));
	}
}

void vm_dump_vcpus(struct vm *vm)
{
	dump_console(vm);
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		__atomic_store_n(&vm->vcpus[i].dump_requested, true, __ATOMIC_RELEASE);
		vcpu_kick(&vm->vcpus[i]);
	}
}

int vm_pause(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->stopping) {
		pthread_mutex_unlock(&vm->lock);
		return -ESHUTDOWN;
	}
	__atomic_store_n(&vm->pause_requested, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&vm->lock);
	for (unsigned i = 0; i < vm->nvcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	pthread_mutex_lock(&vm->lock);
	unsigned running = 0;
	for (unsigned i = 0; i < vm->nvcpus; i++)
		running += vcpu_started(&vm->vcpus[i]);
	while (vm->parked < running && !vm->stopping)
		pthread_cond_wait(&vm->cond, &vm->lock);
	int err = vm->stopping ? -ESHUTDOWN : 0;
	/* Console output made before the pause is out before what follows it (a snapshot, a
	 * migration's destination); a console that takes nothing now gets it after resume. */
	serial_flush(&vm->serial, false);
	bool devices = !err && !vm->devices_paused;
	if (!err)
		pvm_idle_pause(&vm->pvm_idle, true);
	vm->devices_paused |= devices;
	pthread_mutex_unlock(&vm->lock);
	/* vCPUs first (no new requests), then the devices finish what is in flight. */
	if (devices && (err = vm_devices_pause(vm)) < 0) {
		/* Not paused after all: the vCPUs go on (a later checkpoint would otherwise take
		 * the VM for user-paused and never resume it). */
		pthread_mutex_lock(&vm->lock);
		vm->devices_paused = false;
		__atomic_store_n(&vm->pause_requested, false, __ATOMIC_RELEASE);
		pvm_idle_pause(&vm->pvm_idle, false);
		pthread_cond_broadcast(&vm->cond);
		pthread_mutex_unlock(&vm->lock);
	}
	return err;
}

int vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->devices_paused) {
		vm->devices_paused = false;
		vm_devices_resume(vm);
	}
	pvm_idle_pause(&vm->pvm_idle, false);
	__atomic_store_n(&vm->pause_requested, false, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&vm->cond);
	int err = vm->stopping ? -ESHUTDOWN : 0;
	pthread_mutex_unlock(&vm->lock);
	return err;
}

bool vm_is_paused(struct vm *vm)
{
	return __atomic_load_n(&vm->pause_requested, __ATOMIC_ACQUIRE);
}

void vm_pause_exclusive(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_hold);
}

void vm_pause_release(struct vm *vm)
{
	pthread_mutex_unlock(&vm->pause_hold);
}
