/* petrel-jailer --rootless: the explanation given when the host refuses a user namespace
 * (src/jail/userns.c), for each way a host can refuse one. The real refusal (the limit at
 * 0) is tested end to end in tests/jail/test_rootless.py; the others cannot be made on one
 * host (Debian's sysctl, Ubuntu's AppArmor), so their messages are checked here. */
#include "unit.h"

#include <errno.h>

#include "jail/jail.h"

static const char *hint(int err, long max, long unpriv, long apparmor)
{
	static char buf[256];
	return jail_userns_hint(err, max, unpriv, apparmor, buf, sizeof(buf));
}

TEST(limit_zero_means_disabled_whatever_the_errno)
{
	CHECK_CONTAINS(hint(ENOSPC, 0, -1, -1), "user namespaces are disabled on this host "
		       "(/proc/sys/user/max_user_namespaces is 0)");
	CHECK_CONTAINS(hint(-EPERM, 0, 1, 0), "max_user_namespaces is 0");
}

TEST(enospc_with_a_limit_is_the_limit_reached)
{
	CHECK_CONTAINS(hint(ENOSPC, 5, -1, -1), "limit of user namespaces is reached "
		       "(/proc/sys/user/max_user_namespaces is 5");
}

TEST(debian_sysctl_off)
{
	CHECK_CONTAINS(hint(EPERM, 1000, 0, -1), "/proc/sys/kernel/unprivileged_userns_clone is 0");
	/* The sysctl at 1 is not the reason. */
	CHECK(!strstr(hint(EPERM, 1000, 1, -1), "unprivileged_userns_clone"));
}

TEST(ubuntu_apparmor_restriction)
{
	CHECK_CONTAINS(hint(EPERM, 1000, -1, 1), "AppArmor restricts unprivileged user namespaces");
	CHECK_CONTAINS(hint(EACCES, 1000, -1, 1), "apparmor_restrict_unprivileged_userns is 1");
	CHECK(!strstr(hint(EPERM, 1000, -1, 0), "AppArmor"));
}

TEST(other_refusals)
{
	CHECK_CONTAINS(hint(EPERM, 1000, -1, -1), "inside a chroot, or a seccomp filter or LSM");
	CHECK_CONTAINS(hint(EINVAL, 1000, -1, -1), "threads");
	CHECK_CONTAINS(hint(ENOSYS, -1, -1, -1), "user namespaces are not available");
}

TEST(refused_prints_one_line_and_returns_minus_errno)
{
	CHECK_EQ(jail_userns_refused(EPERM, "unshare(CLONE_NEWUSER)"), -EPERM);
	CHECK_EQ(jail_userns_refused(-ENOSPC, "clone"), -ENOSPC);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
