/* vsockcat CID PORT: connect to CID:PORT over AF_VSOCK, send stdin, then read the peer's answer
 * to stdout until it closes (no half-close: the peer answers what it read) (busybox has no vsock client). Built static into the default
 * guest's initramfs by scripts/mkinitramfs.sh; /init uses it after a restore (the host's end
 * is petrel's vsock device, which hands the connection to the Unix socket UDS_PATH_PORT). */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int copy(int from, int to)
{
	char buf[4096];
	for (;;) {
		ssize_t n = read(from, buf, sizeof(buf));
		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(to, buf + off, (size_t)(n - off));
			if (w < 0 && errno != EINTR)
				return -1;
			off += w > 0 ? w : 0;
		}
	}
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: vsockcat CID PORT\n");
		return 2;
	}
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = (unsigned)strtoul(argv[1], NULL, 0),
				 .svm_port = (unsigned)strtoul(argv[2], NULL, 0) };
	int s = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		fprintf(stderr, "vsockcat: %s:%s: %s\n", argv[1], argv[2], strerror(errno));
		return 1;
	}
	if (copy(0, s) < 0 || copy(s, 1) < 0) {
		fprintf(stderr, "vsockcat: %s\n", strerror(errno));
		return 1;
	}
	close(s);
	return 0;
}
