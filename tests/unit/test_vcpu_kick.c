/* Kicks that must reach every vCPU thread (src/vcpu/vcpu.c, src/vm/run_state.c), on a fake KVM
 * (fake_kvm.h). A vCPU hot-added while a replication checkpoint pauses the VM: its thread was
 * already blocked in KVM_RUN (a new AP waits there for INIT/SIPI) before its starter marked it
 * started, so the pause's kick set immediate_exit and sent no signal; the checkpoint then read
 * the registers of a vCPU it had not stopped and waited on KVM's vCPU mutex for good. The
 * starter is slowed here (--wrap=vcpu_set_started) to open that window wide. */
#include "unit.h"
#include "fake_vm.h"

#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include "arch/x86/layout.h"
#include "config/vm_config.h"
#include "devices/legacy/ged.h"
#include "util/log.h"
#include "vm/vcpu_hotplug.h"
#include "vm/vm_internal.h"

void __real_vcpu_set_started(struct vcpu *v, bool started);
void __wrap_vcpu_set_started(struct vcpu *v, bool started);

/* The starter of vCPU 1 is preempted for 20 ms once its thread is in KVM_RUN. */
void __wrap_vcpu_set_started(struct vcpu *v, bool started)
{
	if (started && v->id == 1) {
		for (int t = 0; t < 500 && !atomic_load(&in_run[1]); t++)
			usleep(100);
		usleep(20000);
	}
	__real_vcpu_set_started(v, started);
}

static _Atomic int quit;
static _Atomic unsigned long checkpoints;

/* Pause, read each present vCPU's registers (what a checkpoint's save does), resume. */
static void *checkpointer(void *p)
{
	struct vm *vm = p;
	while (!atomic_load(&quit)) {
		pthread_mutex_lock(&vm->pause_hold);
		int e = vm_pause(vm);
		if (e == 0) {
			vcpu_hotplug_hold(vm);
			for (unsigned i = 0; i < vm->nvcpus; i++) {
				struct kvm_regs r;
				if (vcpu_hotplug_is_present(vm, i))
					ioctl(vm->vcpus[i].fd, KVM_GET_REGS, &r);
			}
			vcpu_hotplug_release(vm);
			vm_resume(vm);
		}
		pthread_mutex_unlock(&vm->pause_hold);
		if (e < 0)
			break;
		atomic_fetch_add(&checkpoints, 1);
		usleep(500);
	}
	return NULL;
}

/* One VM: vCPU 0 running, checkpoints every 0.5 ms, vCPU 1 added among them; whether the
 * checkpoints went on afterwards. */
static bool checkpoints_go_on_after_a_hot_add(void)
{
	bool ok = false;
	static struct vm_config cfg;
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return false;
	vm_config_init(&cfg);
	cfg.vcpus = 1;
	cfg.has_vcpu_hotplug = true;
	cfg.vcpu_hotplug.max_vcpu_count = 2;
	fake_vm_init(vm, &cfg, 2);
	ged_init(&vm->devs.ged, (struct irq_line){ NULL, LAYOUT_GED_GSI }, GED_PORT);
	if (vm_vcpu_create(vm, 0) < 0)
		return false;
	vm->nvcpus = 1;
	if (vcpu_hotplug_create(vm) < 0 || vm_start(vm) < 0)
		return false;
	while (!atomic_load(&in_run[0]))
		usleep(100);
	pthread_t ck;
	if (pthread_create(&ck, NULL, checkpointer, vm) != 0)
		return false;
	usleep(5000);
	char err[256] = "";
	CHECK_EQ(vcpu_hotplug_set(vm, 2, err, sizeof(err)), 0);
	unsigned long c0 = atomic_load(&checkpoints);
	usleep(300000);
	ok = atomic_load(&checkpoints) > c0;
	atomic_store(&quit, 1);
	vm_request_stop(vm, VM_STOP_USER, 0, "test over");
	pthread_join(ck, NULL);
	vm_join(vm);
	atomic_store(&quit, 0);
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		munmap(vm->vcpus[i].run, RUN_SIZE);
		close(vm->vcpus[i].fd);
	}
	close(vm->stop_efd);
	free(vm->cpuid);
	vm_reset_free(vm); /* the vCPUs' creation states, kept for a reset */
	free(vm);
	fake_kvm_reset();
	return ok;
}

/* The window is hit about half the time: four VMs in a row. */
TEST(a_vcpu_added_during_checkpoints_is_paused_with_the_others)
{
	log_set_level(LOG_OFF);
	for (int round = 0; round < 4; round++)
		CHECK(checkpoints_go_on_after_a_hot_add());
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
