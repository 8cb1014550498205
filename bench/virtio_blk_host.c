/* The host-side baseline for the virtio-blk benchmark: the same access pattern as the
 * virtio_blkbench test guest (same request size, queue depth, random-slot generator or
 * sequential wrap-around, buffered I/O) run directly on the image file with io_uring.
 *
 *   virtio_blk_host FILE randread|seqread|seqwrite BS QD OPS [direct]
 * prints "host mode=M bs=B qd=Q ops=N ns=NANOSECONDS". */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ull, seq_next;

static uint64_t xorshift(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: %s FILE randread|seqread|seqwrite BS QD OPS [direct]\n", argv[0]);
		return 2;
	}
	const char *mode = argv[2];
	int m = !strcmp(mode, "seqread") ? 1 : !strcmp(mode, "seqwrite") ? 2 : 0;
	uint64_t bs = strtoull(argv[3], NULL, 0), qd = strtoull(argv[4], NULL, 0), ops = strtoull(argv[5], NULL, 0);
	bool direct = argc > 6 && !strcmp(argv[6], "direct");
	int fd = open(argv[1], (m == 2 ? O_RDWR : O_RDONLY) | (direct ? O_DIRECT : 0));
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	struct stat st;
	fstat(fd, &st);
	uint64_t per = bs / 512, slots = (uint64_t)st.st_size / 512 / per;
	struct io_uring ring;
	int r = io_uring_queue_init((unsigned)qd * 2, &ring, 0);
	if (r < 0) {
		fprintf(stderr, "io_uring: %s\n", strerror(-r));
		return 1;
	}
	uint8_t **bufs = calloc(qd, sizeof(*bufs));
	for (uint64_t i = 0; i < qd; i++) {
		if (posix_memalign((void **)&bufs[i], 4096, bs))
			return 1;
		memset(bufs[i], 0x5a, bs);
	}
	uint64_t submitted = 0, done = 0, t0 = now_ns();
	for (uint64_t i = 0; i < qd && submitted < ops; i++, submitted++) {
		uint64_t sector = m == 0 ? (xorshift() % slots) * per : seq_next;
		if (m)
			seq_next = (seq_next + per) % (slots * per);
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		if (m == 2)
			io_uring_prep_write(sqe, fd, bufs[i], (unsigned)bs, sector * 512);
		else
			io_uring_prep_read(sqe, fd, bufs[i], (unsigned)bs, sector * 512);
		io_uring_sqe_set_data64(sqe, i);
	}
	io_uring_submit(&ring);
	while (done < ops) {
		struct io_uring_cqe *cqe;
		if ((r = io_uring_wait_cqe(&ring, &cqe)) < 0) {
			fprintf(stderr, "wait: %s\n", strerror(-r));
			return 1;
		}
		unsigned n = 0;
		unsigned head;
		io_uring_for_each_cqe(&ring, head, cqe) {
			if (cqe->res != (int)bs) {
				fprintf(stderr, "I/O returned %d\n", cqe->res);
				return 1;
			}
			uint64_t slot = io_uring_cqe_get_data64(cqe);
			n++;
			done++;
			if (submitted < ops) {
				uint64_t sector = m == 0 ? (xorshift() % slots) * per : seq_next;
				if (m)
					seq_next = (seq_next + per) % (slots * per);
				struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
				if (m == 2)
					io_uring_prep_write(sqe, fd, bufs[slot], (unsigned)bs, sector * 512);
				else
					io_uring_prep_read(sqe, fd, bufs[slot], (unsigned)bs, sector * 512);
				io_uring_sqe_set_data64(sqe, slot);
				submitted++;
			}
		}
		io_uring_cq_advance(&ring, n);
		io_uring_submit(&ring);
	}
	uint64_t ns = now_ns() - t0;
	printf("host mode=%s bs=%llu qd=%llu ops=%llu ns=%llu\n", mode, (unsigned long long)bs,
	       (unsigned long long)qd, (unsigned long long)ops, (unsigned long long)ns);
	io_uring_queue_exit(&ring);
	close(fd);
	return 0;
}
