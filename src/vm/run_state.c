/* A running VM's run state: pause and resume (vCPUs, then the I/O thread and the devices, and
 * the PVM idle kicker), and stop requests from any thread. */
#include "util/log.h"
#include "vm/vm.h"

#include <errno.h>
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
	for (unsigned i = 0; i < vm->nvcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	uint64_t one = 1;
	if (write(vm->stop_efd, &one, sizeof(one)) < 0)
		log_warn("cannot signal VM stop: %s", strerror(errno));
}

void vm_dump_vcpus(struct vm *vm)
{
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
		running += vm->vcpus[i].started;
	while (vm->parked < running && !vm->stopping)
		pthread_cond_wait(&vm->cond, &vm->lock);
	int err = vm->stopping ? -ESHUTDOWN : 0;
	bool devices = !err && !vm->devices_paused;
	if (!err)
		pvm_idle_pause(&vm->pvm_idle, true);
	vm->devices_paused |= devices;
	pthread_mutex_unlock(&vm->lock);
	/* vCPUs first (no new requests), then the devices finish what is in flight. */
	if (devices && (err = vm_devices_pause(vm)) < 0) {
		pthread_mutex_lock(&vm->lock);
		vm->devices_paused = false;
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
