/* Host tap devices with the virtio-net header (see tap.h). */
#include "net/tap.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* SIOCGIFMTU on a throwaway socket: only where the VM is built (the seccomp lists let device
 * threads use descriptors, not make sockets). */
static int query_mtu(const char *ifname)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	int r = ioctl(s, SIOCGIFMTU, &ifr) < 0 ? -errno : ifr.ifr_mtu;
	close(s);
	return r;
}

int tap_open(struct tap *t, const char *name)
{
	t->fd = -1;
	t->ifname[0] = 0;
	if (!name || !*name || strlen(name) >= IFNAMSIZ) {
		log_error("tap '%s': interface names are 1 to %d characters", name ? name : "", IFNAMSIZ - 1);
		return -EINVAL;
	}
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		log_error("tap '%s': cannot open /dev/net/tun: %s", name, strerror(err));
		return -err;
	}
	unsigned features = 0;
	if (ioctl(fd, TUNGETFEATURES, &features) < 0 || !(features & IFF_VNET_HDR)) {
		log_error("tap '%s': the kernel's tun driver has no IFF_VNET_HDR", name);
		close(fd);
		return -ENOTSUP;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int err = errno;
		log_error("tap '%s': TUNSETIFF: %s%s", name, strerror(err),
			  err == EBUSY ? " (another process has it open, or it is not a tap)" :
			  err == EPERM ? " (needs CAP_NET_ADMIN, or a persistent tap owned by this user)" : "");
		close(fd);
		return -err;
	}
	int hdr = TAP_VNET_HDR_LEN;
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		int err = errno;
		log_error("tap '%s': TUNSETVNETHDRSZ 12: %s", name, strerror(err));
		close(fd);
		return -err;
	}
	t->fd = fd;
	snprintf(t->ifname, sizeof(t->ifname), "%s", ifr.ifr_name);
	t->mtu = query_mtu(t->ifname);
	/* Until the guest driver says what it accepts: plain frames only. */
	tap_set_offload(t, 0);
	return 0;
}

void tap_close(struct tap *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

int tap_set_offload(struct tap *t, unsigned offloads)
{
	if (ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)offloads) < 0) {
		int err = errno;
		log_warn("tap '%s': TUNSETOFFLOAD 0x%x: %s", t->ifname, offloads, strerror(err));
		return -err;
	}
	return 0;
}

int tap_get_mtu(const struct tap *t)
{
	return t->mtu;
}
