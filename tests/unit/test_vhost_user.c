/* Unit tests for the vhost-user front end's connection (src/vhost/): the opening handshake
 * with Debian's virtiofsd (qemu-system-common; as root, which it needs), guest memory shared
 * through a memfd and a queue with its eventfds accepted, a ring outside that memory refused,
 * its death seen as a closed connection (no SIGPIPE, no hang); and a back end that lies (a reply to another
 * request, wrong flags, a huge or short payload, a refused ACK) or says nothing, each a clear
 * error within the timeout. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"
#include "virtiofsd.h"
#include "vhost/vhost_user.h"

#define VIRTIO_F_VERSION_1 32


TEST(handshake_with_virtiofsd_then_its_death)
{
	if (!have_virtiofsd())
		return;
	char dir[] = "/tmp/petrel-vhu-XXXXXX", sock[160], err[256];
	REQUIRE(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/vfs.sock", dir);
	pid_t pid = start_virtiofsd(sock, dir);
	REQUIRE(pid > 0);
	struct vhu_conn c;
	int r;
	REQUIRE_EQ(vhu_connect(&c, sock, 5000, err, sizeof(err)), 0);
	CHECK_EQ(vhu_handshake(&c, err, sizeof(err)), 0);
	CHECK(c.features >> VIRTIO_F_VERSION_1 & 1);
	CHECK(c.features >> VHU_F_PROTOCOL_FEATURES & 1);
	CHECK(c.queues >= 1);
	/* a request with an ACK when it was agreed: features the back end offers are taken */
	struct vhu_msg m = { 0 };
	m.p.u64 = c.features & (1ull << VIRTIO_F_VERSION_1 | 1ull << VHU_F_PROTOCOL_FEATURES);
	vhu_build(&m, VHU_SET_FEATURES, true);
	CHECK_EQ(vhu_call(&c, &m, NULL, 0, NULL, err, sizeof(err)), 0);

	/* memory shared through a memfd, and queue 0 in it with its kick and call eventfds: the
	 * back end maps it and checks each ring lies inside (REPLY_ACK status 0) */
	CHECK(c.protocol_features >> VHU_PROTOCOL_F_REPLY_ACK & 1);
	int mfd = memfd_create("petrel-vhu-test", MFD_CLOEXEC);
	REQUIRE(mfd >= 0 && ftruncate(mfd, 1 << 20) == 0);
	uint8_t *mem = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	REQUIRE(mem != MAP_FAILED);
	struct vhu_region reg = { .gpa = 0, .size = 1 << 20, .uaddr = (uintptr_t)mem, .mmap_offset = 0 };
	CHECK_EQ(vhu_set_mem_table(&c, &reg, &mfd, 1, err, sizeof(err)), 0);
	int kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct vhu_vring q = { .index = 0, .num = 64, .desc = (uintptr_t)mem + 0x1000, .avail = (uintptr_t)mem + 0x2000,
			       .used = (uintptr_t)mem + 0x3000, .base = 0, .kick_fd = kick, .call_fd = call };
	CHECK_EQ(vhu_set_vring(&c, &q, err, sizeof(err)), 0);
	CHECK_EQ(vhu_enable_vring(&c, 0, true, err, sizeof(err)), 0);
	/* a ring outside the memory it was given: refused or dropped, an error here either way */
	q.index = 1;
	q.desc = (uintptr_t)mem + (2 << 20);
	r = vhu_set_vring(&c, &q, err, sizeof(err));
	CHECK(r == -EIO || r == -ECONNRESET);
	munmap(mem, 1 << 20);
	close(mfd);
	close(kick);
	close(call);

	/* the back end dies: the next request ends with "closed", at once */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	vhu_build(&m, VHU_GET_FEATURES, false);
	r = vhu_call(&c, &m, NULL, 0, &m, err, sizeof(err));
	CHECK_EQ(r, -ECONNRESET);
	CHECK(strstr(err, "closed the connection") != NULL);
	vhu_close(&c);
	unlink(sock);
	rmdir(dir);
}

/* A back end on the other end of a socketpair that answers `reply` (len bytes) to anything. */
static int liar(struct vhu_conn *c, const void *reply, size_t len, unsigned timeout_ms)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	if (len && write(sv[1], reply, len) != (ssize_t)len)
		return -1;
	*c = (struct vhu_conn){ .fd = sv[0], .timeout_ms = timeout_ms };
	return sv[1];
}

static int ask(struct vhu_conn *c, uint32_t request, char *err, size_t errlen)
{
	struct vhu_msg m = { 0 }, reply;
	vhu_build(&m, request, true);
	return vhu_call(c, &m, NULL, 0, &reply, err, errlen);
}

struct __attribute__((packed)) raw {
	uint32_t request, flags, size;
	uint64_t payload;
};

TEST(a_lying_back_end_is_a_clear_error)
{
	char err[256];
	struct vhu_conn c;
	struct raw ok = { VHU_GET_FEATURES, VHU_VERSION | VHU_FLAG_REPLY, 8, 1ull << 32 };
	int peer = liar(&c, &ok, sizeof(ok), 1000);
	CHECK_EQ(ask(&c, VHU_GET_FEATURES, err, sizeof(err)), 0);
	close(peer);
	vhu_close(&c);

	struct { struct raw r; const char *word; } bad[] = {
		{ { VHU_GET_QUEUE_NUM, VHU_VERSION | VHU_FLAG_REPLY, 8, 0 }, "names request 17" },
		{ { VHU_GET_FEATURES, VHU_VERSION, 8, 0 }, "flags" },
		{ { VHU_GET_FEATURES, 2 | VHU_FLAG_REPLY, 8, 0 }, "flags" },
		{ { VHU_GET_FEATURES, VHU_VERSION | VHU_FLAG_REPLY, 4, 0 }, "payload of 4 bytes" },
		{ { VHU_GET_FEATURES, VHU_VERSION | VHU_FLAG_REPLY, 0xfffffff0u, 0 }, "payload of 4294967280 bytes" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		peer = liar(&c, &bad[i].r, sizeof(bad[i].r), 1000);
		CHECK_EQ(ask(&c, VHU_GET_FEATURES, err, sizeof(err)), -EPROTO);
		CHECK(strstr(err, bad[i].word) != NULL);
		close(peer);
		vhu_close(&c);
	}

	/* a refused request (REPLY_ACK agreed, status nonzero) */
	struct raw nak = { VHU_SET_OWNER, VHU_VERSION | VHU_FLAG_REPLY, 8, 1 };
	peer = liar(&c, &nak, sizeof(nak), 1000);
	c.protocol_features = 1ull << VHU_PROTOCOL_F_REPLY_ACK;
	CHECK_EQ(ask(&c, VHU_SET_OWNER, err, sizeof(err)), -EIO);
	CHECK(strstr(err, "refused SET_OWNER") != NULL);
	close(peer);
	vhu_close(&c);

	/* half a reply, then silence: the wait ends at the timeout */
	peer = liar(&c, &ok, 6, 200);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ(ask(&c, VHU_GET_FEATURES, err, sizeof(err)), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 2000);
	close(peer);
	/* and a back end that is gone before the request: "closed", no SIGPIPE */
	CHECK_EQ(ask(&c, VHU_GET_FEATURES, err, sizeof(err)), -ECONNRESET);
	vhu_close(&c);
}

/* A back end that offers every protocol feature, the back-end channel (BACKEND_REQ, bit 5) and
 * shared memory regions (SHMEM, bit 20: the DAX window's GET_SHMEM_CONFIG and SHMEM_MAP/UNMAP)
 * among them: petrel takes only REPLY_ACK and MQ, so such a back end has no way to map anything
 * into the guest, and petrel asks for no region (docs/virtio-fs.md, DAX). */
TEST(no_back_end_channel_nor_shared_memory_regions)
{
	char err[256];
	struct vhu_conn c;
	struct raw replies[] = {
		{ VHU_GET_FEATURES, VHU_VERSION | VHU_FLAG_REPLY, 8, (1ull << 32) | (1ull << VHU_F_PROTOCOL_FEATURES) },
		{ VHU_GET_PROTOCOL_FEATURES, VHU_VERSION | VHU_FLAG_REPLY, 8, ~0ull },
		{ VHU_GET_QUEUE_NUM, VHU_VERSION | VHU_FLAG_REPLY, 8, 2 },
	};
	int peer = liar(&c, replies, sizeof(replies), 1000);
	REQUIRE(peer >= 0);
	CHECK_EQ(vhu_handshake(&c, err, sizeof(err)), 0);
	CHECK_EQ(c.protocol_features, (1ull << VHU_PROTOCOL_F_REPLY_ACK) | (1ull << VHU_PROTOCOL_F_MQ));
	CHECK_EQ(c.queues, 2u);
	/* what petrel sent: SET_OWNER, GET_FEATURES, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES
	 * with REPLY_ACK | MQ only, GET_QUEUE_NUM; nothing else */
	uint8_t buf[512];
	ssize_t n = recv(peer, buf, sizeof(buf), MSG_DONTWAIT);
	static const uint32_t want[] = { VHU_SET_OWNER, VHU_GET_FEATURES, VHU_GET_PROTOCOL_FEATURES,
					 VHU_SET_PROTOCOL_FEATURES, VHU_GET_QUEUE_NUM };
	size_t off = 0, i = 0;
	while (n > 0 && off + 12 <= (size_t)n) {
		uint32_t h[3];
		memcpy(h, buf + off, sizeof(h));
		REQUIRE(i < sizeof(want) / sizeof(want[0]));
		CHECK_EQ(h[0], want[i]);
		if (h[0] == VHU_SET_PROTOCOL_FEATURES) {
			uint64_t v;
			memcpy(&v, buf + off + 12, sizeof(v));
			CHECK_EQ(v, (1ull << VHU_PROTOCOL_F_REPLY_ACK) | (1ull << VHU_PROTOCOL_F_MQ));
		}
		off += 12 + h[2];
		i++;
	}
	CHECK_EQ(i, sizeof(want) / sizeof(want[0]));
	CHECK_EQ(off, (size_t)n);
	close(peer);
	vhu_close(&c);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
