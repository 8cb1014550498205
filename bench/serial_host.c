/* The UART's output path without KVM: a "guest" thread writes KIB KiB of 80-byte console
 * lines the way Linux's 8250 console does (per byte: an LSR read for THR empty, a THR write),
 * through src/devices/legacy/serial.c, into a pipe that a reader thread drains to nothing.
 * Two modes, alternating, ROUNDS rounds each:
 *   bytewise  no I/O thread given (serial_buffer_output not called): a poll and a write per
 *             byte, the UART before buffering;
 *   buffered  serial_buffer_output on a real I/O thread: a line (or 1 ms, or 4 KiB) per write.
 * Prints per mode the medians of: the guest thread's CPU ns per byte (what a vCPU spends in
 * the device), the I/O thread's CPU ns per byte (the flush timer) and wall ns per byte.
 * System calls per byte: bench/serial.py runs this under strace -c (one mode at a time).
 *
 * Usage: serial_host [bytewise|buffered|both] [KIB [ROUNDS [OUT]]]   (default both 1024 5)
 * OUT: a file to write the console to instead of the pipe (bench/serial.py gives /dev/null
 * under strace, so that only the UART's system calls are counted, not the reader's). */
#include "devices/legacy/serial.h"
#include "util/io_thread.h"
#include "util/log.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int pipefd[2];

static void *reader(void *arg)
{
	(void)arg;
	char buf[65536];
	while (read(pipefd[0], buf, sizeof(buf)) > 0)
		;
	return NULL;
}

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct result {
	double guest_ns, io_ns, wall_ns; /* per byte */
};

static struct result one_round(bool buffered, size_t bytes)
{
	struct io_thread io;
	struct serial s;
	if (io_thread_init(&io) < 0 || io_thread_start(&io, "serial_io") < 0) {
		fprintf(stderr, "cannot start an I/O thread\n");
		exit(1);
	}
	clockid_t io_clock;
	pthread_getcpuclockid(io.thread, &io_clock);
	serial_init(&s, pipefd[1], (struct irq_line){ NULL, 0 });
	if (buffered && serial_buffer_output(&s, &io) < 0) {
		fprintf(stderr, "serial_buffer_output failed\n");
		exit(1);
	}
	char line[81];
	uint64_t io0 = clock_ns(io_clock), cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), t0 = clock_ns(CLOCK_MONOTONIC);
	for (size_t done = 0, n = 0; done < bytes; n++) {
		int len = snprintf(line, sizeof(line), "[%5zu.%06zu] console line %zu of the bench, padded to eighty.....",
				   n / 1000, n % 1000 * 1000, n);
		memset(line + len, '.', sizeof(line) - (size_t)len);
		line[79] = '\n';
		for (int i = 0; i < 80 && done < bytes; i++, done++) {
			uint8_t lsr = 0, b = (uint8_t)line[i];
			do
				serial_io_read(&s, 5, &lsr, 1);
			while (!(lsr & 0x20));
			serial_io_write(&s, 0, &b, 1);
		}
	}
	serial_flush(&s, true); /* what the VM does when its vCPUs stop */
	uint64_t cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0, wall = clock_ns(CLOCK_MONOTONIC) - t0;
	uint64_t iocpu = clock_ns(io_clock) - io0;
	serial_destroy(&s);
	io_thread_destroy(&io);
	if (s.tx_bytes != bytes || s.tx_dropped) {
		fprintf(stderr, "lost output: %llu of %zu bytes, %llu dropped\n", (unsigned long long)s.tx_bytes, bytes,
			(unsigned long long)s.tx_dropped);
		exit(1);
	}
	return (struct result){ (double)cpu / (double)bytes, (double)iocpu / (double)bytes, (double)wall / (double)bytes };
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "both";
	size_t kib = argc > 2 ? strtoul(argv[2], NULL, 10) : 1024;
	int rounds = argc > 3 ? atoi(argv[3]) : 5;
	bool modes[2] = { strcmp(mode, "buffered") != 0, strcmp(mode, "bytewise") != 0 };
	if (!kib || rounds < 1 || rounds > 100 || (!modes[0] && !modes[1]) ||
	    (strcmp(mode, "both") && strcmp(mode, "buffered") && strcmp(mode, "bytewise"))) {
		fprintf(stderr, "usage: serial_host [bytewise|buffered|both] [KIB [ROUNDS]]\n");
		return 2;
	}
	log_set_level(LOG_WARN);
	pthread_t rd;
	if (argc > 4) {
		pipefd[0] = -1;
		pipefd[1] = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (pipefd[1] < 0) {
			perror(argv[4]);
			return 1;
		}
	} else if (pipe(pipefd) < 0 || pthread_create(&rd, NULL, reader, NULL) != 0) {
		return 1;
	}
	static const char *const names[2] = { "bytewise", "buffered" };
	double v[2][3][100];
	for (int r = 0; r < rounds; r++)
		for (int m = 0; m < 2; m++) {
			int mm = (m + r) % 2; /* alternate which goes first */
			if (!modes[mm])
				continue;
			struct result res = one_round(mm == 1, kib << 10);
			v[mm][0][r] = res.guest_ns;
			v[mm][1][r] = res.io_ns;
			v[mm][2][r] = res.wall_ns;
		}
	for (int m = 0; m < 2; m++)
		if (modes[m])
			printf("serial %s kib=%zu rounds=%d guest_cpu_ns_per_byte=%.1f io_cpu_ns_per_byte=%.1f "
			       "wall_ns_per_byte=%.1f\n",
			       names[m], kib, rounds, median(v[m][0], rounds), median(v[m][1], rounds),
			       median(v[m][2], rounds));
	close(pipefd[1]);
	if (pipefd[0] >= 0)
		pthread_join(rd, NULL);
	return 0;
}
