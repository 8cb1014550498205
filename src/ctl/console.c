/* petrelctl console NAME: follow a VM's serial console output (petreld's GET
 * /vms/NAME/console: the recent output first, then as it comes) and type into it: what is read
 * from standard input (a terminal in raw mode, or a pipe) goes to POST /vms/NAME/console, as it
 * comes. Ctrl-] detaches; the end of a piped input stops the typing, not the following. */
#include "ctl/ctl.h"
#include "http/client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#define DETACH_KEY 0x1d /* Ctrl-] */

/* Keys typed: one POST each read (at most 4096 bytes, what petreld takes at once). */
static int type_keys(const char *name, const char *keys, size_t len)
{
	char path[160], body[4097];
	snprintf(path, sizeof(path), "/vms/%s/console", name);
	memcpy(body, keys, len);
	body[len] = '\0';
	char *reply = NULL;
	int st = uhttp_request(ctl_sock_path, "POST", path, body, 10000, &reply);
	free(reply);
	if (st == 204)
		return 0;
	fprintf(stderr, "\r\npetrelctl: the console did not take the keys (%s)\r\n",
		st < 0 ? strerror(-st) : st == 409 ? "the VM is not running, or has no console input" : "refused");
	return st < 0 ? EXIT_UNREACHABLE : EXIT_REFUSED;
}

int cmd_console(int argc, char **argv)
{
	const char *name = argv[1];
	json_t *vm = NULL;
	char path[160];
	snprintf(path, sizeof(path), "/vms/%s", name);
	int e = ctl_request("GET", path, NULL, 10000, &vm); /* a clear error for an unknown VM */
	json_decref(vm);
	if (e)
		return e;
	int fd = uhttp_connect(ctl_sock_path);
	if (fd < 0) {
		fprintf(stderr, "petrelctl: cannot reach petreld at %s: %s\n", ctl_sock_path, strerror(-fd));
		return EXIT_UNREACHABLE;
	}
	char req[256];
	int n = snprintf(req, sizeof(req), "GET /vms/%s/console HTTP/1.1\r\nHost: localhost\r\n\r\n", name);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		close(fd);
		return EXIT_UNREACHABLE;
	}
	struct termios saved;
	bool tty = isatty(0) && tcgetattr(0, &saved) == 0;
	if (tty) {
		struct termios raw = saved;
		cfmakeraw(&raw);
		raw.c_oflag |= OPOST | ONLCR; /* the guest's "\n" still starts a line */
		tcsetattr(0, TCSANOW, &raw);
		fprintf(stderr, "Connected to VM %s's console (Ctrl-] detaches)\r\n", name);
	}
	char buf[4096], head[1024];
	size_t hlen = 0;
	bool in_body = false, stdin_open = true;
	int status = 0;
	for (;;) {
		struct pollfd p[2] = { { fd, POLLIN, 0 }, { stdin_open ? 0 : -1, POLLIN, 0 } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents) {
			ssize_t k = read(0, buf, sizeof(buf));
			if (k <= 0)
				stdin_open = tty; /* a closed pipe: no more keys, keep following */
			if (k <= 0 && !tty)
				p[1].fd = -1;
			char *detach = k > 0 ? memchr(buf, DETACH_KEY, (size_t)k) : NULL;
			if (detach)
				k = detach - buf;
			if (k > 0 && (status = type_keys(name, buf, (size_t)k)) != 0)
				break;
			if (detach)
				break;
		}
		if (!p[0].revents)
			continue;
		ssize_t k = recv(fd, buf, sizeof(buf), 0);
		if (k <= 0)
			break;
		size_t off = 0;
		if (!in_body) {
			size_t take = (size_t)k < sizeof(head) - 1 - hlen ? (size_t)k : sizeof(head) - 1 - hlen;
			memcpy(head + hlen, buf, take);
			hlen += take;
			head[hlen] = '\0';
			char *end = strstr(head, "\r\n\r\n");
			if (!end)
				continue;
			if (strncmp(head, "HTTP/1.1 200", 12)) {
				status = EXIT_REFUSED;
				fprintf(stderr, "petrelctl: petreld refused the console\n");
				break;
			}
			in_body = true;
			off = (size_t)(end + 4 - head) - (hlen - take);
		}
		if ((size_t)k > off && write(1, buf + off, (size_t)k - off) < 0)
			break;
	}
	if (tty) {
		tcsetattr(0, TCSANOW, &saved);
		fprintf(stderr, "\nDetached from VM %s's console\n", name);
	}
	close(fd);
	return status;
}
