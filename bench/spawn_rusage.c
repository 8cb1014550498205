/* spawn_rusage [-o FILE] CMD ARGS...: run CMD and print "wall_us cpu_us maxrss_kib status"
 * for it alone. A process spawned by Python inherits the Python process's peak RSS (the kernel
 * keeps the larger of the pre-exec and post-exec high-water marks), so bench/seccomp.py and
 * bench/run.py measure peak RSS through this small launcher, whose own is far below petrel's.
 * Without -o, CMD's stdin, stdout and stderr are /dev/null and the figures go to stdout; with
 * -o, CMD keeps the launcher's and the figures go to FILE. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
	const char *out = NULL;
	if (argc > 2 && !strcmp(argv[1], "-o")) {
		out = argv[2];
		argv += 2;
		argc -= 2;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: spawn_rusage [-o FILE] CMD [ARGS...]\n");
		return 2;
	}
	long long t0 = now_us();
	pid_t pid = fork();
	if (pid == 0) {
		if (!out) {
			int null = open("/dev/null", O_RDWR);
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	int st = 0;
	struct rusage ru;
	if (pid < 0 || wait4(pid, &st, 0, &ru) < 0) {
		perror("spawn_rusage");
		return 1;
	}
	long long wall = now_us() - t0;
	long long cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec +
			ru.ru_stime.tv_usec;
	FILE *f = out ? fopen(out, "w") : stdout;
	if (!f) {
		perror(out);
		return 1;
	}
	fprintf(f, "%lld %lld %ld %d\n", wall, cpu, ru.ru_maxrss, st);
	return fclose(f) ? 1 : 0;
}
