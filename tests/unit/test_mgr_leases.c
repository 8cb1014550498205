/* dnsmasq's lease file as petreld reads it (src/manager/net/leases.c): IPv4 Ethernet leases kept,
 * everything else on the line or in the file skipped, guests' host names kept only when they are
 * plain names. */
#include "unit.h"
#include "manager/net/leases.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct lease *parse(const char *text, size_t *n)
{
	struct lease *l = NULL;
	char err[256] = "";
	CHECK_EQ(leases_parse(text, strlen(text), &l, n, err, sizeof(err)), 0);
	return l;
}

static const char *ip(const struct lease *l)
{
	static char s[INET_ADDRSTRLEN];
	return inet_ntop(AF_INET, &l->ip, s, sizeof(s));
}

TEST(reads_dnsmasq_lines)
{
	size_t n;
	struct lease *l = parse("1795000000 52:54:00:12:34:56 10.77.0.5 web1 01:52:54:00:12:34:56\n"
				"0 52:54:00:AB:cd:EF 10.77.0.100 * *\n", &n);
	REQUIRE_EQ(n, 2);
	CHECK_EQ(l[0].expiry, 1795000000);
	CHECK_EQ(l[0].mac[0], 0x52);
	CHECK_EQ(l[0].mac[5], 0x56);
	CHECK_STR_EQ(ip(&l[0]), "10.77.0.5");
	CHECK_STR_EQ(l[0].hostname, "web1");
	CHECK_EQ(l[1].expiry, 0);
	CHECK_EQ(l[1].mac[3], 0xab);
	CHECK_EQ(l[1].mac[5], 0xef);
	CHECK_STR_EQ(ip(&l[1]), "10.77.0.100");
	CHECK_STR_EQ(l[1].hostname, "");
	free(l);
}

TEST(skips_duid_ipv6_and_other_hardware)
{
	size_t n;
	struct lease *l = parse("duid 00:01:00:01:2c:4d:5e:6f:52:54:00:00:00:01\n"
				"1795000000 1234567 fd00::5 web6 00:01:00:01:aa\n"
				"1795000000 06-52:54:00:12:34:56 10.77.0.6 tr *\n"
				"1795000000 52:54:00:12:34:57 10.77.0.7 ok *\n", &n);
	REQUIRE_EQ(n, 1);
	CHECK_STR_EQ(ip(&l[0]), "10.77.0.7");
	CHECK_STR_EQ(l[0].hostname, "ok");
	free(l);
}

TEST(untrusted_hostnames_become_empty)
{
	const char *bad[] = { "a.b", "x_y", "\xc3\xa9t\xc3\xa9", "a;rm", "<script>",
			      "a234567890123456789012345678901234567890123456789012345678901234" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[256];
		snprintf(line, sizeof(line), "1 52:54:00:00:00:01 10.0.0.1 %s *\n", bad[i]);
		size_t n;
		struct lease *l = parse(line, &n);
		REQUIRE_EQ(n, 1);
		CHECK_STR_EQ(l[0].hostname, "");
		free(l);
	}
	size_t n;
	struct lease *l = parse("1 52:54:00:00:00:01 10.0.0.1 a23456789012345678901234567890123456789012345678901234567890123 *",
				&n);
	REQUIRE_EQ(n, 1);
	CHECK_EQ(strlen(l[0].hostname), 63);
	free(l);
}

TEST(damaged_lines_are_skipped)
{
	const char *bad[] = { "", "\n\n", "1 52:54:00:00:00:01 10.0.0.1\n", "-1 52:54:00:00:00:01 10.0.0.1 h *\n",
			      "1x 52:54:00:00:00:01 10.0.0.1 h *\n", "1234567890123456789 52:54:00:00:00:01 10.0.0.1 h *\n",
			      "1 52:54:00:00:00 10.0.0.1 h *\n", "1 52:54:00:00:00:0g 10.0.0.1 h *\n",
			      "1 52-54-00-00-00-01 10.0.0.1 h *\n", "1 52:54:00:00:00:01 10.0.0 h *\n",
			      "1 52:54:00:00:00:01 10.0.0.256 h *\n", "1 52:54:00:00:00:01 010.0.0.1x h *\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = 99;
		struct lease *l = parse(bad[i], &n);
		CHECK_EQ(n, 0);
		CHECK(l == NULL);
	}
}

TEST(nul_bytes_and_long_lines_skip_their_line)
{
	char text[4096];
	memset(text, 'x', sizeof(text));
	const char good[] = "1 52:54:00:00:00:01 10.0.0.1 h *\n";
	size_t off = 2000;   /* a 2000-byte line, then a good one */
	text[off - 1] = '\n';
	memcpy(text + off, good, sizeof(good) - 1);
	const char nul[] = "1 52:54:00:00:00:02 10.0.0.2 h\0x *\n";
	memcpy(text + off + sizeof(good) - 1, nul, sizeof(nul) - 1);
	size_t len = off + sizeof(good) - 1 + sizeof(nul) - 1;
	struct lease *l = NULL;
	size_t n;
	char err[128];
	CHECK_EQ(leases_parse(text, len, &l, &n, err, sizeof(err)), 0);
	REQUIRE_EQ(n, 1);
	CHECK_STR_EQ(ip(&l[0]), "10.0.0.1");
	free(l);
}

TEST(count_is_bounded)
{
	size_t each = 40, total = (LEASES_MAX + 10) * each;
	char *text = malloc(total + 1);
	REQUIRE(text != NULL);
	size_t len = 0;
	for (int i = 0; i < LEASES_MAX + 10; i++)
		len += (size_t)snprintf(text + len, total + 1 - len, "1 52:54:00:00:%02x:%02x 10.1.%d.%d h *\n", (i >> 8) & 0xff,
					i & 0xff, (i >> 8) & 0xff, i & 0xff);
	struct lease *l = NULL;
	size_t n;
	char err[128];
	CHECK_EQ(leases_parse(text, len, &l, &n, err, sizeof(err)), 0);
	CHECK_EQ(n, LEASES_MAX);
	CHECK_STR_EQ(ip(&l[LEASES_MAX - 1]), "10.1.15.255");
	free(l);
	free(text);
}

TEST(read_file_missing_empty_and_real)
{
	char dir[] = "/tmp/test_mgr_leases.XXXXXX", path[64], err[128];
	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/leases", dir);
	struct lease *l = (struct lease *)1;
	size_t n = 7;
	/* no file: no leases, not an error (a network whose dnsmasq has written none yet) */
	CHECK_EQ(leases_read_file(path, &l, &n, err, sizeof(err)), 0);
	CHECK_EQ(n, 0);
	CHECK(l == NULL);
	FILE *f = fopen(path, "w");
	REQUIRE(f != NULL);
	fputs("duid 00:01\n1700000000 52:54:00:00:00:01 10.0.0.1 <b> *\n5 52:54:00:00:00:02 10.0.0.2 ok-name *\n", f);
	fclose(f);
	CHECK_EQ(leases_read_file(path, &l, &n, err, sizeof(err)), 0);
	REQUIRE_EQ(n, 2);
	CHECK_STR_EQ(l[0].hostname, "");
	CHECK_STR_EQ(l[1].hostname, "ok-name");
	CHECK_EQ(l[1].expiry, 5);
	free(l);
	/* a directory where the file should be: the reason, named */
	unlink(path);
	REQUIRE(mkdir(path, 0700) == 0);
	CHECK(leases_read_file(path, &l, &n, err, sizeof(err)) < 0);
	CHECK(strstr(err, path) != NULL);
	rmdir(path);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
