/* vCPU hot-plug on the VMM's side (vcpu_hotplug.h). */
#include "util/error.h"
#include "vm/vcpu_hotplug.h"
#include "arch/x86/boot_cpu.h"
#include "kvm/kvm_vcpu.h"
#include "util/affinity.h"
#include "util/log.h"
#include "util/thread.h"
#include "util/util.h"
#include "vm/vm_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

unsigned vcpu_hotplug_possible(const struct vm_config *cfg)
{
	if (cfg->has_vcpu_hotplug && cfg->vcpu_hotplug.max_vcpu_count > cfg->vcpus)
		return cfg->vcpu_hotplug.max_vcpu_count;
	return cfg->vcpus;
}

/* Publish vCPU i's unplugged flag; a vCPU coming back is woken from vcpu_park. */
static void set_unplugged(struct vm *vm, unsigned i, bool unplugged)
{
	pthread_mutex_lock(&vm->lock);
	__atomic_store_n(&vm->vcpus[i].unplugged, unplugged, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

/* The guest's _EJ0 (a vCPU thread, in the register write): park the vCPU for good. */
static void on_eject(void *opaque, unsigned cpu)
{
	struct vm *vm = opaque;
	struct vcpu_hotplug *hp = &vm->devs.vcpuhp;
	pthread_mutex_lock(&hp->lock);
	if (cpu < __atomic_load_n(&vm->nvcpus, __ATOMIC_ACQUIRE)) {
		set_unplugged(vm, cpu, true);
		vcpu_kick(&vm->vcpus[cpu]); /* out of KVM_RUN (it halts, offline) into vcpu_park */
		if (cpu < PVM_IDLE_MAX_VCPUS)
			__atomic_store_n(&vm->pvm_idle.timer_vector[cpu], 0, __ATOMIC_RELAXED);
		hp->ejected++;
	}
	pthread_cond_broadcast(&hp->ejected_cond);
	pthread_mutex_unlock(&hp->lock);
	log_info("vCPU %u: ejected by the guest", cpu);
}

int vcpu_hotplug_create(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	struct vcpu_hotplug *hp = &vm->devs.vcpuhp;
	if (!cfg->has_vcpu_hotplug)
		return 0;
	pthread_mutex_init(&hp->lock, NULL);
	pthread_cond_init(&hp->ejected_cond, NULL);
	unsigned max = vcpu_hotplug_possible(cfg);
	cpu_hotplug_init(&hp->dev, max, cfg->vcpus, CPUHP_PORT, on_eject, vm);
	int err = bus_register(&vm->pio, CPUHP_PORT, CPUHP_LEN, "cpu-hotplug", cpu_hotplug_read,
			       cpu_hotplug_write, &hp->dev);
	if (err < 0) {
		log_error("cannot register the CPU hot-plug registers: %s", strerror(-err));
		return err;
	}
	hp->on = true;
	vm->devs.acpi.cpu_max = max;
	vm->devs.acpi.cpuhp_port = CPUHP_PORT;
	return 0;
}

/* Start vCPU i's thread if the VM's run (vm_start starts those created before it). */
static int start_thread(struct vm *vm, unsigned i)
{
	struct vcpu *v = &vm->vcpus[i];
	if (!vcpu_started(&vm->vcpus[0]) || vcpu_started(v))
		return 0;
	/* Under the VM's lock, against a stop: a thread started after vm_join passed its index
	 * would outlive the VM (its run area unmapped, its fd closed). */
	pthread_mutex_lock(&vm->lock);
	int err = vm->stopping ? ESHUTDOWN
			       : thread_start_on(&v->thread, SC_VCPU, "fc_vcpu", affinity_for_vcpu(i), vcpu_thread, v);
	if (!err)
		vcpu_set_started(v, true);
	pthread_mutex_unlock(&vm->lock);
	return -err;
}

/* vCPU i as at boot: created (KVM_CREATE_VCPU, CPUID, LAPIC defaults) or, when an earlier
 * one was ejected, the same again on its fd; either way waiting for INIT/SIPI. */
static int bring_up(struct vm *vm, unsigned i, char *err, size_t errlen)
{
	unsigned n = __atomic_load_n(&vm->nvcpus, __ATOMIC_ACQUIRE);
	int e;
	if (i < n) {
		struct vcpu *v = &vm->vcpus[i];
		struct kvm_mp_state mp = { KVM_MP_STATE_UNINITIALIZED };
		if ((e = x86_vcpu_init(v->fd, i)) < 0 ||
		    (kvm_set_mp_state(v->fd, &mp) < 0 && (e = -errno) < 0))
			return error_set(err, errlen, e, "vCPU %u: cannot reset it: %s", i, strerror(-e));
		set_unplugged(vm, i, false);
		/* its thread, if starting it failed when the vCPU was created */
		if ((e = start_thread(vm, i)) < 0) {
			e = error_set(err, errlen, e, "vCPU %u: cannot start its thread: %s", i, strerror(-e));
			set_unplugged(vm, i, true);
		}
		return e;
	}
	/* i == n: the lowest absent index is the next never created */
	if ((e = vm_vcpu_create(vm, i)) < 0)
		return error_set(err, errlen, e, "vCPU %u: cannot create it: %s", i, strerror(-e));
	pthread_mutex_lock(&vm->lock);
	__atomic_store_n(&vm->nvcpus, i + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&vm->lock);
	if (vm->pvm && i + 1 > vm->pvm_idle.nvcpus && i < PVM_IDLE_MAX_VCPUS)
		__atomic_store_n(&vm->pvm_idle.nvcpus, i + 1, __ATOMIC_RELEASE);
	if ((e = start_thread(vm, i)) < 0) {
		e = error_set(err, errlen, e, "vCPU %u: cannot start its thread: %s", i, strerror(-e));
		set_unplugged(vm, i, true);
		return e;
	}
	return 0;
}

static int lowest_absent(const struct vcpu_hotplug_state *st)
{
	for (unsigned i = 0; i < st->max_cpus; i++)
		if (!(st->present & (1ull << i)))
			return (int)i;
	return -1;
}

int vcpu_hotplug_set(struct vm *vm, unsigned n, char *err, size_t errlen)
{
	struct vcpu_hotplug *hp = &vm->devs.vcpuhp;
	if (!hp->on)
		return error_set(err, errlen, -EINVAL, "vCPU hot-plug is not configured (PUT /hotplug/vcpu before the start)");
	if (n < 1 || n > hp->dev.st.max_cpus)
		return error_set(err, errlen, -EINVAL, "vcpu_count %u is outside [1, %u] (max_vcpu_count)", n, hp->dev.st.max_cpus);
	pthread_mutex_lock(&hp->lock);
	struct vcpu_hotplug_state st;
	cpu_hotplug_save(&hp->dev, &st);
	unsigned target = (unsigned)__builtin_popcountll(st.present & ~st.removing);
	int e = 0;
	bool raise = false;
	/* Fewer: ask the highest present ones to leave (vCPU 0 never). */
	for (unsigned i = st.max_cpus; i-- > 1 && target > n;) {
		if ((st.present & ~st.removing) & (1ull << i) && cpu_hotplug_request_remove(&hp->dev, i) == 0) {
			target--;
			hp->remove_requests++;
			raise = true;
		}
	}
	/* More: first keep those still asked to leave, lowest first, then add absent ones. */
	for (unsigned i = 1; i < st.max_cpus && target < n; i++) {
		if ((st.removing & (1ull << i)) && cpu_hotplug_cancel_remove(&hp->dev, i) == 0)
			target++;
	}
	while (target < n) {
		cpu_hotplug_save(&hp->dev, &st);
		int i = lowest_absent(&st);
		if (i < 0)
			break;
		/* Absent and not parked: the guest's _EJ0 cleared its present bit and on_eject, which
		 * waits for this lock, has not recorded it yet (the vCPU is still in KVM_RUN, not
		 * kicked). Let it, or the reset below would wait on the vCPU forever and the late
		 * on_eject park a vCPU the register block calls present. */
		if ((unsigned)i < __atomic_load_n(&vm->nvcpus, __ATOMIC_ACQUIRE) &&
		    !__atomic_load_n(&vm->vcpus[i].unplugged, __ATOMIC_ACQUIRE)) {
			pthread_cond_wait(&hp->ejected_cond, &hp->lock);
			continue;
		}
		uint64_t t0 = now_ns();
		if ((e = bring_up(vm, (unsigned)i, err, errlen)) < 0)
			break;
		cpu_hotplug_insert(&hp->dev, (unsigned)i);
		hp->last_add_ns = now_ns() - t0;
		hp->added++;
		target++;
		raise = true;
		log_info("vCPU %d: added (%.3f ms); the guest brings it up", i, (double)hp->last_add_ns / 1e6);
	}
	pthread_mutex_unlock(&hp->lock);
	if (raise)
		ged_raise(&vm->devs.ged, GED_EVT_CPU_HOTPLUG);
	return e;
}

void vcpu_hotplug_counts(struct vm *vm, unsigned *present, unsigned *target)
{
	struct vcpu_hotplug *hp = &vm->devs.vcpuhp;
	if (!hp->on) {
		*present = *target = vm->nvcpus;
		return;
	}
	unsigned removing = 0;
	*present = cpu_hotplug_count(&hp->dev, &removing);
	*target = *present - removing;
}

bool vcpu_hotplug_on(struct vm *vm)
{
	return vm->devs.vcpuhp.on;
}

void vcpu_hotplug_stats(struct vm *vm, struct vcpu_hotplug_stats *out)
{
	const struct vcpu_hotplug *hp = &vm->devs.vcpuhp;
	*out = (struct vcpu_hotplug_stats){ 0 };
	if (hp->on)
		*out = (struct vcpu_hotplug_stats){ .max_cpus = hp->dev.st.max_cpus, .added = hp->added,
						    .remove_requests = hp->remove_requests, .ejected = hp->ejected,
						    .last_add_ns = hp->last_add_ns };
}

bool vcpu_hotplug_save(struct vm *vm, struct vcpu_hotplug_state *st)
{
	if (!vm->devs.vcpuhp.on)
		return false;
	cpu_hotplug_save(&vm->devs.vcpuhp.dev, st);
	return true;
}

void vcpu_hotplug_hold(struct vm *vm)
{
	if (vm->devs.vcpuhp.on)
		pthread_mutex_lock(&vm->devs.vcpuhp.lock);
}

void vcpu_hotplug_release(struct vm *vm)
{
	if (vm->devs.vcpuhp.on)
		pthread_mutex_unlock(&vm->devs.vcpuhp.lock);
}

bool vcpu_hotplug_is_present(struct vm *vm, unsigned i)
{
	struct vcpu_hotplug *hp = &vm->devs.vcpuhp;
	if (!hp->on)
		return i < vm->nvcpus;
	struct vcpu_hotplug_state st;
	cpu_hotplug_save(&hp->dev, &st);
	return i < 64 && (st.present >> i) & 1;
}

int vcpu_hotplug_load(struct vm *vm, const struct vcpu_hotplug_state *st, unsigned nvcpus, char *err,
		      size_t errlen)
{
	struct vcpu_hotplug *hp = &vm->devs.vcpuhp;
	if (!hp->on)
		return error_set(err, errlen, -EINVAL, "snapshot has CPU hot-plug state and its definition no vcpu-hotplug");
	int e = cpu_hotplug_check(&hp->dev, st, err, errlen);
	if (e < 0)
		return e;
	if ((unsigned)__builtin_popcountll(st->present) != nvcpus)
		return error_set(err, errlen, -EINVAL, "snapshot records %u vCPUs and %u present ones", nvcpus,
			 (unsigned)__builtin_popcountll(st->present));
	unsigned top = 64 - (unsigned)__builtin_clzll(st->present); /* present & 1: not 0 */
	for (unsigned i = vm->nvcpus; i < top; i++) {
		if ((e = vm_vcpu_create(vm, i)) < 0)
			return error_set(err, errlen, e, "vCPU %u: cannot create it: %s", i, strerror(-e));
		vm->nvcpus = i + 1;
	}
	for (unsigned i = 0; i < vm->nvcpus; i++)
		set_unplugged(vm, i, !((st->present >> i) & 1));
	return cpu_hotplug_restore(&hp->dev, st, err, errlen);
}
