/* What petrel says when its VM has stopped, the same for `petrel run` and the Firecracker
 * command line (cli.h): why it stopped, and with --stats the exit statistics. */
#include "cli/cli.h"
#include "memory/guest_mem.h"
#include "util/log.h"
#include "util/util.h"
#include "vcpu/exit_stats.h"
#include "vm/vm.h"

void cli_report_stop(struct vm *vm, bool stats, uint64_t mem_mib, FILE *out)
{
	const char *msg;
	if (vm_stop_reason(vm, &msg) == VM_STOP_ERROR)
		log_error("%s", msg);
	else if (vm_stopping(vm))
		fprintf(out, "petrel: %s\n", msg);
	if (!stats || !vm_vcpu_count(vm))
		return;
	struct exit_stats st;
	vm_exit_stats(vm, &st);
	exit_stats_print(&st, now_ns() - vm_start_ns(vm), out);
	fprintf(out, "  guest memory resident: %llu KiB of %llu MiB\n",
		(unsigned long long)(guest_mem_resident(vm_guest_mem(vm)) >> 10), (unsigned long long)mem_mib);
}
