/* Unit tests for virtio-vsock's output commit while replicated (src/vsock/vsock_gate.c): data
 * the guest sends to a host socket reaches it only once the epoch it was sent in is released,
 * in order, and everything goes when the gate comes down. Real Unix sockets, no VM. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vsock/vsock_mux.h"
#include "unit.h"

#define GUEST_CID 3
#define HOST_PORT 1234
#define GUEST_PORT 5000

struct fixture {
	char dir[64], uds[128], peer_path[128];
	int listener, peer;
	struct vsock_mux m;
};

static int unix_listen(const char *path)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	if (len >= sizeof(sa.sun_path))
		abort();
	memcpy(sa.sun_path, path, len + 1);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 4) < 0)
		abort();
	return s;
}

static struct vsock_hdr hdr(uint16_t op, uint32_t len)
{
	return (struct vsock_hdr){ .src_cid = GUEST_CID, .dst_cid = VSOCK_HOST_CID, .src_port = GUEST_PORT,
				   .dst_port = HOST_PORT, .len = len, .type = VSOCK_TYPE_STREAM, .op = op,
				   .buf_alloc = 1 << 20 };
}

/* The guest connects to host port HOST_PORT; the host program behind it accepts. */
static void setup(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/petrel-vsock-gate-%d", (int)getpid());
	mkdir(f->dir, 0700);
	snprintf(f->uds, sizeof(f->uds), "%s/v.sock", f->dir);
	snprintf(f->peer_path, sizeof(f->peer_path), "%s/v.sock_%d", f->dir, HOST_PORT);
	f->listener = unix_listen(f->peer_path);
	if (vsock_mux_init(&f->m, f->uds, GUEST_CID) < 0)
		abort();
	struct vsock_hdr h = hdr(VSOCK_OP_REQUEST, 0);
	vsock_mux_tx(&f->m, &h, NULL, 0);
	f->peer = accept(f->listener, NULL, NULL);
	/* the guest gets its RESPONSE */
	struct vsock_hdr r;
	uint8_t room[64];
	struct iovec iov = { room, sizeof(room) };
	if (f->peer < 0 || vsock_mux_rx(&f->m, &r, &iov, 1, sizeof(room)) != 1 || r.op != VSOCK_OP_RESPONSE)
		abort();
}

static void teardown(struct fixture *f)
{
	vsock_mux_destroy(&f->m);
	close(f->peer);
	close(f->listener);
	unlink(f->peer_path);
	rmdir(f->dir);
}

static void guest_sends(struct fixture *f, const char *s)
{
	struct vsock_hdr h = hdr(VSOCK_OP_RW, (uint32_t)strlen(s));
	struct iovec iov = { (void *)s, strlen(s) };
	vsock_mux_tx(&f->m, &h, &iov, 1);
}

/* What the host program can read now (without waiting), as a string. */
static const char *host_reads(struct fixture *f)
{
	static char buf[4096];
	ssize_t n = recv(f->peer, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

TEST(vsock_gate_down_passes_through)
{
	struct fixture f;
	setup(&f);
	guest_sends(&f, "plain");
	CHECK_STR_EQ(host_reads(&f), "plain");
	teardown(&f);
}

TEST(vsock_gate_holds_until_release_in_epoch_order)
{
	struct fixture f;
	setup(&f);
	vsock_mux_gate(&f.m, true);
	guest_sends(&f, "one ");
	CHECK_STR_EQ(host_reads(&f), "");
	CHECK_EQ(f.m.held_bytes, 0u);          /* counted at the checkpoint */
	vsock_mux_close_epoch(&f.m, 1);
	CHECK_EQ(f.m.held_bytes, 4u);
	guest_sends(&f, "two ");
	vsock_mux_poll(&f.m);                  /* the socket is writable: still nothing goes */
	CHECK_STR_EQ(host_reads(&f), "");
	vsock_mux_release(&f.m, 1);
	CHECK_STR_EQ(host_reads(&f), "one ");  /* epoch 1 only */
	vsock_mux_close_epoch(&f.m, 2);
	guest_sends(&f, "three");
	vsock_mux_close_epoch(&f.m, 3);
	vsock_mux_release(&f.m, 3);            /* acknowledgements may cover several epochs */
	CHECK_STR_EQ(host_reads(&f), "two three");
	CHECK_EQ(f.m.held_bytes, 0u);
	teardown(&f);
}

TEST(vsock_gate_merges_epochs_beyond_its_marks)
{
	struct fixture f;
	setup(&f);
	vsock_mux_gate(&f.m, true);
	const char *parts[] = { "a", "b", "c", "d", "e", "f", "g" };
	for (unsigned i = 0; i < 7; i++) {
		guest_sends(&f, parts[i]);
		vsock_mux_close_epoch(&f.m, i + 1);
	}
	vsock_mux_release(&f.m, 2);
	CHECK_STR_EQ(host_reads(&f), "ab");
	vsock_mux_release(&f.m, 3);
	CHECK_STR_EQ(host_reads(&f), "c");
	/* four marks: epochs 4..7 were merged into the last one, so their data waits for
	 * epoch 7 (later than it could have gone; never earlier) */
	vsock_mux_release(&f.m, 6);
	CHECK_STR_EQ(host_reads(&f), "");
	vsock_mux_release(&f.m, 7);
	CHECK_STR_EQ(host_reads(&f), "defg");
	teardown(&f);
}

TEST(vsock_gate_down_releases_everything)
{
	struct fixture f;
	setup(&f);
	vsock_mux_gate(&f.m, true);
	guest_sends(&f, "held ");
	vsock_mux_close_epoch(&f.m, 1);
	guest_sends(&f, "open");
	CHECK_STR_EQ(host_reads(&f), "");
	vsock_mux_gate(&f.m, false);           /* replication ended: nobody will acknowledge */
	CHECK_STR_EQ(host_reads(&f), "held open");
	guest_sends(&f, "!");
	CHECK_STR_EQ(host_reads(&f), "!");
	CHECK_EQ(f.m.held_bytes, 0u);
	teardown(&f);
}

/* The guest closes both ways while its data is held: the host sees the data, then EOF, only
 * after the release, and not before. */
TEST(vsock_gate_holds_the_close_behind_the_data)
{
	struct fixture f;
	setup(&f);
	vsock_mux_gate(&f.m, true);
	guest_sends(&f, "bye");
	struct vsock_hdr h = hdr(VSOCK_OP_SHUTDOWN, 0);
	h.flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
	vsock_mux_tx(&f.m, &h, NULL, 0);
	char c;
	CHECK_EQ(recv(f.peer, &c, 1, MSG_DONTWAIT), -1);   /* no data, no EOF */
	CHECK_EQ(errno, EAGAIN);
	vsock_mux_close_epoch(&f.m, 1);
	vsock_mux_release(&f.m, 1);
	CHECK_STR_EQ(host_reads(&f), "bye");
	CHECK_EQ(recv(f.peer, &c, 1, MSG_DONTWAIT), 0);    /* then EOF */
	teardown(&f);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
