/* cli_report_stop (src/cli/stop_report.c): what `petrel run` and the Firecracker command line
 * both say when the VM stops, from one place: the reason of a stop that is not an error on
 * stderr ("petrel: REASON"), an error to the log only, and with --stats the exit statistics
 * (only once the VM has vCPUs). */
#include "unit.h"

#include <sys/eventfd.h>

#include "cli/cli.h"
#include "util/log.h"
#include "vm/vm_internal.h"

static struct vm *stopped_vm(enum vm_stop_reason why, const char *msg, unsigned nvcpus)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		abort();
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->nvcpus = nvcpus;
	for (unsigned i = 0; i < nvcpus; i++) {
		exit_stats_add(&vm->vcpus[i].stats, EXIT_HLT, 1000);
		exit_stats_add_coalesced(&vm->vcpus[i].stats, 2);
	}
	if (why != VM_STOP_NONE)
		vm_request_stop(vm, why, 0, "%s", msg);
	return vm;
}

/* What cli_report_stop writes to its stream. */
static char *report(struct vm *vm, bool stats)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cli_report_stop(vm, stats, 256, f);
	fclose(f);
	return text;
}

static void free_vm(struct vm *vm)
{
	close(vm->stop_efd);
	free(vm);
}

/* What a VM stopped for why, with one vCPU and no --stats, says on the stream. */
static void check_says(enum vm_stop_reason why, const char *msg, const char *said)
{
	struct vm *vm = stopped_vm(why, msg, 1);
	char *t = report(vm, false);
	CHECK_STR_EQ(t, said);
	free(t);
	free_vm(vm);
}

TEST(a_stop_says_why)
{
	check_says(VM_STOP_USER, "stopped by SIGTERM", "petrel: stopped by SIGTERM\n");
}

TEST(an_error_goes_to_the_log_not_the_stream)
{
	log_set_level(LOG_OFF);
	check_says(VM_STOP_ERROR, "vCPU 0: KVM_RUN failed", "");
}

TEST(stats_follow_with_vcpus_only)
{
	struct vm *vm = stopped_vm(VM_STOP_POWEROFF, "the guest powered off", 2);
	char *t = report(vm, true);
	CHECK_CONTAINS(t, "petrel: the guest powered off\n");
	CHECK_CONTAINS(t, "petrel exit statistics");
	CHECK_CONTAINS(t, "hlt");
	CHECK_CONTAINS(t, "4 writes replayed without an exit");
	CHECK_CONTAINS(t, "guest memory resident: 0 KiB of 256 MiB");
	free(t);
	free_vm(vm);
	vm = stopped_vm(VM_STOP_NONE, "", 0);   /* never built: nothing to say */
	t = report(vm, true);
	CHECK_STR_EQ(t, "");
	free(t);
	free_vm(vm);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
