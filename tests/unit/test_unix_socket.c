/* Unit tests for unix_listen (src/util/unix_socket.c): a stale socket is replaced, a live one
 * (another petrel's API socket, say) or another kind of file never is. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "unit.h"
#include "util/unix_socket.h"

static char dir[64];

static void path_in(char *out, size_t n, const char *name)
{
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/petrel-unix-XXXXXX");
		if (!mkdtemp(dir))
			abort();
	}
	snprintf(out, n, "%s/%s", dir, name);
}

static bool accepts(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	bool ok = c >= 0 && connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (c >= 0)
		close(c);
	return ok;
}

TEST(fresh_path)
{
	char p[128];
	path_in(p, sizeof(p), "fresh.sock");
	int fd = unix_listen(p, 4, true);
	REQUIRE(fd >= 0);
	CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
	CHECK(accepts(p));
	close(fd);
	unlink(p);
}

TEST(live_socket_is_left_alone)
{
	char p[128];
	path_in(p, sizeof(p), "live.sock");
	int owner = unix_listen(p, 4, false);
	REQUIRE(owner >= 0);
	CHECK_EQ(unix_listen(p, 4, false), -EADDRINUSE);
	CHECK(accepts(p)); /* the owner still gets connections */
	close(owner);
	unlink(p);
}

TEST(stale_socket_is_replaced)
{
	char p[128];
	path_in(p, sizeof(p), "stale.sock");
	int old = unix_listen(p, 4, false);
	REQUIRE(old >= 0);
	close(old); /* its owner died: the file stays, nobody accepts */
	CHECK(!accepts(p));
	int fd = unix_listen(p, 4, false);
	REQUIRE(fd >= 0);
	CHECK(accepts(p));
	close(fd);
	unlink(p);
}

TEST(other_files_are_left_alone)
{
	char p[128];
	path_in(p, sizeof(p), "file");
	int f = open(p, O_CREAT | O_WRONLY, 0600);
	REQUIRE(f >= 0);
	CHECK_EQ(write(f, "keep", 4), 4);
	close(f);
	CHECK_EQ(unix_listen(p, 4, false), -EADDRINUSE);
	struct stat st;
	CHECK(stat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 4);
	unlink(p);
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = 0;
	CHECK_EQ(unix_listen(longp, 4, false), -ENAMETOOLONG);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
