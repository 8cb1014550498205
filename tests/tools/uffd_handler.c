/* A page-fault handler for the Uffd snapshot backend, written to Firecracker's handshake
 * (docs/snapshots.md): listen on a Unix socket, accept the VMM, receive one message holding a
 * JSON array of regions ({"base_host_virt_addr","size","offset","page_size"}) with the
 * userfaultfd attached, then answer every missing-page fault by copying the page from the
 * memory file at the region's offset. Used by tests/api/test_api_snapshot_lazy.py and
 * bench/snapshot.py.
 *
 * usage: uffd_handler SOCKET MEMFILE
 * Prints "ready" once listening, "regions N" after the handshake and, on SIGTERM or when the
 * VMM hangs up, "faults N" (stdout, one line each). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_REGIONS 8

struct region {
	uint64_t base, size, offset;
};

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static int die(const char *what)
{
	fprintf(stderr, "uffd_handler: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int receive(int conn, struct region *r, int *uffd)
{
	char buf[4096];
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { buf, sizeof(buf) - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b) };
	ssize_t n = recvmsg(conn, &mh, 0);
	if (n <= 0)
		die("recvmsg");
	buf[n] = 0;
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	if (!c || c->cmsg_type != SCM_RIGHTS) {
		fprintf(stderr, "uffd_handler: no file descriptor in the message\n");
		exit(1);
	}
	memcpy(uffd, CMSG_DATA(c), sizeof(int));
	json_error_t je;
	json_t *a = json_loads(buf, 0, &je);
	if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > MAX_REGIONS) {
		fprintf(stderr, "uffd_handler: bad region list: %s\n", buf);
		exit(1);
	}
	size_t i;
	json_t *o;
	json_array_foreach(a, i, o) {
		json_int_t base, size, off, ps;
		if (json_unpack(o, "{s:I,s:I,s:I,s:I}", "base_host_virt_addr", &base, "size", &size, "offset", &off,
				"page_size", &ps) < 0 || ps != 4096) {
			fprintf(stderr, "uffd_handler: bad region: %s\n", buf);
			exit(1);
		}
		r[i] = (struct region){ (uint64_t)base, (uint64_t)size, (uint64_t)off };
	}
	int nr = (int)json_array_size(a);
	json_decref(a);
	return nr;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: uffd_handler SOCKET MEMFILE\n");
		return 2;
	}
	signal(SIGTERM, on_term);
	int mfd = open(argv[2], O_RDONLY);
	struct stat st;
	if (mfd < 0 || fstat(mfd, &st) < 0)
		die(argv[2]);
	const uint8_t *file = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, mfd, 0);
	if (file == MAP_FAILED)
		die("mmap");
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
	unlink(argv[1]);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0)
		die("listen");
	printf("ready\n");
	fflush(stdout);
	int conn = accept(l, NULL, NULL);
	if (conn < 0)
		die("accept");
	struct region r[MAX_REGIONS];
	int uffd, nr = receive(conn, r, &uffd);
	printf("regions %d\n", nr);
	fflush(stdout);
	uint64_t faults = 0;
	while (!stop) {
		struct pollfd pf[2] = { { uffd, POLLIN, 0 }, { conn, POLLIN, 0 } };
		if (poll(pf, 2, 200) < 0 && errno != EINTR)
			break;
		if (pf[1].revents & (POLLIN | POLLHUP)) {
			char c;
			if (recv(conn, &c, 1, MSG_DONTWAIT) == 0)
				break; /* the VMM is gone */
		}
		if (!(pf[0].revents & POLLIN))
			continue;
		struct uffd_msg m;
		if (read(uffd, &m, sizeof(m)) != sizeof(m))
			continue;
		if (m.event != UFFD_EVENT_PAGEFAULT)
			continue; /* REMOVE: no balloon here */
		uint64_t addr = m.arg.pagefault.address & ~4095ull;
		for (int i = 0; i < nr; i++) {
			if (addr < r[i].base || addr >= r[i].base + r[i].size)
				continue;
			uint64_t off = r[i].offset + (addr - r[i].base);
			struct uffdio_copy c = { .dst = addr, .src = (uintptr_t)(file + off), .len = 4096 };
			if (off + 4096 > (uint64_t)st.st_size) {
				struct uffdio_zeropage z = { .range = { addr, 4096 } };
				ioctl(uffd, UFFDIO_ZEROPAGE, &z);
			} else if (ioctl(uffd, UFFDIO_COPY, &c) < 0 && errno != EEXIST) {
				die("UFFDIO_COPY");
			}
			faults++;
		}
	}
	printf("faults %llu\n", (unsigned long long)faults);
	return 0;
}
