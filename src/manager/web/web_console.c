/* GET /vms/NAME/console with Upgrade: websocket (web_api.c): the VM's serial console for the
 * page's terminal (xterm.js). One thread per viewer, as GET /vms/NAME/console's readers
 * (console.c): the worker's log file is followed and sent (web_ws.c); what the browser sends is
 * typed into the guest through POST /vms/NAME/console's path (console_input.c), admin only. */
#include "manager/console.h"
#include "manager/events.h"
#include "manager/mgr.h"
#include "manager/util.h"
#include "manager/web/web.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct console_ws {
	struct manager *m;
	char vm[VM_NAME_MAX + 1];
	char log[PATH_MAX];
	bool may_type;
};

static void typed(void *arg, const uint8_t *data, size_t len)
{
	struct console_ws *c = arg;
	if (!c->may_type)
		return; /* readonly: the terminal shows, it does not type */
	char err[256];
	pthread_mutex_lock(&c->m->lock);
	struct mgr_vm *vm = mgr_vm_find(c->m, c->vm);
	if (vm && console_input_write(c->m, vm, (const char *)data, len, err, sizeof(err)) < 0)
		mgr_vm_log(c->m, c->vm, "console (web): input dropped: %s", err);
	pthread_mutex_unlock(&c->m->lock);
}

struct console_run {
	struct console_ws c;
	int fd;
};

static void *run(void *arg)
{
	struct console_run *r = arg;
	web_ws_session(r->fd, r->c.log, typed, &r->c);
	close(r->fd);
	free(r);
	return NULL;
}

static void ws_console_stream(void *arg, int fd)
{
	struct console_run *r = arg;
	if (fd < 0) {
		free(r);
		return;
	}
	r->fd = fd;
	if (mgr_detached(run, r) < 0) {
		close(fd);
		free(r);
	}
}

enum api_result web_ws_console(struct manager *m, const char *vm, const char *key, bool may_type,
			       struct api_response *r)
{
	char accept[29];
	if (web_ws_accept(key, accept) < 0) {
		api_response_fault(r, 400, "a WebSocket handshake needs Sec-WebSocket-Key (16 bytes, base64)");
		return API_DONE;
	}
	struct console_run *c = calloc(1, sizeof(*c));
	if (!c || asprintf(&r->headers, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n",
			   accept) < 0) {
		free(c);
		r->headers = NULL;
		api_response_fault(r, 500, "out of memory");
		return API_DONE;
	}
	c->c.m = m;
	c->c.may_type = may_type;
	snprintf(c->c.vm, sizeof(c->c.vm), "%s", vm);
	snprintf(c->c.log, sizeof(c->c.log), "%s/logs/%s.worker.log", m->state_dir, vm);
	r->status = 101;
	r->stream = ws_console_stream;
	r->stream_opaque = c;
	return API_DONE;
}
