/* libFuzzer target: a migration destination (src/migration/receive.c) fed an arbitrary byte
 * stream as if from a source. The machine is faked (guest memory only, no KVM; loading states
 * is refused: tests/fuzz/fuzz_snapshot.c covers that format), so what is fuzzed is the stream
 * itself: the greeting, the definition (parsed as a snapshot's), page runs checked against
 * guest memory, rounds, the post-copy list, and every length on the way. It must refuse or
 * accept without crashing, reading or writing outside guest memory, or hanging. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "fuzz_fake_machine.h"
#include "migration/migration_int.h"
#include "vm/vm_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vm vm;
	static struct vm_config cfg;
	int sv[2];
	struct feed f;
	if (feed_start(&f, sv, data, size) < 0)
		return 0;
	struct migration *m = calloc(1, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	m->fd = m->lfd = m->cancel_efd = -1;
	m->vm = &vm;
	m->cfg = &cfg;
	vm_config_init(&cfg);
	char err[512] = "";
	int e = mig_receive_stream(m, sv[0], &hooks, err, sizeof(err));
	FUZZ_CHECK(e < 0 && err[0]); /* never "running": nothing can be started here */
	FUZZ_CHECK(vm.mem.nregions == 0); /* a built machine is always taken down */
	feed_end(sv);
	vm_config_free(&cfg);
	pthread_mutex_destroy(&m->lock);
	free(m);
	return 0;
}
