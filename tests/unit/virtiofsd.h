/* The real vhost-user back end the vhost-user and virtio-fs tests run against: QEMU's C
 * virtiofsd (qemu-system-common), started on a socket and serving a directory. */
#ifndef PETREL_TESTS_UNIT_VIRTIOFSD_H
#define PETREL_TESTS_UNIT_VIRTIOFSD_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define VIRTIOFSD "/usr/lib/qemu/virtiofsd"

/* virtiofsd serving dir on sock (a stale sock is removed first), once its socket is there
 * (up to 5 s): its pid, or -1. */
static inline pid_t start_virtiofsd(const char *sock, const char *dir)
{
	unlink(sock);
	pid_t pid = fork();
	if (pid == 0) {
		char s[256], o[256];
		snprintf(s, sizeof(s), "--socket-path=%s", sock);
		snprintf(o, sizeof(o), "source=%s", dir);
		execl(VIRTIOFSD, VIRTIOFSD, s, "-o", o, "-o", "sandbox=chroot", "-o", "log_level=err", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		struct stat st;
		if (stat(sock, &st) == 0)
			return pid;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

/* It can run here: root (its sandbox) and the binary installed; else says why it skips. */
static inline bool have_virtiofsd(void)
{
	if (geteuid() != 0 || access(VIRTIOFSD, X_OK) != 0) {
		printf("(skipped: needs root and %s)\n", VIRTIOFSD);
		return false;
	}
	return true;
}

#endif
