/* Bridges and persistent taps by ioctl (net_link.h). The bridge ioctls go through any socket
 * (AF_INET); a tap is made and unmade through /dev/net/tun. */
#include "manager/net/net_link.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

bool net_link_exists(const char *name)
{
	return if_nametoindex(name) != 0;
}

static int ifreq_of(const char *name, struct ifreq *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	if (strlen(name) >= IFNAMSIZ || !*name)
		return error_set(err, errlen, -EINVAL, "'%s' is no interface name (1 to %d bytes)", name, IFNAMSIZ - 1);
	memcpy(r->ifr_name, name, strlen(name));
	return 0;
}

/* ioctl(req) on a fresh socket: 0 or -errno with "what NAME: why". */
static int sock_ioctl(unsigned long req, void *arg, const char *what, const char *name, char *err, size_t errlen)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return error_set(err, errlen, -errno, "%s %s: socket: %s", what, name, strerror(errno));
	if (ioctl(s, req, arg) < 0)
		return error_set(err, errlen, -errno, "%s %s: %s", what, name, strerror(errno));
	return 0;
}

/* The interface's driver (ETHTOOL_GDRVINFO: "bridge", "tun", "veth", ...), "" when none is
 * known. By ioctl, not /sys: sysfs shows the network namespace it was mounted in, which need
 * not be petreld's. */
static void driver_of(const char *name, char out[32])
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq r;
	char err[128];
	out[0] = '\0';
	if (ifreq_of(name, &r, err, sizeof(err)) < 0)
		return;
	r.ifr_data = (void *)&info;
	if (sock_ioctl(SIOCETHTOOL, &r, "", name, err, sizeof(err)) == 0)
		snprintf(out, 32, "%s", info.driver);
}

bool net_link_is_bridge(const char *name)
{
	char drv[32];
	driver_of(name, drv);
	return !strcmp(drv, "bridge");
}

int net_bridge_create(const char *name, char *err, size_t errlen)
{
	struct ifreq r;
	int e = ifreq_of(name, &r, err, errlen);
	return e < 0 ? e : sock_ioctl(SIOCBRADDBR, r.ifr_name, "cannot create the bridge", name, err, errlen);
}

static void set_sin(struct sockaddr *sa, uint32_t a)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr = { a } };
	memcpy(sa, &sin, sizeof(sin));
}

int net_link_set_ipv4(const char *name, struct in_addr addr, unsigned prefix, char *err, size_t errlen)
{
	struct ifreq r;
	int e = ifreq_of(name, &r, err, errlen);
	uint32_t mask = prefix ? htonl(~0u << (32 - prefix)) : 0;
	if (e < 0)
		return e;
	set_sin(&r.ifr_addr, addr.s_addr);
	if ((e = sock_ioctl(SIOCSIFADDR, &r, "cannot set the address of", name, err, errlen)) < 0)
		return e;
	set_sin(&r.ifr_netmask, mask);
	if ((e = sock_ioctl(SIOCSIFNETMASK, &r, "cannot set the netmask of", name, err, errlen)) < 0)
		return e;
	set_sin(&r.ifr_broadaddr, addr.s_addr | ~mask);
	return sock_ioctl(SIOCSIFBRDADDR, &r, "cannot set the broadcast address of", name, err, errlen);
}

static int set_flags(const char *name, short on, short off, char *err, size_t errlen)
{
	struct ifreq r;
	int e = ifreq_of(name, &r, err, errlen);
	if (e < 0 || (e = sock_ioctl(SIOCGIFFLAGS, &r, "cannot read the flags of", name, err, errlen)) < 0)
		return e;
	r.ifr_flags = (short)((r.ifr_flags | on) & ~off);
	return sock_ioctl(SIOCSIFFLAGS, &r, "cannot set the flags of", name, err, errlen);
}

int net_link_up(const char *name, char *err, size_t errlen)
{
	return set_flags(name, IFF_UP, 0, err, errlen);
}

/* An fd of /dev/net/tun attached to the tap name (made if missing): >= 0 or -errno. */
static int tun_attach(const char *name, char *err, size_t errlen)
{
	struct ifreq r;
	int e = ifreq_of(name, &r, err, errlen);
	if (e < 0)
		return e;
	_cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, errlen, -errno, "cannot open /dev/net/tun: %s", strerror(errno));
	r.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &r) < 0)
		return error_set(err, errlen, -errno, "tap %s: TUNSETIFF: %s", name, strerror(errno));
	return TAKE_FD(fd);
}

int net_tap_create(const char *name, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	if (net_link_exists(name))
		return error_set(err, errlen, -EEXIST, "cannot create the tap %s: an interface has that name", name);
	_cleanup_close_ int fd = tun_attach(name, err, errlen);
	if (fd < 0)
		return fd;
	const char *what = ioctl(fd, TUNSETOWNER, (unsigned long)uid) < 0 ? "TUNSETOWNER"
			 : ioctl(fd, TUNSETGROUP, (unsigned long)gid) < 0 ? "TUNSETGROUP"
			 : ioctl(fd, TUNSETPERSIST, 1UL) < 0 ? "TUNSETPERSIST" : NULL;
	if (what)
		return error_set(err, errlen, -errno, "tap %s: %s: %s", name, what, strerror(errno));
	return 0;
}

/* SIOCBRADDIF (add) or SIOCBRDELIF on bridge for ifname; a missing ifname is -ENOENT when
 * adding, nothing to do when taking off. */
static int bridge_port(const char *bridge, const char *ifname, bool add, char *err, size_t errlen)
{
	struct ifreq r;
	int e = ifreq_of(bridge, &r, err, errlen);
	if (e < 0)
		return e;
	if (!(r.ifr_ifindex = (int)if_nametoindex(ifname)))
		return add ? error_set(err, errlen, -ENOENT, "cannot put %s on bridge %s: no such interface", ifname, bridge) : 0;
	return sock_ioctl(add ? SIOCBRADDIF : SIOCBRDELIF, &r,
			  add ? "cannot put an interface on bridge" : "cannot take an interface off bridge", bridge, err, errlen);
}

int net_bridge_attach(const char *bridge, const char *ifname, char *err, size_t errlen)
{
	return bridge_port(bridge, ifname, true, err, errlen);
}

int net_bridge_detach(const char *bridge, const char *ifname, char *err, size_t errlen)
{
	return bridge_port(bridge, ifname, false, err, errlen);
}

int net_link_delete(const char *name, char *err, size_t errlen)
{
	if (!net_link_exists(name))
		return 0;
	if (net_link_is_bridge(name)) {
		struct ifreq r;
		int e = set_flags(name, 0, IFF_UP, err, errlen);
		if (e < 0 || (e = ifreq_of(name, &r, err, errlen)) < 0)
			return e;
		return sock_ioctl(SIOCBRDELBR, r.ifr_name, "cannot delete the bridge", name, err, errlen);
	}
	char drv[32];
	driver_of(name, drv);
	if (strcmp(drv, "tun"))
		return error_set(err, errlen, -EOPNOTSUPP, "%s is neither a bridge nor a tap: petreld leaves it alone", name);
	_cleanup_close_ int fd = tun_attach(name, err, errlen);
	if (fd < 0)
		return fd;
	if (ioctl(fd, TUNSETPERSIST, 0UL) < 0)
		return error_set(err, errlen, -errno, "tap %s: TUNSETPERSIST: %s", name, strerror(errno));
	return 0;
}
