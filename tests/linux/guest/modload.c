/* modload: load the kernel modules named on the command line, in order, from one process.
 *
 * The test guest's /init loaded its modules with busybox insmod, one process each. Where guest
 * ring 0 is emulated (PVM hosts) starting a process costs seconds of guest time (fork, exec and
 * their page faults: ~4 s a process measured on a PVM host, 2026-11-27), so sixteen modules
 * cost a minute before any of them was loaded. This does what insmod does (finit_module with
 * no parameters) for every file it is given.
 *
 * Usage: modload FILE.ko...
 * Prints "modload: FILE: reason" for each module the kernel refused and exits with the number
 * refused (at most 100); a module already loaded (EEXIST) counts as loaded.
 *
 * Static (glibc), built by scripts/mkinitramfs.sh with the host's gcc. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int load(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	int r = (int)syscall(SYS_finit_module, fd, "", 0);
	int e = r < 0 ? errno : 0;
	close(fd);
	return e == EEXIST ? 0 : e;
}

int main(int argc, char **argv)
{
	int refused = 0;
	for (int i = 1; i < argc; i++) {
		int e = load(argv[i]);
		if (e) {
			printf("modload: %s: %s\n", argv[i], strerror(e));
			refused++;
		}
	}
	fflush(stdout);
	return refused > 100 ? 100 : refused;
}
