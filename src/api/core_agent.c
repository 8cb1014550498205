/* The core's part of the guest agent (docs/guest-agent.md): the client made with the VM when
 * its definition enables the agent, its socketpair's device end handed to virtio-console's
 * agent port, and after a restore or an incoming migration a new connection, the guest thawed
 * when it was saved frozen, and its clock set. The requests themselves are ctl_guest.c's; a snapshot's freeze is
 * ctl_snapshot.c's. Both reach the client as ctl->agent. */
#include "api/core.h"
#include "agent/agent.h"
#include "config/console_ports_config.h"
#include "devices/virtio/console.h"
#include "util/log.h"
#include "vm/vm.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

static bool agent_enabled(const struct vm_config *cfg)
{
	int agent = -1;
	vm_config_console_port_count(cfg, &agent);
	return cfg->has_guest_agent && cfg->guest_agent.enabled && agent >= 0;
}

int ctl_agent_prepare(struct controller *ctl, struct vm_config *cfg, char *err, size_t errlen)
{
	cfg->guest_agent_fd_set = false;
	if (!agent_enabled(cfg))
		return 0;
	int fd = -1, r;
	pthread_mutex_lock(&ctl->lock);
	struct guest_agent *a = ctl->agent;
	pthread_mutex_unlock(&ctl->lock);
	if (a) {
		r = guest_agent_reconnect(a, &fd, err, errlen);
	} else if ((r = guest_agent_create(&a, cfg->guest_agent.timeout_ms, &fd, err, errlen)) == 0) {
		pthread_mutex_lock(&ctl->lock);
		ctl->agent = a;
		pthread_mutex_unlock(&ctl->lock);
	}
	if (r < 0)
		return r;
	cfg->guest_agent_fd_set = true;
	cfg->guest_agent_fd = fd;
	return 0;
}

static bool port_open(void *opaque)
{
	struct vm *vm = opaque;
	struct virtio_console *c = vm_console(vm);
	return c && virtio_console_port_guest_open(c, GUEST_AGENT_PORT_NAME);
}

void ctl_agent_attach(struct controller *ctl, struct vm *vm, struct vm_config *cfg, bool built)
{
	if (!cfg->guest_agent_fd_set)
		return;
	close(cfg->guest_agent_fd);   /* the device has its own copy */
	cfg->guest_agent_fd_set = false;
	cfg->guest_agent_fd = -1;
	pthread_mutex_lock(&ctl->lock);
	struct guest_agent *a = ctl->agent;
	pthread_mutex_unlock(&ctl->lock);
	if (a && built)
		guest_agent_set_port_check(a, port_open, vm);
	else if (a)
		guest_agent_set_port_check(a, NULL, NULL);
}

void ctl_agent_resumed(struct controller *ctl)
{
	pthread_mutex_lock(&ctl->lock);
	struct guest_agent *a = ctl->state == INSTANCE_RUNNING ? ctl->agent : NULL;
	pthread_mutex_unlock(&ctl->lock);
	if (!a)
		return;
	char msg[256];
	/* A file-system consistent snapshot or backup saved the guest between its freeze and its
	 * thaw: the restored guest is frozen (its writers blocked, the agent refusing all but
	 * thaw), and only we can thaw it. */
	bool frozen = false;
	unsigned n = 0;
	if (guest_agent_thaw_if_frozen(a, &frozen, &n, msg, sizeof(msg)) < 0) {
		/* an agent that does not answer, or a guest left frozen (which refuses the clock) */
		log_warn("guest agent: after the restore (best effort): %s", msg);
		return;
	}
	if (frozen)
		log_info("guest agent: thawed the %u file system(s) the snapshot was taken frozen with", n);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int r = guest_agent_set_time(a, (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec, msg, sizeof(msg));
	if (r == 0)
		log_info("guest agent: the guest's clock set from the host's");
	else
		log_warn("guest agent: cannot set the guest's clock (best effort): %s", msg);
}

int ctl_agent_incoming_locked(struct controller *ctl, struct snapshot_load_opts *load, char *err, size_t errlen)
{
	int fd = -1;
	int r = ctl->agent ? guest_agent_reconnect(ctl->agent, &fd, err, errlen)
			   : guest_agent_create(&ctl->agent, 0, &fd, err, errlen);
	if (r < 0)
		return r;
	if (ctl->agent_incoming_fd >= 0)
		close(ctl->agent_incoming_fd);
	ctl->agent_incoming_fd = fd;
	load->has_guest_agent_fd = true;
	load->guest_agent_fd = fd;
	return 0;
}

void ctl_agent_arrived(struct controller *ctl, struct vm *vm, int e)
{
	pthread_mutex_lock(&ctl->lock);
	if (ctl->agent_incoming_fd >= 0)
		close(ctl->agent_incoming_fd);   /* the device has its own copy */
	ctl->agent_incoming_fd = -1;
	struct guest_agent *a = ctl->agent, *drop = NULL;
	if (a && (e < 0 || !agent_enabled(&ctl->cfg))) {
		drop = a;
		ctl->agent = a = NULL;
	}
	pthread_mutex_unlock(&ctl->lock);
	guest_agent_free(drop);
	if (!a)
		return;
	guest_agent_set_timeout_ms(a, ctl->cfg.guest_agent.timeout_ms);
	guest_agent_set_port_check(a, port_open, vm);
	ctl_agent_resumed(ctl);
}
