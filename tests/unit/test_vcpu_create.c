/* vcpu_create (src/vcpu/vcpu.c) when setting a new vCPU up fails, on a fake KVM (fake_kvm.h):
 * KVM keeps a vCPU it made until the VM goes and refuses its id a second time, so a hot-plug
 * retried after such a failure must set up the same vCPU again, not ask for a new one (which
 * failed with EEXIST for good, the first fd and its kvm_run mapping lost). */
#include "unit.h"
#include "fake_kvm.h"

#include <fcntl.h>
#include <string.h>

#include "util/log.h"
#include "vm/vm_internal.h"

static struct vm *fake_vm(void)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		abort();
	/* no creation-state capture for a reset (vm_reset.c): the fake KVM has no state to give */
	static struct vm_config cfg = { .no_reboot = true };
	vm->cfg = &cfg;
	vm->kvm.fd = vm->kvm.vm_fd = FAKE_VM_FD;
	vm->kvm.run_size = RUN_SIZE;
	vm->cpuid = calloc(1, sizeof(struct kvm_cpuid2));
	vm->cpuid_opts = (struct cpuid_opts){ .ncpus = 2 };
	return vm;
}

static void free_vm(struct vm *vm)
{
	free(vm->cpuid);
	free(vm);
	fake_kvm_reset();
}

TEST(a_vcpu_whose_setup_failed_is_set_up_again_on_the_next_create)
{
	struct vm *vm = fake_vm();
	CHECK_EQ(vm_vcpu_create(vm, 0), 0);
	fake_fail_req = KVM_SET_CPUID2;
	fake_fail_errno = EINVAL;
	fake_fail_times = 1;
	CHECK_EQ(vm_vcpu_create(vm, 1), -EINVAL);
	CHECK_EQ(nfake, 2);
	int fd = vm->vcpus[1].fd;
	CHECK(fd == fake_fds[1]);
	/* the retry: no second KVM_CREATE_VCPU (EEXIST), the same fd and mapping */
	CHECK_EQ(vm_vcpu_create(vm, 1), 0);
	CHECK_EQ(nfake, 2);
	CHECK_EQ(vm->vcpus[1].fd, fd);
	CHECK(vm->vcpus[1].run != NULL);
	CHECK_EQ(vm->vcpus[1].id, 1u);
	for (unsigned i = 0; i < 2; i++)
		vcpu_release(&vm->vcpus[i], &vm->vcpu_env);
	free_vm(vm);
}

TEST(release_closes_the_fd_of_a_vcpu_never_set_up)
{
	struct vm *vm = fake_vm();
	fake_fail_req = KVM_SET_CPUID2;
	fake_fail_errno = ENOMEM;
	fake_fail_times = 1;
	CHECK_EQ(vm_vcpu_create(vm, 0), -ENOMEM);
	int fd = vm->vcpus[0].fd;
	CHECK(fd >= 0);
	vcpu_release(&vm->vcpus[0], &vm->vcpu_env);
	CHECK(fcntl(fd, F_GETFD) < 0);
	CHECK(vm->vcpus[0].run == NULL);
	CHECK_EQ(vm->vcpus[0].fd, -1);
	vcpu_release(&vm->vcpus[0], &vm->vcpu_env); /* twice: nothing */
	free_vm(vm);
}

TEST(a_slot_never_created_holds_nothing_to_release)
{
	/* a zeroed slot's fd 0 is not a vCPU's: release closes nothing and leaves the slot as it
	 * was (not even written: at a VM's teardown, a page of the VM's structure per slot) */
	struct vm *vm = fake_vm();
	static const struct vcpu zero;
	REQUIRE(memcmp(&vm->vcpus[5], &zero, sizeof(zero)) == 0);
	bool fd0_open = fcntl(0, F_GETFD) >= 0;
	vcpu_release(&vm->vcpus[5], &vm->vcpu_env);
	CHECK_EQ(fcntl(0, F_GETFD) >= 0, fd0_open);
	CHECK(memcmp(&vm->vcpus[5], &zero, sizeof(zero)) == 0);
	free_vm(vm);
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF);
	return unit_main(argc, argv);
}
