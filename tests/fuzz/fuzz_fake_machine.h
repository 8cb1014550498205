/* Shared by the stream fuzzers (fuzz_migration.c, fuzz_replication.c): a machine with guest
 * memory only (no KVM), and a thread feeding the fuzz input into a socket as the peer would. */
#ifndef PETREL_FUZZ_FAKE_MACHINE_H
#define PETREL_FUZZ_FAKE_MACHINE_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "migration/migration_int.h"
#include "vm/vm.h"

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

static void *writer(void *arg)
{
	struct feed *f = arg;
	size_t off = 0;
	while (off < f->size) {
		ssize_t n = send(f->fd, f->data + off, f->size - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	shutdown(f->fd, SHUT_WR);
	/* Drain what the destination says (READY, FAIL) so it never blocks on a full socket. */
	char sink[4096];
	while (recv(f->fd, sink, sizeof(sink), 0) > 0)
		;
	return NULL;
}

/* A socket pair with a writer thread feeding data into sv[1]; the receiver reads sv[0]. */
static int feed_start(struct feed *f, pthread_t *t, int sv[2], const uint8_t *data, size_t size)
{
	if (size > (8u << 20) || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	*f = (struct feed){ sv[1], data, size };
	pthread_create(t, NULL, writer, f);
	return 0;
}

static void feed_end(pthread_t t, int sv[2])
{
	close(sv[0]);
	pthread_join(t, NULL);
	close(sv[1]);
}

#endif
