/* See port.h. */
#include "mmds/port.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

int mmds_port_init(struct mmds_port *p, struct mmds *svc, uint32_t ip, int epfd)
{
	p->timerfd = -1;
	p->armed_at = -1;
	int err = mmds_stack_init(&p->stack, svc, ip);
	if (err < 0)
		return err;
	p->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	struct epoll_event e = { .events = EPOLLIN, .data.fd = p->timerfd };
	if (p->timerfd < 0 || (epfd >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, p->timerfd, &e) < 0)) {
		err = -errno;
		if (p->timerfd >= 0)
			close(p->timerfd);
		p->timerfd = -1;
		mmds_stack_free(&p->stack);
		return err;
	}
	return 0;
}

void mmds_port_free(struct mmds_port *p, int epfd)
{
	if (p->timerfd >= 0) {
		if (epfd >= 0)
			epoll_ctl(epfd, EPOLL_CTL_DEL, p->timerfd, NULL);
		close(p->timerfd);
		p->timerfd = -1;
	}
	mmds_stack_free(&p->stack);
}

void mmds_port_timer_fired(struct mmds_port *p, const char *who)
{
	uint64_t ticks;
	p->armed_at = -1;
	if (read(p->timerfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_debug("%s: MMDS timer: %s", who, strerror(errno));
}

void mmds_port_arm(struct mmds_port *p, uint64_t now)
{
	int64_t ms = mmds_stack_next_timer(&p->stack, now);
	int64_t at = ms < 0 ? -1 : (int64_t)now + ms;
	if (at == p->armed_at)
		return;
	p->armed_at = at;
	struct itimerspec its = { 0 };
	if (ms >= 0) {
		if (ms == 0)
			ms = 1;   /* 0 would disarm */
		its.it_value.tv_sec = ms / 1000;
		its.it_value.tv_nsec = (ms % 1000) * 1000000;
	}
	timerfd_settime(p->timerfd, 0, &its, NULL);
}
