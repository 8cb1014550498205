/* vCPU hot-plug against the rest of the VM's life, on a VM struct with no KVM behind it (as in
 * test_cpu_hotplug_vmm.c): a removal the guest's scan has seen is still pending until the
 * eject (GET's counts, withdrawing it, a snapshot of it); an add while a guest's eject is being
 * recorded; PATCH /hotplug/vcpu while a live migration owns the VM. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "api/controller.h"
#include "arch/x86/layout.h"
#include "config/vm_config.h"
#include "devices/legacy/cpu_hotplug.h"
#include "devices/legacy/ged.h"
#include "migration/migration_int.h"
#include "util/log.h"
#include "unit.h"
#include "vm/vm_internal.h"

static struct vm_config VC;

static struct vm *fake_vm(unsigned boot, unsigned max)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		abort();
	vm_config_init(&VC);
	VC.vcpus = boot;
	VC.has_vcpu_hotplug = true;
	VC.vcpu_hotplug.max_vcpu_count = max;
	vm->cfg = &VC;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	bus_init(&vm->pio, "port I/O");
	ged_init(&vm->devs.ged, (struct irq_line){ NULL, LAYOUT_GED_GSI }, GED_PORT);
	vm->nvcpus = boot;
	for (unsigned i = 0; i < boot; i++) {
		vm->vcpus[i].env = vm_vcpu_env(vm);
		vm->vcpus[i].id = i;
		vm->vcpus[i].fd = -1;
	}
	if (vcpu_hotplug_create(vm) < 0)
		abort();
	return vm;
}

static void fake_vm_free(struct vm *vm)
{
	free(vm);
	vm_config_free(&VC);
}

/* What the DSDT's CSCN does for vCPU `cpu` when its status reads `removing`: Notify (3), then
 * CRMV = One; and _EJ0 later. */
static void guest_select(struct vm *vm, unsigned cpu)
{
	uint8_t s[4] = { (uint8_t)cpu, 0, 0, 0 };
	bus_access(&vm->pio, CPUHP_PORT + CPUHP_SEL_OFF, s, 4, true);
}

static uint8_t guest_status(struct vm *vm, unsigned cpu)
{
	guest_select(vm, cpu);
	uint8_t b = 0;
	bus_access(&vm->pio, CPUHP_PORT + CPUHP_STATUS_OFF, &b, 1, false);
	return b;
}

static void guest_scan(struct vm *vm)
{
	for (unsigned c = 0; c < vm->devs.vcpuhp.dev.st.max_cpus; c++) {
		uint8_t st = guest_status(vm, c);
		uint8_t ack = st & (CPUHP_ST_INSERTING | CPUHP_ST_REMOVING);
		if (ack)
			bus_access(&vm->pio, CPUHP_PORT + CPUHP_STATUS_OFF, &ack, 1, true);
	}
}

static void guest_eject(struct vm *vm, unsigned cpu)
{
	guest_select(vm, cpu);
	uint8_t e = CPUHP_CTL_EJECT;
	bus_access(&vm->pio, CPUHP_PORT + CPUHP_STATUS_OFF, &e, 1, true);
}

/* docs/user-guide.md: "poll GET until the two counts agree"; "should it refuse, the request
 * stays pending and GET shows it"; "A removal the guest has not done yet is withdrawn by
 * asking for more again". The guest's scan (microseconds after the GED event) must not end
 * the request. */
TEST(removal_stays_pending_after_the_guest_scan)
{
	log_set_level(LOG_OFF);
	struct vm *vm = fake_vm(4, 4);
	char err[256] = "";
	unsigned present, target;
	REQUIRE_EQ(vcpu_hotplug_set(vm, 2, err, sizeof(err)), 0);
	guest_scan(vm); /* the guest saw the eject requests and is offlining vCPUs 2 and 3 */
	vcpu_hotplug_counts(vm, &present, &target);
	CHECK_EQ(present, 4);
	CHECK_EQ(target, 2); /* not done: the counts must not agree yet */
	CHECK(guest_status(vm, 3) & CPUHP_ST_REMOVING);
	/* a snapshot taken now carries the pending removal */
	struct vcpu_hotplug_state st;
	cpu_hotplug_save(&vm->devs.vcpuhp.dev, &st);
	CHECK_EQ_HEX(st.removing, 0xc);
	/* the user withdraws vCPU 2's removal: it stays, vCPU 3 still goes */
	REQUIRE_EQ(vcpu_hotplug_set(vm, 3, err, sizeof(err)), 0);
	CHECK_EQ_HEX(vm->devs.vcpuhp.dev.st.removing, 0x8);
	vcpu_hotplug_counts(vm, &present, &target);
	CHECK_EQ(target, 3);
	/* the guest ejects vCPU 3: the counts agree at 3 */
	guest_eject(vm, 3);
	CHECK(vm->vcpus[3].unplugged);
	vcpu_hotplug_counts(vm, &present, &target);
	CHECK_EQ(present, 3);
	CHECK_EQ(target, 3);
	CHECK_EQ_HEX(vm->devs.vcpuhp.dev.st.removing, 0);
	fake_vm_free(vm);
}

/* The guest's _EJ0 clears the present bit under the register block's lock, and the VMM's
 * on_eject records it (vcpu.unplugged, the kick) a moment later. An add in between must not
 * pick that vCPU: its thread is still in KVM_RUN, unkicked, and a reset of it would block on
 * the vCPU's mutex with the API's locks held, then be parked by the late on_eject while the
 * register block says present. */
static struct vm *RV;
static void (*real_eject)(void *, unsigned);
static volatile int add_done, add_done_before_eject, add_result;
static char add_err[256];

static void *add_thread(void *arg)
{
	(void)arg;
	add_result = vcpu_hotplug_set(RV, 4, add_err, sizeof(add_err));
	__atomic_store_n(&add_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void slow_eject(void *opaque, unsigned cpu)
{
	pthread_t t;
	if (pthread_create(&t, NULL, add_thread, NULL) != 0)
		abort();
	usleep(200 * 1000); /* the PATCH gets the lock first */
	add_done_before_eject = __atomic_load_n(&add_done, __ATOMIC_ACQUIRE);
	real_eject(opaque, cpu);
	pthread_join(t, NULL);
}

TEST(add_waits_for_an_eject_being_recorded)
{
	log_set_level(LOG_OFF);
	RV = fake_vm(4, 4);
	char err[256] = "";
	REQUIRE_EQ(vcpu_hotplug_set(RV, 3, err, sizeof(err)), 0);
	real_eject = RV->devs.vcpuhp.dev.eject;
	RV->devs.vcpuhp.dev.eject = slow_eject;
	add_done = add_done_before_eject = 0;
	guest_eject(RV, 3);
	CHECK(!add_done_before_eject);
	CHECK(add_done);
	/* the fake vCPU cannot be reset (no KVM): the add fails, and the two sides agree */
	CHECK(add_result < 0);
	CHECK(RV->vcpus[3].unplugged);
	CHECK(!vcpu_hotplug_is_present(RV, 3));
	fake_vm_free(RV);
}

/* After a migration's switch-over sent the state, a change on the source is lost (and in
 * post-copy that lasts as long as the post-copy): PATCH /hotplug/vcpu is refused, like PATCH
 * /vm, while a live migration is under way, and changes nothing. */
TEST(patch_refused_during_migration)
{
	log_set_level(LOG_OFF);
	struct controller ctl;
	REQUIRE_EQ(ctl_init(&ctl, NULL), 0);
	struct vm *vm = fake_vm(4, 4);
	ctl.state = INSTANCE_RUNNING;
	ctl.vm = vm;
	ctl.cfg.vcpus = 4;
	ctl.cfg.has_vcpu_hotplug = true;
	ctl.cfg.vcpu_hotplug.max_vcpu_count = 4;
	struct mig_send_opts o = { .url = "unix:/nonexistent" };
	ctl.mig = mig_new_source(vm, &o, NULL, NULL); /* ACTIVE, no thread */
	REQUIRE(ctl.mig != NULL);
	json_t *b = json_pack("{s:i}", "vcpu_count", 2);
	char err[256] = "";
	CHECK_EQ(ctl_patch_hotplug_vcpu(&ctl, b, err, sizeof(err)), -EBUSY);
	CHECK_CONTAINS(err, "migration");
	CHECK_EQ_HEX(vm->devs.vcpuhp.dev.st.removing, 0);
	CHECK_EQ_HEX(vm->devs.ged.st.pending, 0);
	/* once it is over, the request goes through */
	migration_free(ctl.mig);
	ctl.mig = NULL;
	CHECK_EQ(ctl_patch_hotplug_vcpu(&ctl, b, err, sizeof(err)), 0);
	CHECK_EQ_HEX(vm->devs.vcpuhp.dev.st.removing, 0xc);
	json_decref(b);
	ctl.vm = NULL;
	ctl_free(&ctl);
	fake_vm_free(vm);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
