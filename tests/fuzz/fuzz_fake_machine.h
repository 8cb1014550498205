/* Shared by the stream fuzzers (fuzz_migration.c, fuzz_replication.c): a machine with guest
 * memory only (no KVM), and a thread feeding the fuzz input into a socket as the peer would. */
#ifndef PETREL_FUZZ_FAKE_MACHINE_H
#define PETREL_FUZZ_FAKE_MACHINE_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "migration/migration_int.h"
#include "vm/vm_internal.h"

static int fake_build(struct vm *vm, struct vm_config *cfg, int console_fd)
{
	if (cfg->mem_mib > 64)
		return -ENOMEM;
	uint64_t size = cfg->mem_mib << 20;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	memset(&vm->mem, 0, sizeof(vm->mem));
	vm->mem.regions[0] = (struct guest_region){ .gpa = 0, .size = size, .hva = p };
	vm->mem.nregions = 1;
	vm->mem.total = size;
	return 0;
}

static int fake_postcopy(struct migration *m, struct vm *vm, int fd, pthread_mutex_t *wlock, const uint8_t *needed,
			 size_t len, struct postcopy_dst **out, char *err, size_t errlen)
{
	snprintf(err, errlen, "fuzz: no post-copy");
	return -EOPNOTSUPP;
}

static int fake_load(struct vm *vm, const uint8_t *buf, size_t len, const struct snapshot_load_opts *o, char *err,
		     size_t errlen)
{
	snprintf(err, errlen, "fuzz: states are not loaded");
	return -EINVAL;
}

static int fake_start(struct vm *vm) { return -EINVAL; }

static void fake_destroy(struct vm *vm)
{
	munmap(vm->mem.regions[0].hva, vm->mem.regions[0].size);
	memset(&vm->mem, 0, sizeof(vm->mem));
}

static const struct mig_receive_hooks hooks = {
	.build = fake_build, .postcopy = fake_postcopy, .load = fake_load, .start = fake_start,
	.destroy = fake_destroy,
};

struct feed {
	int fd;
	const uint8_t *data;
	size_t size;
};

/* One writer thread for the whole run (a thread per input cost more than the receiver under
 * ASan): it takes a feed, sends it, closes its sending side and drains what the destination
 * says (READY, FAIL) so that the destination never blocks on a full socket. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct feed job;
	bool posted, done;
} feeder = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER };

static void feed_one(const struct feed *f)
{
	size_t off = 0;
	while (off < f->size) {
		ssize_t n = send(f->fd, f->data + off, f->size - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	shutdown(f->fd, SHUT_WR);
	char sink[4096];
	while (recv(f->fd, sink, sizeof(sink), 0) > 0)
		;
}

static void *writer(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&feeder.lock);
	for (;;) {
		while (!feeder.posted)
			pthread_cond_wait(&feeder.cond, &feeder.lock);
		struct feed f = feeder.job;
		pthread_mutex_unlock(&feeder.lock);
		feed_one(&f);
		pthread_mutex_lock(&feeder.lock);
		feeder.posted = false;
		feeder.done = true;
		pthread_cond_broadcast(&feeder.cond);
	}
	return NULL;
}

/* A socket pair with the writer feeding data into sv[1]; the receiver reads sv[0]. */
static int feed_start(struct feed *f, int sv[2], const uint8_t *data, size_t size)
{
	static bool started;
	if (size > (8u << 20) || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	if (!started) {
		pthread_t t;
		if (pthread_create(&t, NULL, writer, NULL) != 0)
			abort();
		pthread_detach(t);
		started = true;
	}
	*f = (struct feed){ sv[1], data, size };
	pthread_mutex_lock(&feeder.lock);
	feeder.job = *f;
	feeder.posted = true;
	feeder.done = false;
	pthread_cond_broadcast(&feeder.cond);
	pthread_mutex_unlock(&feeder.lock);
	return 0;
}

/* The receiver is done: its end closed, the writer finishes (its drain sees the close). */
static void feed_end(int sv[2])
{
	close(sv[0]);
	pthread_mutex_lock(&feeder.lock);
	while (!feeder.done)
		pthread_cond_wait(&feeder.cond, &feeder.lock);
	pthread_mutex_unlock(&feeder.lock);
	close(sv[1]);
}

#endif
