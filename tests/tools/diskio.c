/* diskio: drive petrel's block layer (src/block/disk.c: raw and qcow2 images with backing
 * chains) from a script, without a VM, for the image tests and benchmarks.
 *
 *   diskio [--format raw|qcow2|auto] [--ro] [--aio] IMAGE < SCRIPT
 *
 * --aio: the image is opened with an io_uring and requests take virtio-blk's way
 * (disk_queue, then disk_sync where it says -EAGAIN, after reaping what is in flight for a
 * synchronous write, whose copy-on-write is held for one commit per batch: disk_write_held);
 * w, r and dump wait for each request, loop/rloop/seq keep AIO_QD in
 * flight (offsets and bytes as without it).
 *
 * One command per line:
 *   w OFF LEN SEED    write LEN bytes of pattern SEED at OFF
 *   z OFF LEN         write zeroes          d OFF LEN   discard
 *   r OFF LEN FILE    read into FILE        f           flush
 *   dump FILE         read the whole disk into FILE
 *   status            print "size N" and qcow2 counters
 *   seed N            restart the random offsets of loop/rloop (same N: same offsets)
 *   loop N OFF SPAN LEN   N writes of LEN bytes at random aligned offsets in [OFF, OFF+SPAN)
 *   rloop N OFF SPAN LEN  N reads likewise;  seq r|w OFF LEN CHUNK  one pass in CHUNK pieces
 *   (loop, rloop and seq print "ns T" first: the time they took, for bench/qcow2.py)
 *   member OUT BACKING C,C,...   a backup member (qcow2_stream_create): a new qcow2 at OUT
 *                     over BACKING holding the disk's 64 KiB clusters C; prints "sink N CRC":
 *                     the bytes the sink saw and their CRC-32 (zlib's), to match the file's
 * Prints "ok" after each command (so a test can kill it mid-way) and "error: ..." and exits 1
 * on the first failure. The pattern of SEED at byte i is ((i * 131) ^ (SEED * 7919)) >> 3
 * truncated to a byte, with i the disk offset: the same bytes however a write is split. */
#include "block/disk.h"
#include "block/qcow2.h"
#include "util/crc32.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define AIO_QD 32

static bool aio;
static int aio_err;
static unsigned aio_busy;

struct aio_slot {
	uint8_t *buf;
	uint64_t len;
	bool busy;
};

static void aio_done(void *ctx, void *tag, int64_t res)
{
	struct aio_slot *s = tag;
	if (res != (int64_t)s->len && !aio_err)
		aio_err = res < 0 ? (int)res : -EIO;
	s->busy = false;
	aio_busy--;
}

/* Start one request: through the ring, else synchronously (what is in flight reaped first
 * for a write, as virtio-blk does). 0 or -errno. */
static int aio_start(struct disk *d, enum raw_op op, uint64_t off, struct aio_slot *s)
{
	struct iovec iov = { s->buf, s->len };
	if (disk_queue(d, op, off, &iov, 1, s) == 0) {
		s->busy = true;
		aio_busy++;
		return 0;
	}
	if (op == RAW_WRITE && disk_inflight(d))
		disk_reap(d, aio_done, NULL, true);
	/* A write's copy-on-write may be held until the batch's commit (aio_run), as in
	 * virtio-blk. */
	int64_t r = op == RAW_WRITE ? disk_write_held(d, off, &iov, 1) : disk_sync(d, op, off, &iov, 1);
	return r == (int64_t)s->len ? 0 : r < 0 ? (int)r : -EIO;
}

/* One request, waited for: disk_sync, or with --aio the ring's way. */
static int64_t io_one(struct disk *d, enum raw_op op, uint64_t off, const struct iovec *iov, unsigned n)
{
	if (!aio)
		return disk_sync(d, op, off, iov, n);
	uint64_t total = 0;
	for (unsigned i = 0; i < n; i++)
		total += iov[i].iov_len;
	struct aio_slot s = { .len = total };
	if (disk_queue(d, op, off, iov, n, &s) == 0) {
		s.busy = true;
		aio_busy++;
		aio_err = 0;
		disk_reap(d, aio_done, NULL, true);
		return aio_err ? aio_err : (int64_t)total;
	}
	if (op == RAW_WRITE && disk_inflight(d))
		disk_reap(d, aio_done, NULL, true);
	return disk_sync(d, op, off, iov, n);
}

/* AIO_QD requests in flight: next(k) gives the k-th request's offset; n of them. */
static int aio_run(struct disk *d, enum raw_op op, uint64_t n, uint64_t len, uint64_t (*next)(uint64_t k, void *), void *arg)
{
	static struct aio_slot slots[AIO_QD];
	if (!len || len > (1 << 20))
		return -EINVAL;
	for (unsigned i = 0; i < AIO_QD; i++) {
		if (!slots[i].buf) {
			if (posix_memalign((void **)&slots[i].buf, 4096, 1 << 20))
				return -ENOMEM;
			memset(slots[i].buf, 0x5a, 1 << 20); /* no page faults in what is timed */
		}
		slots[i].len = len;
	}
	aio_err = 0;
	uint64_t k = 0;
	int err = 0;
	while ((k < n || aio_busy) && !err && !aio_err) {
		for (unsigned i = 0; i < AIO_QD && k < n && !err; i++)
			if (!slots[i].busy)
				err = aio_start(d, op, next(k++, arg), &slots[i]);
		int e = disk_commit_start(d); /* the batch's copy-on-write, as virtio-blk does */
		err = err ? err : e;
		disk_kick(d);
		disk_reap(d, aio_done, NULL, aio_busy == AIO_QD || k == n);
	}
	disk_reap(d, aio_done, NULL, true);
	return err ? err : aio_err;
}

static uint64_t next_random(uint64_t k, void *arg)
{
	const uint64_t *a = arg; /* off, span, len */
	(void)k;
	return a[0] + (uint64_t)random() % (a[1] / a[2]) * a[2];
}

static uint64_t next_seq(uint64_t k, void *arg)
{
	const uint64_t *a = arg; /* off, chunk */
	return a[0] + k * a[1];
}

static uint8_t pattern(uint64_t i, uint64_t seed)
{
	return (uint8_t)(((i * 131) ^ (seed * 7919)) >> 3);
}

static int dump(struct disk *d, const char *path, uint64_t off, uint64_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -errno;
	static uint8_t buf[1 << 20];
	int err = 0;
	for (uint64_t pos = off; pos < off + len && !err;) {
		uint64_t n = off + len - pos < sizeof(buf) ? off + len - pos : sizeof(buf);
		/* Two iovecs, to exercise splitting. */
		struct iovec iov[2] = { { buf, n / 2 }, { buf + n / 2, n - n / 2 } };
		int64_t r = io_one(d, RAW_READ, pos, iov, 2);
		if (r != (int64_t)n)
			err = r < 0 ? (int)r : -EIO;
		else if (write(fd, buf, n) != (ssize_t)n)
			err = -errno;
		pos += n;
	}
	close(fd);
	return err;
}

static int put(struct disk *d, uint64_t off, uint64_t len, uint64_t seed)
{
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	for (uint64_t i = 0; i < len; i++)
		buf[i] = pattern(off + i, seed);
	struct iovec iov[3] = { { buf, len / 3 }, { buf + len / 3, len / 3 }, { buf + 2 * (len / 3), len - 2 * (len / 3) } };
	int64_t r = io_one(d, RAW_WRITE, off, iov, 3);
	free(buf);
	return r == (int64_t)len ? 0 : r < 0 ? (int)r : -EIO;
}

static int read_disk(void *opaque, uint64_t off, void *buf, uint64_t len)
{
	struct iovec iov = { buf, len };
	int64_t r = io_one(opaque, RAW_READ, off, &iov, 1);
	return r == (int64_t)len ? 0 : r < 0 ? (int)r : -EIO;
}

struct sink { uint64_t n; uint32_t crc; };

static void sink(void *opaque, const uint8_t *buf, size_t len)
{
	struct sink *s = opaque;
	s->n += len;
	s->crc = crc32_fast(s->crc, buf, len);
}

static int member(struct disk *d, const char *out, const char *backing, char *list)
{
	uint64_t n = (disk_size(d) + 65535) / 65536;
	uint64_t *bits = calloc((n + 63) / 64, 8);
	if (!bits)
		return -ENOMEM;
	for (char *t = strtok(list, ","); t; t = strtok(NULL, ",")) {
		unsigned long long c = strtoull(t, NULL, 0);
		if (c < n)
			bits[c / 64] |= 1ull << (c % 64);
	}
	struct sink s = { 0, 0 };
	struct qcow2_stream_opts o = { .create = { .backing = backing, .size = disk_size(d), .sync = true },
				       .clusters = bits, .nclusters = n, .read = read_disk, .read_opaque = d,
				       .sink = sink, .sink_opaque = &s };
	char err[512];
	int e = qcow2_stream_create(out, &o, err, sizeof(err));
	free(bits);
	if (e < 0)
		printf("member: %s\n", err);
	else
		printf("sink %llu %u\n", (unsigned long long)s.n, s.crc);
	return e;
}

int main(int argc, char **argv)
{
	struct disk_options o = { .format = DISK_FORMAT_AUTO, .async = false };
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--ro")) {
			o.read_only = true;
		} else if (!strcmp(argv[i], "--aio")) {
			aio = o.async = true;
			o.depth = 2 * AIO_QD;
		} else if (!strcmp(argv[i], "--format") && i + 1 < argc) {
			int f = disk_format_parse(argv[++i]);
			if (f < 0)
				return fprintf(stderr, "diskio: bad format\n"), 2;
			o.format = (enum disk_format)f;
		} else {
			return fprintf(stderr, "usage: diskio [--format F] [--ro] [--aio] IMAGE < SCRIPT\n"), 2;
		}
	}
	if (i + 1 != argc)
		return fprintf(stderr, "usage: diskio [--format F] [--ro] IMAGE < SCRIPT\n"), 2;
	struct disk d;
	if (disk_open(&d, argv[i], &o) < 0) {
		printf("error: open failed\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	char line[4096];
	srandom(1);
	while (fgets(line, sizeof(line), stdin)) {
		unsigned long long a = 0, b = 0, c = 0, e = 0;
		char path[1024], mpath_b[1024], mlist[3001];
		int err = 0;
		if (sscanf(line, "w %llu %llu %llu", &a, &b, &c) == 3)
			err = put(&d, a, b, c);
		else if (sscanf(line, "z %llu %llu", &a, &b) == 2)
			err = disk_write_zeroes(&d, a, b, false);
		else if (sscanf(line, "d %llu %llu", &a, &b) == 2)
			err = disk_discard(&d, a, b);
		else if (sscanf(line, "r %llu %llu %1023s", &a, &b, path) == 3)
			err = dump(&d, path, a, b);
		else if (sscanf(line, "dump %1023s", path) == 1)
			err = dump(&d, path, 0, disk_size(&d));
		else if (sscanf(line, "member %1023s %1023s %3000s", path, mpath_b, mlist) == 3)
			err = member(&d, path, mpath_b, mlist);
		else if (!strcmp(line, "f\n"))
			err = (int)disk_sync(&d, RAW_FLUSH, 0, NULL, 0);
		else if (aio && (sscanf(line, "loop %llu %llu %llu %llu", &a, &b, &c, &e) == 4 ||
						   sscanf(line, "rloop %llu %llu %llu %llu", &a, &b, &c, &e) == 4)) {
			uint64_t arg[3] = { b, c, e }, t0 = now_ns();
			err = !e || c < e ? -EINVAL : aio_run(&d, line[0] == 'l' ? RAW_WRITE : RAW_READ, a, e, next_random, arg);
			printf("ns %llu\n", (unsigned long long)(now_ns() - t0));
		} else if (aio && sscanf(line, "seq %1023s %llu %llu %llu", path, &a, &b, &c) == 4 && c <= (1 << 20)) {
			uint64_t arg[2] = { a, c }, t0 = now_ns();
			err = aio_run(&d, path[0] == 'w' ? RAW_WRITE : RAW_READ, b / c, c, next_seq, arg);
			printf("ns %llu\n", (unsigned long long)(now_ns() - t0));
		} else if (sscanf(line, "loop %llu %llu %llu %llu", &a, &b, &c, &e) == 4) {
			uint64_t t0 = now_ns();
			for (unsigned long long k = 0; k < a && !err; k++) {
				uint64_t slots = c / e;
				err = put(&d, b + (uint64_t)random() % slots * e, e, k + 1);
			}
			printf("ns %llu\n", (unsigned long long)(now_ns() - t0));
		} else if (sscanf(line, "rloop %llu %llu %llu %llu", &a, &b, &c, &e) == 4) {
			static uint8_t rb[1 << 20];
			uint64_t t0 = now_ns();
			for (unsigned long long k = 0; k < a && !err && e <= sizeof(rb); k++) {
				struct iovec iov = { rb, e };
				int64_t r = disk_sync(&d, RAW_READ, b + (uint64_t)random() % (c / e) * e, &iov, 1);
				err = r == (int64_t)e ? 0 : r < 0 ? (int)r : -EIO;
			}
			printf("ns %llu\n", (unsigned long long)(now_ns() - t0));
		} else if (sscanf(line, "seq %1023s %llu %llu %llu", path, &a, &b, &c) == 4 && c <= (1 << 20)) {
			static uint8_t sb[1 << 20];
			bool wr = path[0] == 'w';
			memset(sb, 0x5a, sizeof(sb));
			uint64_t t0 = now_ns();
			for (uint64_t pos = a; pos < a + b && !err; pos += c) {
				struct iovec iov = { sb, c };
				int64_t r = disk_sync(&d, wr ? RAW_WRITE : RAW_READ, pos, &iov, 1);
				err = r == (int64_t)c ? 0 : r < 0 ? (int)r : -EIO;
			}
			printf("ns %llu\n", (unsigned long long)(now_ns() - t0));
		} else if (sscanf(line, "seed %llu", &a) == 1) {
			srandom((unsigned)a);
		} else if (!strcmp(line, "status\n")) {
			printf("size %llu\n", (unsigned long long)disk_size(&d));
			if (d.qcow2) {
				const struct qcow2_stats *s = qcow2_stats(d.qcow2);
				printf("allocs %llu cows %llu compressed_reads %llu backing_reads %llu cow_syncs %llu\n",
				       (unsigned long long)s->allocs, (unsigned long long)s->cows,
				       (unsigned long long)s->compressed_reads, (unsigned long long)s->backing_reads,
				       (unsigned long long)s->cow_syncs);
			}
		} else if (line[0] != '\n' && line[0] != '#') {
			printf("error: unknown command %s", line);
			return 1;
		}
		if (err < 0) {
			printf("error: %s: %s", strerror(-err), line);
			disk_close(&d);
			return 1;
		}
		printf("ok\n");
	}
	disk_close(&d);
	return 0;
}
