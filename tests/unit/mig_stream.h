/* Shared by test_migration_stream.c and test_replication_stream.c: hand-made migration and
 * replication streams (built message by message), a peer that writes one over a socket pair,
 * and a fake machine (guest memory, optionally one virtio-blk drive on a temporary raw image;
 * states "load" and vCPUs "start" without KVM) for the real receivers. */
#ifndef PETREL_TEST_MIG_STREAM_H
#define PETREL_TEST_MIG_STREAM_H
#include "unit.h"
#include "mig_defn.h"

#include "vm/device_params.h"
#include "devices/virtio/blk/blk.h"
#include "ha/ha_int.h"
#include "migration/migration_int.h"
#include "migration/postcopy.h"
#include "migration/url.h"
#include "migration/wire.h"
#include "util/util.h"
#include "vm/vm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>

#define PAGE 4096u
#define MEM (32u << 20)       /* the definition's memory */
#define DISK (1u << 20)       /* the fake drive's image */

/* ---- a stream, built message by message ---- */

struct stream {
	uint8_t *p;
	size_t len, cap;
};

static inline void put(struct stream *s, const void *d, size_t n)
{
	if (s->len + n > s->cap) {
		s->cap = (s->len + n) * 2;
		s->p = realloc(s->p, s->cap);
	}
	memcpy(s->p + s->len, d, n);
	s->len += n;
}

static inline void msg(struct stream *s, uint32_t type, const void *a, size_t alen, const void *b, size_t blen)
{
	struct mig_hdr h = { .type = type, .len = alen + blen };
	put(s, &h, sizeof(h));
	if (alen)
		put(s, a, alen);
	if (blen)
		put(s, b, blen);
}

static inline struct stream begin(void)
{
	struct stream s = { 0 };
	put(&s, mig_hello_defn, sizeof(mig_hello_defn));
	return s;
}

static inline void pages(struct stream *s, uint64_t gpa, uint8_t fill)
{
	static uint8_t data[PAGE];
	memset(data, fill, sizeof(data));
	struct mig_pages p = { .gpa = gpa, .npages = 1 };
	msg(s, MIG_PAGES, &p, sizeof(p), data, sizeof(data));
}

static inline void disk(struct stream *s, uint32_t flags, uint64_t off, uint64_t len, uint8_t fill)
{
	uint8_t *data = malloc(len ? len : 1);
	memset(data, fill, len);
	struct mig_disk d = { .drive = 0, .flags = flags, .offset = off, .len = flags ? 0 : len };
	msg(s, MIG_DISK, &d, sizeof(d), data, flags ? 0 : len);
	free(data);
}

static inline void checkpoint(struct stream *s, uint32_t type, uint64_t epoch)
{
	struct mig_ckpt ck = { .epoch = epoch, .generation = 1 };
	msg(s, type, &ck, sizeof(ck), NULL, 0);
}

/* The VM's states (the fake machine "loads" any). */
static inline void state(struct stream *s)
{
	msg(s, MIG_STATE, "state", 5, NULL, 0);
}

/* A checkpoint of states only: its begin, the states, its end. */
static inline void whole_checkpoint(struct stream *s, uint64_t epoch)
{
	checkpoint(s, MIG_CKPT, epoch);
	state(s);
	checkpoint(s, MIG_CEND, epoch);
}

/* ---- the peer: writes the stream, then reads what the receiver says until it closes ---- */

struct peer {
	int fd;
	struct stream out;
	pthread_t t;
};

static inline void *peer_main(void *arg)
{
	struct peer *p = arg;
	for (size_t off = 0; off < p->out.len;) {
		ssize_t n = send(p->fd, p->out.p + off, p->out.len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	shutdown(p->fd, SHUT_WR);
	char sink[4096];
	while (recv(p->fd, sink, sizeof(sink), 0) > 0)
		;
	return NULL;
}

/* The receiver's end of a socket pair whose other end sends s. */
static inline int peer_start(struct peer *p, struct stream s)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	p->fd = sv[1];
	p->out = s;
	if (pthread_create(&p->t, NULL, peer_main, p) != 0)
		abort();
	return sv[0];
}

static inline void peer_end(struct peer *p, int fd)
{
	shutdown(fd, SHUT_RDWR);
	pthread_join(p->t, NULL);
	close(fd);
	close(p->fd);
	free(p->out.p);
}

/* ---- the fake machine ---- */

static char image[] = "/tmp/petrel-test-migstream-XXXXXX";
static bool with_drive;
static struct virtio_blk *blk;
static bool running;
static bool filling_at_start;       /* guest_mem_filling when the vCPUs started */
static int destroyed;

static inline int fake_build(struct vm *vm, struct vm_config *cfg, int console_fd)
{
	void *p = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	memset(&vm->mem, 0, sizeof(vm->mem));
	vm->mem.regions[0] = (struct guest_region){ .gpa = 0, .size = MEM, .hva = p };
	vm->mem.nregions = 1;
	vm->mem.total = MEM;
	memset(&vm->devs, 0, sizeof(vm->devs));
	vm->stop_efd = -1;                  /* no run loop to tell */
	if (with_drive) {
		struct drive_config dc = { .drive_id = "d", .path_on_host = image, .format = DISK_FORMAT_RAW,
					   .cache_type = DRIVE_CACHE_WRITEBACK };
		blk = calloc(1, sizeof(*blk));
		if (virtio_blk_create(blk, vm_blk_params(&dc, &(struct virtio_blk_params){ 0 }), 0, &vm->mem, NULL) < 0)
			return -EIO;
		vm_devices_put(vm, DEV_BLK, "d", blk, &blk->vdev); /* drive 0 (vm_blk), as vm_devices_create lists it */
	}
	return 0;
}

static inline int fake_load(struct vm *vm, const uint8_t *buf, size_t len, const struct snapshot_load_opts *o, char *err,
		     size_t errlen)
{
	return 0;
}

static inline int fake_start(struct vm *vm)
{
	__atomic_store_n(&vm->first_run_ns, now_ns(), __ATOMIC_RELEASE);
	running = true;
	filling_at_start = guest_mem_filling(&vm->mem);
	return 0;
}

static inline void fake_destroy(struct vm *vm)
{
	if (blk) {
		virtio_dev_destroy(&blk->vdev);
		free(blk);
		blk = NULL;
	}
	munmap(vm->mem.regions[0].hva, vm->mem.regions[0].size);
	memset(&vm->mem, 0, sizeof(vm->mem));
	memset(&vm->devs, 0, sizeof(vm->devs));
	running = false;
	destroyed++;
}

static inline int no_postcopy(struct migration *m, struct vm *vm, int fd, pthread_mutex_t *wlock, const uint8_t *needed,
		       size_t len, struct postcopy_dst **out, char *err, size_t errlen)
{
	return -EOPNOTSUPP;
}

static const struct mig_receive_hooks hooks = {
	.build = fake_build, .postcopy = no_postcopy, .load = fake_load, .start = fake_start, .destroy = fake_destroy,
};

static struct vm vm;
static struct vm_config cfg;
static char err[512];

/* A destination with hooks h receives s: its result (err says why it failed). */
static inline int receive_with(struct stream s, const struct mig_receive_hooks *h)
{
	struct peer p;
	int fd = peer_start(&p, s);
	struct migration m = { .fd = -1, .lfd = -1, .cancel_efd = -1, .vm = &vm, .cfg = &cfg };
	pthread_mutex_init(&m.lock, NULL);
	vm_config_init(&cfg);
	err[0] = 0;
	destroyed = 0;
	int e = mig_receive_stream(&m, fd, h, err, sizeof(err));
	peer_end(&p, fd);
	pthread_mutex_destroy(&m.lock);
	return e;
}

static inline int receive(struct stream s) { return receive_with(s, &hooks); }

/* What the last follow() left to write at takeover: the console output of its checkpoint's
 * epoch that the primary did not say it wrote. */
static uint8_t *console;
static size_t console_len;

/* A standby follows s until it ends: its result; *state whether it holds a checkpoint. */
static inline int follow(struct stream s, bool *state)
{
	struct peer p;
	int fd = peer_start(&p, s);
	struct replication r = { .fd = -1, .lfd = -1, .cancel_efd = -1, .promote_efd = -1, .vm = &vm, .cfg = &cfg,
				  .hooks = &hooks };
	pthread_mutex_init(&r.lock, NULL);
	r.st.role = REPL_STANDBY;
	r.so.failure_timeout_ms = 1000;
	vm_config_init(&cfg);
	err[0] = 0;
	struct repl_standby_run run;
	int e = repl_standby_stream(&r, fd, &hooks, &run, err, sizeof(err));
	*state = run.state != NULL;
	free(run.state);
	free(console);
	console = run.console;
	console_len = run.console_len;
	peer_end(&p, fd);
	pthread_mutex_destroy(&r.lock);
	return e;
}

static inline uint8_t byte_at(uint64_t gpa) { return vm.mem.regions[0].hva[gpa]; }

static inline void take_down(void)
{
	if (vm.mem.nregions)
		fake_destroy(&vm);
	vm_config_free(&cfg);
	with_drive = false;
}

/* ---- disk images ---- */

/* The fake machine gets a drive (until take_down), on an image of fill bytes. */
static inline void with_image(uint8_t fill)
{
	with_drive = true;
	static bool made;
	if (!made) {
		int fd = mkstemp(image);
		if (fd < 0)
			abort();
		close(fd);
		made = true;
	}
	int fd = open(image, O_RDWR | O_TRUNC);
	static uint8_t buf[DISK];
	memset(buf, fill, sizeof(buf));
	if (fd < 0 || write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		abort();
	close(fd);
}

static inline uint8_t image_byte(uint64_t off)
{
	uint8_t b = 0;
	int fd = open(image, O_RDONLY);
	if (fd < 0 || pread(fd, &b, 1, (off_t)off) != 1)
		b = 0xee;
	close(fd);
	return b;
}

#endif
