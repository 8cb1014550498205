/* The vCPU's count of coalesced MMIO writes it replayed (src/vcpu/vcpu.c, vcpu/exit_stats.c), on
 * a fake KVM (fake_kvm.h): writes KVM queued in the VM's ring while a vCPU was in KVM_RUN are
 * replayed when it returns and counted in its exit statistics (--stats, the metrics' vcpu
 * coalesced_mmio_writes), where the E1000's exits-per-frame figures read them. */
#include "unit.h"
#include "fake_vm.h"

#include "kvm/kvm_coalesced.h"
#include "util/log.h"

/* What KVM does for a guest write in a zone: the entry at `last`, then last moves on. */
static void kvm_put(struct kvm *kvm, uint64_t addr, uint32_t val)
{
	struct kvm_coalesced_mmio_ring *r = kvm->coalesced.ring;
	struct kvm_coalesced_mmio *e = &r->coalesced_mmio[r->last];
	memset(e, 0, sizeof(*e));
	e->phys_addr = addr;
	e->len = 4;
	memcpy(e->data, &val, 4);
	__atomic_store_n(&r->last, (r->last + 1) % kvm->coalesced.max, __ATOMIC_RELEASE);
}

TEST(writes_replayed_by_a_vcpu_are_counted_in_its_exit_statistics)
{
	log_set_level(LOG_OFF);
	static struct vm_config cfg;
	struct vm *vm = calloc(1, sizeof(*vm));
	REQUIRE(vm != NULL);
	vm_config_init(&cfg);
	cfg.vcpus = 1;
	fake_vm_init(vm, &cfg, 1);
	vm->kvm.coalesced.page = 2;   /* the ring: the vCPU mapping's third page, as KVM's x86 */
	REQUIRE_EQ(vm_vcpu_create(vm, 0), 0);
	REQUIRE(vm->kvm.coalesced.ring != NULL);
	vm->nvcpus = 1;
	REQUIRE_EQ(vm_start(vm), 0);
	while (!atomic_load(&in_run[0]))
		usleep(100);
	/* the guest writes three times in a zone while "in KVM_RUN": no exit */
	kvm_put(&vm->kvm, 0xfebc2818, 7);
	kvm_put(&vm->kvm, 0xfebc2818, 8);
	kvm_put(&vm->kvm, 0xfebc0100, 0x8002);
	struct exit_stats st;
	vm_exit_stats(vm, &st);
	CHECK_EQ(st.coalesced, 0);
	/* the vCPU leaves KVM_RUN (the stop's kick) and replays them before anything else */
	vm_request_stop(vm, VM_STOP_USER, 0, "test over");
	vm_join(vm);
	vm_exit_stats(vm, &st);
	CHECK_EQ(st.coalesced, 3);
	CHECK_EQ(vm->kvm.coalesced.ring->first, vm->kvm.coalesced.ring->last);
	/* and --stats prints them */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	exit_stats_print(&st, 1000000000, f);
	fclose(f);
	CHECK_CONTAINS(text, "coalesced-mmio");
	CHECK_CONTAINS(text, "3 writes replayed without an exit");
	free(text);
	vcpu_release(&vm->vcpus[0], &vm->vcpu_env);
	close(vm->stop_efd);
	free(vm->cpuid);
	vm_reset_free(vm); /* the vCPUs' creation states, kept for a reset */
	free(vm);
	fake_kvm_reset();
}

TEST(merged_over_vcpus)
{
	struct exit_stats a = { 0 }, b = { 0 }, sum = { 0 };
	exit_stats_add_coalesced(&a, 5);
	exit_stats_add_coalesced(&b, 2);
	exit_stats_add_coalesced(&b, 0);
	exit_stats_merge(&sum, &a);
	exit_stats_merge(&sum, &b);
	CHECK_EQ(sum.coalesced, 7);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
