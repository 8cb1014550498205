/* libFuzzer target: a replication standby (src/ha/standby.c) fed an arbitrary byte stream as
 * if from a primary: the greeting and definition, the initial sync's page runs, then
 * checkpoints (CKPT, pages staged, STAT, CEND) and their acknowledgements. The machine is
 * faked as in fuzz_migration.c. It must end without crashing, touching memory outside guest
 * RAM, or applying an incomplete checkpoint's pages. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "fuzz_fake_machine.h"
#include "ha/ha_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vm vm;
	static struct vm_config cfg;
	int sv[2];
	struct feed f;
	if (feed_start(&f, sv, data, size) < 0)
		return 0;
	struct replication *r = calloc(1, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->fd = r->lfd = r->cancel_efd = -1;
	r->vm = &vm;
	r->cfg = &cfg;
	r->st.role = REPL_STANDBY;
	r->so.failure_timeout_ms = 50;
	vm_config_init(&cfg);
	char err[512] = "";
	struct repl_standby_run run;
	int e = repl_standby_stream(r, sv[0], &hooks, &run, err, sizeof(err));
	FUZZ_CHECK(e < 0 && err[0]); /* a stream always ends with a reason */
	if (run.built)
		hooks.destroy(&vm);
	FUZZ_CHECK(vm.mem.nregions == 0);
	free(run.state);
	free(run.console);
	feed_end(sv);
	vm_config_free(&cfg);
	pthread_mutex_destroy(&r->lock);
	free(r);
	return 0;
}
