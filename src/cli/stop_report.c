/* What petrel says when its VM has stopped, the same for `petrel run` and the Firecracker
 * command line (cli.h): why it stopped, and with --stats the exit statistics and, for a UEFI
 * firmware, what it wrote to its vars file. */
#include "cli/cli.h"
#include "devices/flash/cfi_flash.h"
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
	struct cfi_flash_counts fc;
	if (vm_firmware_vars_counts(vm, &fc))
		fprintf(out, "  firmware vars: %llu programs, %llu block erases, %llu bytes written, %llu refused\n",
			(unsigned long long)fc.programs, (unsigned long long)fc.erases,
			(unsigned long long)fc.bytes_written, (unsigned long long)fc.refused);
}
