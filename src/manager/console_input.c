/* Typing into a VM's serial console: petrel feeds its standard input to the guest's UART
 * (src/cli/console.c), so petreld starts every worker with its stdin on a FIFO of its own,
 * <state dir>/sock/<name>.in, opened read-write by the worker (it never sees an end of file,
 * whoever writes or stops writing). POST /vms/NAME/console writes the request's body into the
 * FIFO; the path is fixed by the VM's name, so a petreld that re-adopted the worker writes
 * there too. The FIFO's 64 KiB is the most that can wait: more is refused (503), never waited for. */
#include "manager/console.h"
#include "manager/mgr.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONSOLE_INPUT_MAX 4096

static void fifo_path(struct manager *m, const char *vm, char *out, size_t size)
{
	snprintf(out, size, "%s/sock/%s.in", m->state_dir, vm);
}

int console_input_open(struct manager *m, const char *vm, char *err, size_t errlen)
{
	char path[PATH_MAX];
	fifo_path(m, vm, path, sizeof(path));
	unlink(path);
	if (mkfifo(path, 0600) < 0)
		return error_set(err, errlen, -errno, "cannot make the console input %s: %s", path, strerror(errno));
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, errlen, -errno, "cannot open the console input %s: %s", path, strerror(errno));
	return fd;
}

void console_input_remove(struct manager *m, const char *vm)
{
	char path[PATH_MAX];
	fifo_path(m, vm, path, sizeof(path));
	unlink(path);
}

int console_input_write(struct manager *m, struct mgr_vm *vm, const char *keys, size_t len, char *err, size_t errlen)
{
	if (vm->pid <= 0)
		return error_set(err, errlen, -EBUSY, "VM '%s' is not running (%s)", vm->def.name, mgr_vm_state_name(vm->state));
	if (len == 0 || len > CONSOLE_INPUT_MAX)
		return error_set(err, errlen, -EINVAL, "console input is 1 to %d bytes, not %zu", CONSOLE_INPUT_MAX, len);
	char path[PATH_MAX];
	fifo_path(m, vm->def.name, path, sizeof(path));
	/* O_NONBLOCK: a FIFO nobody reads (a worker from before console input) fails with ENXIO
	 * rather than blocking; a full one with EAGAIN. */
	int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return error_set(err, errlen, -(errno == ENOENT || errno == ENXIO ? ENOTSUP : errno),
			       "VM '%s' has no console input (%s): its worker was started without one",
			       vm->def.name, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		close(fd);
		return error_set(err, errlen, -EINVAL, "%s is not a FIFO", path);
	}
	ssize_t n = write(fd, keys, len); /* at most PIPE_BUF bytes are written whole or not at all */
	int e = n < 0 ? errno : 0;
	close(fd);
	if (n < 0)
		return error_set(err, errlen, -(e == EAGAIN ? EAGAIN : e), "cannot write to VM '%s''s console: %s",
			       vm->def.name, e == EAGAIN ? "its input is full (the guest does not read)" : strerror(e));
	if ((size_t)n < len)
		return error_set(err, errlen, -EAGAIN, "VM '%s''s console took %zd of %zu bytes", vm->def.name, n, len);
	return 0;
}
