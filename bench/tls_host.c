/* TLS streams' cost, no KVM (bench/tls.py): MiB through one connection over loopback, plain
 * TCP against tls: (util/tls.c: GnuTLS in-process, a pump thread and a socketpair, as migration
 * and replication use it), with the CPU time each took; and the handshake's time.
 *   tls_host MIB DIR    DIR holds ours/srv and ours/cli (scripts/pki.sh) */
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "migration/url.h"
#include "util/thread_kind.h"
#include "util/tls.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu(void)
{
	struct rusage r;
	getrusage(RUSAGE_SELF, &r);
	return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) + (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

struct sink {
	int lfd;
	struct tls_creds *creds;
	size_t got;
};

static void *sink_main(void *arg)
{
	struct sink *s = arg;
	char err[512];
	struct mig_tls tls = { .creds = s->creds, .pump_kind = SC_MIGRATION };
	int fd = mig_accept(s->lfd, 10000, -1, &tls, err, sizeof(err));
	if (fd < 0) {
		fprintf(stderr, "accept: %s\n", err);
		exit(1);
	}
	static char buf[1 << 20];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		s->got += (size_t)n;
	close(fd);
	return NULL;
}

static int port_of(int lfd)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	getsockname(lfd, (struct sockaddr *)&a, &l);
	return ntohs(a.sin_port);
}

/* One connection, mib MiB through it: seconds of wall and CPU (both ends). */
static void run(const char *scheme, struct tls_creds *srv, struct tls_creds *cli, size_t mib, double *wall,
		double *cpus, double *shake)
{
	char err[512], url[64];
	snprintf(url, sizeof(url), "%s:127.0.0.1:0", scheme);
	struct sink s = { .creds = srv };
	s.lfd = mig_listen(url, err, sizeof(err));
	if (s.lfd < 0) {
		fprintf(stderr, "listen: %s\n", err);
		exit(1);
	}
	pthread_t t;
	pthread_create(&t, NULL, sink_main, &s);
	snprintf(url, sizeof(url), "%s:127.0.0.1:%d", scheme, port_of(s.lfd));
	double c0 = cpu(), t0 = now();
	struct mig_tls tls = { .creds = cli, .pump_kind = SC_MIGRATION };
	int fd = mig_connect(url, 10000, &tls, err, sizeof(err));
	if (fd < 0) {
		fprintf(stderr, "connect: %s\n", err);
		exit(1);
	}
	*shake = now() - t0;
	static char buf[1 << 20];
	memset(buf, 0x5a, sizeof(buf));
	t0 = now();
	for (size_t i = 0; i < mib; i++)
		for (size_t off = 0; off < sizeof(buf);) {
			ssize_t n = write(fd, buf + off, sizeof(buf) - off);
			if (n <= 0) {
				perror("write");
				exit(1);
			}
			off += (size_t)n;
		}
	close(fd);
	pthread_join(t, NULL);
	*wall = now() - t0;
	*cpus = cpu() - c0;
	close(s.lfd);
	if (s.got != mib << 20) {
		fprintf(stderr, "%s: %zu of %zu bytes arrived\n", scheme, s.got, mib << 20);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: tls_host MIB DIR\n");
		return 2;
	}
	size_t mib = strtoul(argv[1], NULL, 10);
	char p[512], err[512];
	struct tls_creds *srv, *cli;
	snprintf(p, sizeof(p), "%s/ours/srv", argv[2]);
	if (tls_creds_load(p, &srv, err, sizeof(err)) < 0)
		return fprintf(stderr, "%s\n", err), 1;
	snprintf(p, sizeof(p), "%s/ours/cli", argv[2]);
	if (tls_creds_load(p, &cli, err, sizeof(err)) < 0)
		return fprintf(stderr, "%s\n", err), 1;
	double w, c, h, tw, tc, th;
	run("tcp", NULL, NULL, mib, &w, &c, &h);
	run("tls", srv, cli, mib, &tw, &tc, &th);
	printf("tcp: %zu MiB in %.3f s: %.0f MiB/s, %.2f ms CPU per MiB (both ends)\n", mib, w, mib / w, c * 1e3 / mib);
	printf("tls: %zu MiB in %.3f s: %.0f MiB/s, %.2f ms CPU per MiB (both ends)\n", mib, tw, mib / tw, tc * 1e3 / mib);
	printf("tls handshake (connect, mutual certificates, confirmation): %.2f ms\n", th * 1e3);
	tls_creds_free(srv);
	tls_creds_free(cli);
	return 0;
}
