/* petreld's bridges and persistent taps by ioctl (src/manager/net/net_link.c), in a network
 * namespace of the test's own (unshare(CLONE_NEWNET), with its sysfs in a mount namespace of
 * its own: nothing touches the host's). Needs root
 * (CAP_NET_ADMIN) and /dev/net/tun; without them the tests say so and pass. The bridges' part
 * is also exercised end to end by tests/net; the taps are what a VM's interface gets. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "manager/net/net_link.h"

static bool in_own_netns(void)
{
	static int done = -1;
	if (done < 0) {
		/* and a sysfs of its own, to read the interfaces' attributes */
		done = geteuid() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0 &&
		       unshare(CLONE_NEWNET | CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
		       mount("sysfs", "/sys", "sysfs", 0, NULL) == 0;
		if (!done)
			fprintf(stderr, "  (no root, /dev/net/tun or network namespace here: not run)\n");
	}
	return done;
}

static long sys_value(const char *ifname, const char *file)
{
	char path[256], buf[64] = "";
	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, file);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long v = fgets(buf, sizeof(buf), f) ? strtol(buf, NULL, 0) : -1;
	fclose(f);
	return v;
}

TEST(bridge_made_addressed_up_and_deleted)
{
	if (!in_own_netns())
		return;
	char err[256] = "";
	struct in_addr a;
	inet_pton(AF_INET, "10.99.0.1", &a);
	CHECK_EQ(net_bridge_create("tbr0", err, sizeof(err)), 0);
	CHECK(net_link_exists("tbr0") && net_link_is_bridge("tbr0"));
	CHECK_EQ(net_bridge_create("tbr0", err, sizeof(err)), -EEXIST);
	CHECK_CONTAINS(err, "tbr0");
	CHECK_EQ(net_link_set_ipv4("tbr0", a, 24, err, sizeof(err)), 0);
	CHECK_EQ(net_link_set_ipv4("tbr0", a, 24, err, sizeof(err)), 0);   /* again: the same */
	CHECK_EQ(net_link_up("tbr0", err, sizeof(err)), 0);
	CHECK(sys_value("tbr0", "flags") & 1);
	CHECK_EQ(net_link_delete("tbr0", err, sizeof(err)), 0);
	CHECK(!net_link_exists("tbr0"));
	CHECK_EQ(net_link_delete("tbr0", err, sizeof(err)), 0);              /* none: nothing to do */
}

TEST(persistent_tap_owned_attached_detached_deleted)
{
	if (!in_own_netns())
		return;
	char err[256] = "";
	CHECK_EQ(net_bridge_create("tbr1", err, sizeof(err)), 0);
	CHECK_EQ(net_tap_create("ttap0", 1234, 5678, err, sizeof(err)), 0);
	/* it outlived the fd that made it, owned by the worker's ids, a tap without packet info */
	CHECK(net_link_exists("ttap0") && !net_link_is_bridge("ttap0"));
	CHECK_EQ(sys_value("ttap0", "owner"), 1234);
	CHECK_EQ(sys_value("ttap0", "group"), 5678);
	CHECK_EQ(sys_value("ttap0", "tun_flags") & 0x1003, 0x1002);   /* IFF_TAP | IFF_NO_PI, not IFF_TUN */
	CHECK_EQ(net_tap_create("ttap0", 0, 0, err, sizeof(err)), -EEXIST);
	CHECK_EQ(net_bridge_attach("tbr1", "ttap0", err, sizeof(err)), 0);
	CHECK(access("/sys/class/net/tbr1/brif/ttap0", F_OK) == 0);
	CHECK_EQ(net_bridge_attach("tbr1", "nosuch0", err, sizeof(err)), -ENOENT);
	CHECK_CONTAINS(err, "nosuch0");
	CHECK_EQ(net_bridge_detach("tbr1", "ttap0", err, sizeof(err)), 0);
	CHECK(access("/sys/class/net/tbr1/brif/ttap0", F_OK) != 0);
	CHECK_EQ(net_link_delete("ttap0", err, sizeof(err)), 0);
	CHECK(!net_link_exists("ttap0"));
	/* what petreld did not make is left alone */
	CHECK_EQ(net_link_delete("lo", err, sizeof(err)), -EOPNOTSUPP);
	CHECK(net_link_exists("lo"));
	CHECK_EQ(net_link_delete("tbr1", err, sizeof(err)), 0);
	CHECK_EQ(net_bridge_create("a/b", err, sizeof(err)) < 0, 1);
	CHECK_EQ(net_bridge_create("name-too-long-for-it", err, sizeof(err)), -EINVAL);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
