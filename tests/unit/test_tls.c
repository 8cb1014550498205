/* Unit tests of TLS streams (src/util/tls.c, tls_pump.c) through migration's endpoints
 * (src/migration/url.c: tls:HOST:PORT): certificates from scripts/pki.sh, the bytes through the
 * pump both ways, the ends passed on, and every refusal with its reason on both sides: a client
 * of another CA, a server whose certificate does not name the host asked for, a peer that does
 * not speak TLS, one that says nothing, missing or bad certificate files. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migration/url.h"
#include "unit.h"
#include "util/thread_kind.h"
#include "util/tls.h"

static char dir[64];
static struct tls_creds *srv_creds, *cli_creds, *evil_creds, *forged_creds;

static void pki(void)
{
	if (dir[0])
		return;
	snprintf(dir, sizeof(dir), "/tmp/petrel-tls-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
		 "%s/scripts/pki.sh %s/ours srv,127.0.0.1,localhost cli >/dev/null && "
		 "%s/scripts/pki.sh %s/theirs evil,127.0.0.1 >/dev/null && mkdir %s/forged && "
		 "cp %s/ours/ca.pem %s/theirs/evil/cert.pem %s/theirs/evil/key.pem %s/forged/",
		 PETREL_SRC_ROOT, dir, PETREL_SRC_ROOT, dir, dir, dir, dir, dir, dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "scripts/pki.sh failed (is certtool, gnutls-bin, installed?)\n");
		exit(1);
	}
	char p[128], err[512];
	snprintf(p, sizeof(p), "%s/ours/srv", dir);
	if (tls_creds_load(p, &srv_creds, err, sizeof(err)) < 0)
		fprintf(stderr, "%s\n", err), exit(1);
	snprintf(p, sizeof(p), "%s/ours/cli", dir);
	if (tls_creds_load(p, &cli_creds, err, sizeof(err)) < 0)
		fprintf(stderr, "%s\n", err), exit(1);
	snprintf(p, sizeof(p), "%s/theirs/evil", dir);
	if (tls_creds_load(p, &evil_creds, err, sizeof(err)) < 0)
		fprintf(stderr, "%s\n", err), exit(1);
	/* trusts our CA, but its own certificate is another CA's */
	snprintf(p, sizeof(p), "%s/forged", dir);
	if (tls_creds_load(p, &forged_creds, err, sizeof(err)) < 0)
		fprintf(stderr, "%s\n", err), exit(1);
}

/* A tls: listener on every address, port chosen by the kernel. */
static int listen_any(int *port)
{
	char err[256];
	int lfd = mig_listen("tls::0", err, sizeof(err));
	if (lfd < 0)
		return lfd;
	struct sockaddr_storage sa;
	socklen_t sl = sizeof(sa);
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	*port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
					       : ((struct sockaddr_in *)&sa)->sin_port);
	return lfd;
}

struct server {
	pthread_t t;
	int lfd, fd, e, timeout_ms;
	struct tls_creds *creds;   /* NULL: a plain TCP server */
	char err[512];
	size_t echoed;             /* bytes read and sent back */
	bool echo;
	bool garbage;              /* a plain server: answer the client's hello with this and close */
};

static void *server_main(void *arg)
{
	struct server *s = arg;
	struct mig_tls tls = { .creds = s->creds, .pump_kind = SC_MIGRATION };
	s->fd = mig_accept(s->lfd, s->timeout_ms, -1, &tls, s->err, sizeof(s->err));
	s->e = s->fd < 0 ? s->fd : 0;
	if (s->fd >= 0 && s->garbage) {
		char buf[512];
		if (read(s->fd, buf, sizeof(buf)) > 0 && write(s->fd, "HTTP/1.0 400 Bad Request\r\n\r\n", 28) < 0)
			s->e = -errno;
		close(s->fd);
		s->fd = -1;
	}
	if (s->fd >= 0 && s->echo) {
		static char buf[65536];
		ssize_t n;
		while ((n = read(s->fd, buf, sizeof(buf))) > 0) {
			for (ssize_t off = 0; off < n;) {
				ssize_t w = write(s->fd, buf + off, (size_t)(n - off));
				if (w <= 0)
					return NULL;
				off += w;
			}
			s->echoed += (size_t)n;
		}
		close(s->fd);   /* the end passed on to the client */
		s->fd = -1;
	}
	return NULL;
}

static void server_start(struct server *s, struct tls_creds *creds, int *port)
{
	memset(s, 0, sizeof(*s));
	s->creds = creds;
	s->timeout_ms = 5000;
	s->lfd = listen_any(port);
	pthread_create(&s->t, NULL, server_main, s);
}

static void server_join(struct server *s)
{
	pthread_join(s->t, NULL);
	close(s->lfd);
	if (s->fd >= 0)
		close(s->fd);
}

static int connect_to(const char *host, int port, struct tls_creds *creds, char *err, size_t errlen)
{
	char url[128];
	snprintf(url, sizeof(url), "tls:%s:%d", host, port);
	struct mig_tls tls = { .creds = creds, .pump_kind = SC_MIGRATION };
	return mig_connect(url, 5000, &tls, err, errlen);
}

static bool pumps_end(void)
{
	for (int i = 0; i < 500 && tls_pumps_running(); i++)
		poll(NULL, 0, 10);
	return tls_pumps_running() == 0;
}

/* 16 MiB out through the pump and back, checked byte for byte, with a writer thread so that
 * both directions are busy at once. */
struct writer {
	int fd;
	size_t len;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	static unsigned char buf[65536];
	for (size_t off = 0; off < w->len;) {
		size_t n = w->len - off < sizeof(buf) ? w->len - off : sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = (unsigned char)((off + i) * 2654435761u >> 13);
		for (size_t k = 0; k < n;) {
			ssize_t r = write(w->fd, buf + k, n - k);
			if (r <= 0)
				return NULL;
			k += (size_t)r;
		}
		off += n;
	}
	shutdown(w->fd, SHUT_WR);   /* the client's end: close_notify, then the server's EOF */
	return NULL;
}

TEST(bytes_both_ways_and_the_ends_passed_on)
{
	pki();
	int port;
	struct server s;
	server_start(&s, srv_creds, &port);
	s.echo = true;
	char err[512] = "";
	int fd = connect_to("127.0.0.1", port, cli_creds, err, sizeof(err));
	REQUIRE(fd >= 0);
	const size_t len = 16u << 20;
	struct writer w = { fd, len };
	pthread_t wt;
	pthread_create(&wt, NULL, writer_main, &w);
	static unsigned char buf[65536];
	size_t got = 0;
	bool same = true;
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			same &= buf[i] == (unsigned char)((got + (size_t)i) * 2654435761u >> 13);
		got += (size_t)n;
	}
	CHECK_EQ(n, 0);             /* the server's close came through as the end of file */
	pthread_join(wt, NULL);
	server_join(&s);
	CHECK_EQ(s.e, 0);
	CHECK_EQ(got, len);
	CHECK_EQ(s.echoed, len);
	CHECK(same);
	close(fd);
	CHECK(pumps_end());
}

TEST(client_of_another_ca_is_refused_on_both_sides)
{
	pki();
	int port;
	struct server s;
	server_start(&s, srv_creds, &port);
	char err[512] = "";
	int fd = connect_to("127.0.0.1", port, forged_creds, err, sizeof(err));
	server_join(&s);
	CHECK_EQ(fd, -EACCES);
	CHECK_CONTAINS(err, "the server refused our certificate");
	CHECK_EQ(s.e, -EACCES);
	CHECK_CONTAINS(s.err, "the client's certificate is refused");
	CHECK(pumps_end());
}

TEST(peers_of_two_cas_refuse_each_other)
{
	pki();
	int port;
	struct server s;
	server_start(&s, srv_creds, &port);
	char err[512] = "";
	int fd = connect_to("127.0.0.1", port, evil_creds, err, sizeof(err));
	server_join(&s);
	CHECK_EQ(fd, -EACCES);          /* the client refuses the server's certificate first */
	CHECK_CONTAINS(err, "the server's certificate is refused");
	CHECK(s.e == -EACCES || s.e == -ECONNRESET || s.e == -EPROTO);
	CHECK_CONTAINS(s.err, "certificate");
	CHECK(pumps_end());
}

TEST(server_of_another_ca_is_refused)
{
	pki();
	int port;
	struct server s;
	server_start(&s, evil_creds, &port);
	char err[512] = "";
	int fd = connect_to("127.0.0.1", port, cli_creds, err, sizeof(err));
	server_join(&s);
	CHECK_EQ(fd, -EACCES);
	CHECK_CONTAINS(err, "the server's certificate is refused");
	CHECK(s.e < 0);
	CHECK(pumps_end());
}

TEST(server_must_carry_the_name_asked_for)
{
	pki();
	int port;
	struct server s;
	server_start(&s, srv_creds, &port);
	char err[512] = "";
	/* 127.0.0.2 reaches the same listener, but the certificate names 127.0.0.1 and localhost */
	int fd = connect_to("127.0.0.2", port, cli_creds, err, sizeof(err));
	server_join(&s);
	CHECK_EQ(fd, -EACCES);
	CHECK_CONTAINS(err, "does not match");
	CHECK(s.e < 0);
	/* and by its DNS name it is accepted */
	server_start(&s, srv_creds, &port);
	fd = connect_to("localhost", port, cli_creds, err, sizeof(err));
	server_join(&s);
	CHECK(fd >= 0);
	CHECK_EQ(s.e, 0);
	if (fd >= 0)
		close(fd);
	CHECK(pumps_end());
}

TEST(plain_peers_are_refused)
{
	pki();
	int port;
	struct server s;
	/* a plain TCP client at a TLS server */
	server_start(&s, srv_creds, &port);
	char url[64], err[512] = "";
	snprintf(url, sizeof(url), "tcp:127.0.0.1:%d", port);
	int fd = mig_connect(url, 5000, NULL, err, sizeof(err));
	REQUIRE(fd >= 0);
	CHECK(write(fd, "PETRELMIG hello, no TLS here\r\n\r\n", 32) == 32);
	server_join(&s);
	CHECK(s.e < 0);
	CHECK_CONTAINS(s.err, "TLS");
	close(fd);
	/* a TLS client at a plain TCP server that answers garbage */
	server_start(&s, NULL, &port);
	s.garbage = true;
	fd = connect_to("127.0.0.1", port, cli_creds, err, sizeof(err));
	server_join(&s);
	CHECK(fd == -EPROTO || fd == -ECONNRESET);
	CHECK_CONTAINS(err, "TLS");
	CHECK(pumps_end());
}

TEST(tls_url_needs_credentials)
{
	pki();
	char err[512] = "";
	CHECK_EQ(mig_connect("tls:127.0.0.1:1", 1000, NULL, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "certificate directory");
	CHECK_EQ(mig_url_check("tls:host:7443", err, sizeof(err)), 0);
	CHECK(mig_url_is_tls("tls:host:7443"));
	CHECK(!mig_url_is_tls("tcp:host:7443"));
	CHECK_EQ(mig_url_check("tls:host", err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "tls:HOST:PORT");
	CHECK_EQ(mig_url_check("tls:[::1:7", err, sizeof(err)), -EINVAL);
}

TEST(silent_client_times_out)
{
	pki();
	int port;
	struct server s;
	server_start(&s, srv_creds, &port);
	s.timeout_ms = 300;
	char url[64], err[512] = "";
	snprintf(url, sizeof(url), "tcp:127.0.0.1:%d", port);
	int fd = mig_connect(url, 5000, NULL, err, sizeof(err));
	REQUIRE(fd >= 0);
	server_join(&s);       /* the accept's deadline covers the handshake */
	CHECK_EQ(s.e, -ETIMEDOUT);
	CHECK_CONTAINS(s.err, "did not finish in time");
	close(fd);
}

TEST(credential_files_are_checked)
{
	pki();
	struct tls_creds *c = (struct tls_creds *)1;
	char err[512] = "", p[128];
	snprintf(p, sizeof(p), "%s/none", dir);
	CHECK_EQ(tls_creds_load(p, &c, err, sizeof(err)), -ENOENT);
	CHECK_NULL(c);
	CHECK_CONTAINS(err, "none/ca.pem");
	snprintf(p, sizeof(p), "%s/bad", dir);
	REQUIRE(mkdir(p, 0700) == 0);
	const char *files[] = { "ca.pem", "cert.pem", "key.pem" };
	for (int i = 0; i < 3; i++) {
		char f[160];
		snprintf(f, sizeof(f), "%s/%s", p, files[i]);
		FILE *fp = fopen(f, "w");
		fputs("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n", fp);
		fclose(fp);
	}
	CHECK_EQ(tls_creds_load(p, &c, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "ca.pem");
	/* a good CA with a key that is not the certificate's */
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "cp %s/ours/ca.pem %s/ && cp %s/ours/srv/cert.pem %s/ && cp %s/ours/cli/key.pem %s/", dir,
		 p, dir, p, dir, p);
	REQUIRE(system(cmd) == 0);
	CHECK_EQ(tls_creds_load(p, &c, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "key.pem");
}

TEST(zz_cleanup)
{
	tls_creds_free(srv_creds);
	tls_creds_free(cli_creds);
	tls_creds_free(evil_creds);
	tls_creds_free(forged_creds);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
