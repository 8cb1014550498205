/* The host side of the guest console: stdin goes to the UART, and the main thread waits
 * here for the VM to stop. On a terminal, stdin is put in raw mode; Ctrl-A x quits, Ctrl-A b
 * sends a break (then a letter: Linux's magic SysRq, e.g. t to list its tasks), Ctrl-A Ctrl-A
 * sends one Ctrl-A. */
#include "cli/cli.h"
#include "util/log.h"
#include "util/thread.h"
#include "vm/vm.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/signalfd.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define ESCAPE_CHAR 0x01 /* Ctrl-A */

struct console {
	struct vm *vm;
	bool tty;
	struct termios saved;
	bool escape;
	uint8_t pending[256];
	size_t npending;
	size_t break_at; /* a break goes before pending[break_at]; SIZE_MAX: none */
};

static void raw_mode(struct console *c)
{
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &c->saved) < 0)
		return;
	struct termios t = c->saved;
	cfmakeraw(&t);
	t.c_oflag |= OPOST | ONLCR; /* keep the host's own messages readable */
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0) {
		c->tty = true;
		fprintf(stderr, "petrel: console attached; press Ctrl-A x to stop the VM\r\n");
	}
}

static void restore_mode(struct console *c)
{
	if (c->tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &c->saved);
}

/* Queue input, handling the Ctrl-A escape on a terminal. */
static void take_input(struct console *c, const uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n && c->npending < sizeof(c->pending); i++) {
		uint8_t b = buf[i];
		if (c->tty && c->escape) {
			c->escape = false;
			if (b == 'x' || b == 'X') {
				vm_request_stop(c->vm, VM_STOP_USER, 0, "stopped from the console (Ctrl-A x)");
				return;
			}
			if ((b == 'b' || b == 'B') && c->break_at == SIZE_MAX) {
				c->break_at = c->npending;
				continue;
			}
			if (b != ESCAPE_CHAR)
				continue;
		} else if (c->tty && b == ESCAPE_CHAR) {
			c->escape = true;
			continue;
		}
		c->pending[c->npending++] = b;
	}
}

static void flush_pending(struct console *c)
{
	if (c->break_at == 0) {
		if (!serial_send_break(vm_serial(c->vm)))
			return;
		c->break_at = SIZE_MAX;
	}
	if (!c->npending)
		return;
	size_t n = serial_receive(vm_serial(c->vm), c->pending, c->break_at < c->npending ? c->break_at : c->npending);
	if (c->break_at != SIZE_MAX)
		c->break_at -= n;
	memmove(c->pending, c->pending + n, c->npending - n);
	c->npending -= n;
}

int console_loop(struct vm *vm, int sfd)
{
	struct console c = { .vm = vm, .break_at = SIZE_MAX };
	raw_mode(&c);
	bool stdin_open = true;

	while (!vm_stopping(vm)) {
		struct pollfd p[4] = {
			{ .fd = vm_stop_fd(vm), .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
			{ .fd = (stdin_open && c.npending < sizeof(c.pending) / 2) ? STDIN_FILENO : -1,
			  .events = POLLIN },
			/* a thread of the VM waits for the thread spawner (util/thread.h): -1 if none
			 * is deferred to here */
			{ .fd = thread_spawner_wanted_fd(), .events = POLLIN },
		};
		/* While input waits for room in the UART FIFO, retry every few milliseconds. */
		int r = poll(p, 4, (c.npending || c.break_at != SIZE_MAX) ? 5 : -1);
		if (r < 0 && errno != EINTR) {
			log_error("console poll: %s", strerror(errno));
			break;
		}
		/* before anything here that takes a lock (a stop takes vm->lock): the asking
		 * thread waits, and must hold no lock this thread takes (vm_request_reset) */
		if (p[3].revents & POLLIN)
			(void)thread_spawner_serve();
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				;
			else if (si.ssi_signo == SIGUSR2)
				vm_dump_vcpus(vm); /* debugging: where is each vCPU? */
			else {
				cli_note_signal((int)si.ssi_signo);
				vm_request_stop(vm, VM_STOP_USER, 0, "stopped by signal %u", si.ssi_signo);
			}
		}
		if (p[2].revents & (POLLIN | POLLHUP | POLLERR)) {
			uint8_t buf[128];
			ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n > 0)
				take_input(&c, buf, (size_t)n);
			else if (n == 0 || (errno != EINTR && errno != EAGAIN))
				stdin_open = false; /* EOF: the guest keeps running without input */
		}
		flush_pending(&c);
	}
	restore_mode(&c);
	return 0;
}
