/* petrelctl vnc NAME [--port P]: a VM's screen for a local VNC viewer. petrelctl listens on
 * 127.0.0.1:P (default 5900; 0: any free port, printed) and relays each viewer's connection to
 * petreld's GET /vms/NAME/vnc with Upgrade: rfb (the worker's VNC socket, through petreld's
 * check of the viewer's messages). Never a port on another address; Ctrl-C ends it. */
#include "ctl/ctl.h"
#include "http/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define VIEWERS 8

struct pair {
	int viewer, petreld;   /* -1: free */
};

/* A stream to the VM's VNC server through petreld, past its 101 answer: the fd, or -1 (printed). */
static int open_stream(const char *name)
{
	int fd = uhttp_connect(ctl_sock_path);
	if (fd < 0) {
		fprintf(stderr, "petrelctl: cannot reach petreld at %s: %s\n", ctl_sock_path, strerror(-fd));
		return -1;
	}
	char req[256];
	int n = snprintf(req, sizeof(req),
			 "GET /vms/%s/vnc HTTP/1.1\r\nHost: localhost\r\nUpgrade: rfb\r\nConnection: Upgrade\r\n\r\n", name);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		close(fd);
		return -1;
	}
	/* the head byte by byte: what follows it is the VNC server's */
	char head[2048];
	size_t len = 0;
	while (len < sizeof(head) - 1) {
		if (recv(fd, head + len, 1, 0) != 1)
			break;
		head[++len] = '\0';
		if (len >= 4 && !memcmp(head + len - 4, "\r\n\r\n", 4))
			break;
	}
	head[len] = '\0';
	if (strncmp(head, "HTTP/1.1 101", 12)) {
		/* a fault's message is in the body that follows: read a little of it */
		char body[512] = "";
		ssize_t k = recv(fd, body, sizeof(body) - 1, MSG_DONTWAIT);
		body[k > 0 ? k : 0] = '\0';
		fprintf(stderr, "petrelctl: petreld refused the screen of '%s': %.*s %s\n", name,
			(int)strcspn(head, "\r\n"), head, body);
		close(fd);
		return -1;
	}
	return fd;
}

static bool pass(int from, int to)
{
	char buf[65536];
	ssize_t n = recv(from, buf, sizeof(buf), 0);
	for (ssize_t off = 0; n > 0 && off < n;) {
		ssize_t k = send(to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
		if (k <= 0)
			return false;
		off += k;
	}
	return n > 0;
}

int cmd_vnc(int argc, char **argv)
{
	long port = 5900;
	if (argc < 2 || (argc != 2 && argc != 4) || (argc == 4 && strcmp(argv[2], "--port"))) {
		fprintf(stderr, "usage: petrelctl vnc NAME [--port P]\n");
		return EXIT_USAGE;
	}
	const char *name = argv[1];
	if (argc == 4) {
		char *end;
		port = strtol(argv[3], &end, 10);
		if (*end || end == argv[3] || port < 0 || port > 65535) {
			fprintf(stderr, "petrelctl: vnc: --port must be 0 to 65535, not '%s'\n", argv[3]);
			return EXIT_USAGE;
		}
	}
	/* a first stream now: a clear error for a VM that is unknown, stopped or without a display */
	int first = open_stream(name);
	if (first < 0)
		return EXIT_REFUSED;
	close(first);
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 4) < 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) < 0) {
		fprintf(stderr, "petrelctl: vnc: cannot listen on 127.0.0.1:%ld: %s\n", port, strerror(errno));
		return EXIT_REFUSED;
	}
	printf("VM %s's screen: VNC on 127.0.0.1:%u (Ctrl-C ends)\n", name, ntohs(sa.sin_port));
	fflush(stdout);
	struct pair p[VIEWERS];
	for (int i = 0; i < VIEWERS; i++)
		p[i].viewer = p[i].petreld = -1;
	for (;;) {
		struct pollfd pf[1 + 2 * VIEWERS];
		pf[0] = (struct pollfd){ ls, POLLIN, 0 };
		for (int i = 0; i < VIEWERS; i++) {
			pf[1 + 2 * i] = (struct pollfd){ p[i].viewer, POLLIN, 0 };
			pf[2 + 2 * i] = (struct pollfd){ p[i].petreld, POLLIN, 0 };
		}
		if (poll(pf, 1 + 2 * VIEWERS, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < VIEWERS; i++) {
			bool ok = true;
			if (pf[1 + 2 * i].revents)
				ok = pass(p[i].viewer, p[i].petreld);
			if (ok && pf[2 + 2 * i].revents)
				ok = pass(p[i].petreld, p[i].viewer);
			if (!ok) {
				close(p[i].viewer);
				close(p[i].petreld);
				p[i].viewer = p[i].petreld = -1;
			}
		}
		if (pf[0].revents) {
			int v = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
			int slot = -1;
			for (int i = 0; i < VIEWERS && slot < 0; i++)
				if (p[i].viewer < 0)
					slot = i;
			int s = v >= 0 && slot >= 0 ? open_stream(name) : -1;
			if (s < 0) {
				if (v >= 0)
					close(v);
				continue;
			}
			p[slot].viewer = v;
			p[slot].petreld = s;
		}
	}
	close(ls);
	return EXIT_REFUSED;
}
