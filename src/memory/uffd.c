#include "memory/uffd.h"
#include "memory/guest_mem.h"
#include "memory/pager.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

int uffd_open(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 && (errno == EPERM || errno == ENOSYS)) {
		/* Hosts with vm.unprivileged_userfaultfd=0 hand them out through the device node,
		 * by file permissions (what a jail grants). */
		int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
		if (dev >= 0) {
			fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
			close(dev);
		}
	}
	if (fd < 0)
		return -errno;
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_EVENT_REMOVE };
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

int uffd_register(int uffd, struct guest_mem *mem)
{
	if (mem->backing == GUEST_MEM_PAGES_2M) {
		/* UFFDIO_COPY fills hugetlbfs memory only in whole 2 MiB pages; lazy restore and
		 * post-copy move 4 KiB pages. */
		log_error("guest memory on 2 MiB huge pages cannot be filled lazily (lazy restore, "
			  "post-copy migration)");
		return -EOPNOTSUPP;
	}
	for (unsigned r = 0; r < mem->nregions; r++) {
		struct guest_region *g = &mem->regions[r];
		struct uffdio_register reg = {
			.range = { .start = (uintptr_t)g->hva, .len = g->size },
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};
		if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
			return -errno;
		if (!(reg.ioctls & (1ULL << _UFFDIO_COPY)))
			return -EOPNOTSUPP;
		g->lazy = true;
	}
	return 0;
}

int uffd_unregister(int uffd, void *hva, uint64_t len)
{
	struct uffdio_range range = { .start = (uintptr_t)hva, .len = len };
	return ioctl(uffd, UFFDIO_UNREGISTER, &range) < 0 ? -errno : 0;
}

/* The kernel reports partial progress in the struct and -EAGAIN when it stopped early (the
 * memory layout changed under it): go on from there. */
int uffd_copy(int uffd, void *dst, const void *src, uint64_t len, uint64_t *done)
{
	uint64_t off = 0;
	int e = 0;
	while (off < len) {
		struct uffdio_copy c = { .dst = (uintptr_t)dst + off, .src = (uintptr_t)src + off,
					 .len = len - off };
		if (ioctl(uffd, UFFDIO_COPY, &c) == 0) {
			off = len;
			break;
		}
		e = -errno;
		if (c.copy > 0)
			off += (uint64_t)c.copy;
		if (e != -EAGAIN)
			break;
		e = 0;
	}
	if (done)
		*done = off;
	return off == len ? 0 : e;
}

int uffd_zero(int uffd, void *dst, uint64_t len, uint64_t *done)
{
	uint64_t off = 0;
	int e = 0;
	while (off < len) {
		struct uffdio_zeropage z = { .range = { .start = (uintptr_t)dst + off, .len = len - off } };
		if (ioctl(uffd, UFFDIO_ZEROPAGE, &z) == 0) {
			off = len;
			break;
		}
		e = -errno;
		if (z.zeropage > 0)
			off += (uint64_t)z.zeropage;
		if (e != -EAGAIN)
			break;
		e = 0;
	}
	if (done)
		*done = off;
	return off == len ? 0 : e;
}

int uffd_wake(int uffd, void *dst, uint64_t len)
{
	struct uffdio_range range = { .start = (uintptr_t)dst, .len = len };
	return ioctl(uffd, UFFDIO_WAKE, &range) < 0 ? -errno : 0;
}

/* A fault can be delivered after its range was unregistered: UFFDIO_UNREGISTER wakes the
 * waiters it finds, then clears the registration, and with per-VMA locks (Linux 6.4 on) a fault
 * that got its VMA before the unregister queues itself after that wake-up and still reaches the
 * reader. UFFDIO_ZEROPAGE then fails (ENOENT) and only UFFDIO_WAKE lets the thread go, to find
 * plain memory (a lazy restore's API thread hung for good that way in a snapshot, 2026-11-29). */
int uffd_zero_wake(int uffd, void *dst, uint64_t len, uint64_t *done)
{
	uint64_t d = 0;
	int e = uffd_zero(uffd, dst, len, &d);
	if (e < 0)
		uffd_wake(uffd, (uint8_t *)dst + d, len - d);
	if (done)
		*done = d;
	return e;
}

static char *regions_json(const struct guest_mem *mem)
{
	json_t *a = json_array();
	for (unsigned r = 0; a && r < mem->nregions; r++) {
		const struct guest_region *g = &mem->regions[r];
		json_t *o = json_pack("{s:I,s:I,s:I,s:i,s:i}", "base_host_virt_addr", (json_int_t)(uintptr_t)g->hva,
				      "size", (json_int_t)g->size, "offset", (json_int_t)g->file_off,
				      "page_size", 4096, "page_size_kib", 4096);
		if (!o || json_array_append_new(a, o) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return s;
}

int uffd_send_to_handler(const char *sock_path, int uffd, const struct guest_mem *mem, char *err,
			 size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(sock_path) >= sizeof(sa.sun_path))
		return error_set(err, errlen, -EINVAL,
				 "mem_backend.backend_path: a socket path must be shorter than %zu bytes",
				 sizeof(sa.sun_path));
	strcpy(sa.sun_path, sock_path);
	char *msg = regions_json(mem);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int e = !msg ? -ENOMEM : s < 0 ? -errno : 0;
	if (!e && connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = error_set(err, errlen, -errno, "cannot reach the page-fault handler at %s: %s", sock_path,
			      strerror(errno));
	}
	if (!e) {
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} ctl;
		memset(&ctl, 0, sizeof(ctl));
		struct iovec iov = { .iov_base = msg, .iov_len = strlen(msg) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				     .msg_controllen = sizeof(ctl.buf) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &uffd, sizeof(int));
		ssize_t n = sendmsg(s, &mh, MSG_NOSIGNAL);
		if (n != (ssize_t)iov.iov_len) {
			e = n < 0 ? -errno : -EIO;
			e = error_set(err, errlen, e,
				      "cannot hand the userfaultfd to the page-fault handler at %s: %s",
				      sock_path, strerror(-e));
		}
	}
	free(msg);
	if (e && s >= 0)
		close(s);
	return e ? e : s;
}

struct guest_lazy {
	int uffd;
	int handler;          /* the external handler's connection, or -1 */
	struct pager *pager;  /* or petrel's own */
};

static int lazy_begin(struct guest_mem *mem, struct guest_lazy **out, char *err, size_t errlen)
{
	struct guest_lazy *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->handler = -1;
	l->uffd = uffd_open();
	int e = l->uffd < 0 ? l->uffd : uffd_register(l->uffd, mem);
	if (e < 0) {
		if (l->uffd >= 0)
			close(l->uffd);
		free(l);
		return error_set(err, errlen, e,
				 "lazy restore: cannot set up a userfaultfd over guest memory: %s",
				 strerror(-e));
	}
	guest_mem_set_filling(mem, true);
	*out = l;
	return 0;
}

int uffd_lazy_external(struct guest_mem *mem, const char *sock_path, char *err, size_t errlen)
{
	struct guest_lazy *l;
	int e = lazy_begin(mem, &l, err, errlen);
	if (e < 0)
		return e;
	mem->lazy = l;
	l->handler = uffd_send_to_handler(sock_path, l->uffd, mem, err, errlen);
	return l->handler < 0 ? l->handler : 0;
}

int uffd_lazy_pager(struct guest_mem *mem, int fd, char *err, size_t errlen)
{
	struct guest_lazy *l;
	int e = lazy_begin(mem, &l, err, errlen);
	if (e < 0)
		return e;
	mem->lazy = l;
	e = pager_start(mem, l->uffd, fd, &l->pager);
	if (e < 0)
		return error_set(err, errlen, e, "lazy restore: cannot start the pager: %s", strerror(-e));
	return 0;
}

void uffd_lazy_end(struct guest_mem *mem)
{
	struct guest_lazy *l = mem->lazy;
	if (!l)
		return;
	pager_stop(l->pager);
	if (l->handler >= 0)
		close(l->handler);
	close(l->uffd);
	free(l);
	mem->lazy = NULL;
	guest_mem_set_filling(mem, false);
}

struct pager *uffd_lazy_pager_of(const struct guest_mem *mem)
{
	return mem->lazy ? mem->lazy->pager : NULL;
}
