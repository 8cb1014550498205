/* A guest reset that is a reset (vm_reset.h): every vCPU parks, the machine goes back to its
 * creation state (devices, in-kernel irqchip and PIT, vCPUs), the boot is loaded again and the
 * vCPUs run. The reset runs on a thread of its own (the VMM's kind: it reads the kernel file
 * again and sets every vCPU's registers), started at the first request: the vCPU that asked
 * parks like the others. */
#include "vm/vm_reset.h"
#include "arch/x86/cpu_state.h"
#include "arch/x86/cpu_state_codec.h"
#include "util/codec.h"
#include "util/error.h"
#include "util/event_monitor.h"
#include "util/log.h"
#include "util/thread.h"
#include "util/util.h"
#include "vm/vm_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- captures ---- */

static int keep(struct enc *e, uint8_t **buf, size_t *len)
{
	if (e->err) {
		enc_free(e);
		return e->err;
	}
	free(*buf);
	*buf = e->buf;
	*len = e->len;
	return 0;
}

int vm_reset_capture_chips(struct vm *vm)
{
	struct vm_kvm_state *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	int err = vm_kvm_state_get(&vm->kvm, s);
	if (err == 0) {
		struct enc e;
		enc_init(&e);
		vm_kvm_state_put(&e, s);
		err = keep(&e, &vm->reset.chips, &vm->reset.chips_len);
	}
	free(s);
	if (err < 0)
		log_error("cannot read the interrupt controllers' state for a reset: %s", strerror(-err));
	return err;
}

int vm_reset_capture_vcpu(struct vm *vm, unsigned id)
{
	struct vm_reset *r = &vm->reset;
	struct cpu_state *s = malloc(sizeof(*s));
	int err = s ? 0 : -ENOMEM;
	if (!err && !r->msrs) {
		r->msrs = malloc(sizeof(*r->msrs));
		err = r->msrs ? cpu_msr_list(&vm->kvm, vm->vcpus[id].fd, r->msrs) : -ENOMEM;
		if (err < 0) {
			free(r->msrs);
			r->msrs = NULL;
		}
	}
	if (!err)
		err = cpu_state_get(vm->vcpus[id].fd, r->msrs, s);
	if (!err) {
		struct enc e;
		enc_init(&e);
		cpu_state_put(&e, s);
		err = keep(&e, &r->vcpu[id], &r->vcpu_len[id]);
	}
	free(s);
	if (err < 0)
		log_error("vCPU %u: cannot read its creation state for a reset: %s", id, strerror(-err));
	return err;
}

void vm_reset_free(struct vm *vm)
{
	struct vm_reset *r = &vm->reset;
	for (unsigned i = 0; i < VM_MAX_VCPUS; i++) {
		free(r->vcpu[i]);
		r->vcpu[i] = NULL;
	}
	free(r->chips);
	free(r->msrs);
	r->chips = NULL;
	r->msrs = NULL;
}

/* ---- the reset ---- */

static int reset_chips(struct vm *vm, char *err, size_t errlen)
{
	struct vm_kvm_state *s = calloc(1, sizeof(*s));
	if (!s)
		return error_oom(err, errlen);
	struct dec d;
	dec_init(&d, vm->reset.chips, vm->reset.chips_len);
	int e = vm_kvm_state_decode(&d, s, err, errlen);
	if (!e)
		e = vm_kvm_chips_set(&vm->kvm, s, err, errlen);
	free(s);
	return e;
}

/* Every vCPU the guest has (an ejected one stays parked, as it was) as it was created: the
 * boot CPU runnable, the others waiting for INIT/SIPI. */
static int reset_vcpus(struct vm *vm, char *err, size_t errlen)
{
	struct cpu_state *s = malloc(sizeof(*s));
	if (!s)
		return error_oom(err, errlen);
	int e = 0;
	for (unsigned i = 0; i < vm->nvcpus && !e; i++) {
		if (__atomic_load_n(&vm->vcpus[i].unplugged, __ATOMIC_ACQUIRE))
			continue;
		struct dec d;
		dec_init(&d, vm->reset.vcpu[i], vm->reset.vcpu_len[i]);
		e = cpu_state_decode(&d, s, err, errlen);
		if (!e) {
			cpu_state_zero_tsc(s);
			e = cpu_state_set(vm->vcpus[i].fd, s, err, errlen);
		}
		if (e < 0) {
			char why[256];
			snprintf(why, sizeof(why), "%s", err);
			e = error_set(err, errlen, e, "vCPU %u: %s", i, why);
		}
		if (vm->pvm && i < PVM_IDLE_MAX_VCPUS)
			__atomic_store_n(&vm->pvm_idle.timer_vector[i], 0, __ATOMIC_RELAXED);
	}
	free(s);
	return e;
}

/* The VM is paused (vCPUs parked, the I/O thread and the devices quiesced). */
static int reset_machine(struct vm *vm, char *err, size_t errlen)
{
	vcpu_hotplug_hold(vm); /* no vCPU comes or goes meanwhile (after the pause: on_eject runs on a vCPU) */
	vm_devices_reset(vm);
	int e = reset_chips(vm, err, errlen);
	if (!e)
		e = reset_vcpus(vm, err, errlen);
	vcpu_hotplug_release(vm);
	if (vm->pvm)
		pvm_syscall_reset(&vm->pvm_syscall);
	if (!e && (e = vm_boot_load(vm, false)) < 0)
		e = error_set(err, errlen, e, "cannot load the boot again: %s (the log says more)", strerror(-e));
	/* the boot rewrote the kernel, its tables and data: with dirty logging on (a migration,
	 * a replica, diff snapshots), every page counts as written */
	for (unsigned i = 0; i < vm->mem.nregions; i++)
		guest_mem_mark_dirty(&vm->mem, vm->mem.regions[i].gpa, vm->mem.regions[i].size);
	return e;
}

/* With the right to pause (vm_pause_exclusive) and the VM not paused by anyone else. */
static void reset_once(struct vm *vm, const char *why)
{
	int pe = vm_pause(vm);
	if (pe < 0) {
		pthread_mutex_lock(&vm->lock);
		__atomic_store_n(&vm->reset.requested, false, __ATOMIC_RELEASE);
		pthread_cond_broadcast(&vm->cond);
		pthread_mutex_unlock(&vm->lock);
		if (pe != -ESHUTDOWN)
			vm_request_stop(vm, VM_STOP_ERROR, 1, "%s; cannot pause the VM to reset it: %s", why, strerror(-pe));
		return;
	}
	char err[512] = "";
	uint64_t t0 = now_ns();
	int e = reset_machine(vm, err, sizeof(err));
	pthread_mutex_lock(&vm->lock);
	__atomic_store_n(&vm->reset.requested, false, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&vm->lock);
	if (e < 0) {
		vm_request_stop(vm, VM_STOP_ERROR, 1, "%s; the VM cannot boot again: %s", why, err);
	} else {
		uint64_t n = __atomic_add_fetch(&vm->reset.count, 1, __ATOMIC_RELAXED);
		log_info("%s: the VM boots again (reset %llu, %.1f ms)", why, (unsigned long long)n,
			 (double)(now_ns() - t0) / 1e6);
		event_emit("vm", "reset", "{s:s,s:I}", "message", why, "count", (json_int_t)n);
	}
	vm_resume(vm);
}

/* A VM someone paused (the user, before a snapshot; a migration's switch) is reset once it
 * runs again: its vCPUs stay parked meanwhile, and what is saved of it is the machine as the
 * guest left it (a restored copy repeats the guest's reset request, or the guest goes on
 * past it and asks again, as Linux does). */
static void *reset_thread(void *arg)
{
	struct vm *vm = arg;
	pthread_mutex_lock(&vm->lock);
	for (;;) {
		while ((!vm->reset.requested || vm->pause_requested) && !vm->stopping)
			pthread_cond_wait(&vm->cond, &vm->lock);
		if (vm->stopping)
			break;
		char why[sizeof(vm->reset.why)];
		memcpy(why, vm->reset.why, sizeof(why));
		pthread_mutex_unlock(&vm->lock);
		vm_pause_exclusive(vm);
		if (!vm_is_paused(vm)) /* else paused meanwhile: after the resume */
			reset_once(vm, why);
		vm_pause_release(vm);
		pthread_mutex_lock(&vm->lock);
	}
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}

void vm_request_reset(struct vm *vm, const char *why)
{
	pthread_mutex_lock(&vm->lock);
	/* Another request is starting the thread: the VM resets once, and this vCPU parks as it
	 * would have behind the lock (not back to the guest meanwhile: a triple fault would fault
	 * again at once). */
	while (vm->reset.starting && !vm->stopping)
		pthread_cond_wait(&vm->cond, &vm->lock);
	if (vm->stopping || vm->reset.requested) {
		pthread_mutex_unlock(&vm->lock);
		return;
	}
	snprintf(vm->reset.why, sizeof(vm->reset.why), "%s", why);
	int e = 0;
	if (!vm->reset.started) {
		/* Not under vm->lock: the thread may wait for petrel's main thread to make the spawner
		 * (util/thread.h), and main takes vm->lock (a stop on a signal). */
		vm->reset.starting = true;
		pthread_mutex_unlock(&vm->lock);
		e = thread_start(&vm->reset.thread, SC_VMM, "petrel_reset", reset_thread, vm);
		pthread_mutex_lock(&vm->lock);
		vm->reset.starting = false;
		vm->reset.started = e == 0;
	}
	if (e == 0)
		__atomic_store_n(&vm->reset.requested, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	if (e < 0) {
		vm_request_stop(vm, VM_STOP_RESET, 0, "%s (the VM ends: cannot start the reset thread: %s)", why,
				strerror(-e));
		return;
	}
	for (unsigned i = 0; i < __atomic_load_n(&vm->nvcpus, __ATOMIC_ACQUIRE); i++)
		vcpu_kick(&vm->vcpus[i]);
}

void vm_reset_join(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	while (vm->reset.starting)   /* a request starting the thread (vm_request_reset) */
		pthread_cond_wait(&vm->cond, &vm->lock);
	bool started = vm->reset.started;
	vm->reset.started = false;
	if (started) { /* vm_join's VM stops already; vm_destroy's may not have */
		__atomic_store_n(&vm->stopping, true, __ATOMIC_RELEASE);
		pthread_cond_broadcast(&vm->cond);
	}
	pthread_mutex_unlock(&vm->lock);
	if (started)
		pthread_join(vm->reset.thread, NULL);
}

uint64_t vm_reset_count(struct vm *vm)
{
	return __atomic_load_n(&vm->reset.count, __ATOMIC_RELAXED);
}
