/* Requests on a running microVM: PATCH of a drive or network interface, Ctrl-Alt-Del, and
 * pausing and resuming (checked here, done on the worker). See controller.h. */
#include "api/ctl_internal.h"
#include "util/event_monitor.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/net.h"
#include "util/util.h"
#include "vm/vm.h"

#include <string.h>

/* PATCH of a device: only on a running microVM, only for a device it has. */
static int patch_device(struct controller *ctl, const char *kind, bool exists, const char *id,
			char *err, size_t errlen)
{
	if (!started(ctl))
		return fail(err, errlen, -EINVAL, "PATCH of a %s is only possible after the microVM "
			    "has started (use PUT before)", kind);
	if (!exists)
		return fail(err, errlen, -EINVAL, "no %s with id '%s'", kind, id);
	return 0;
}

/* PATCH path_on_host: the running virtio-blk device switches to the new file. The VM made
 * one device per drive, in the order of cfg.drives, so drives[idx] is blk[idx]: a device's
 * id (its GET_ID answer) holds only the first VIRTIO_BLK_ID_BYTES of a drive id, which
 * another drive may share. The id check only guards that correspondence. */
static int swap_drive_file(struct controller *ctl, int idx, const char *path, char *err,
			   size_t errlen)
{
	struct drive_config *dc = &ctl->cfg.drives[idx];
	struct vm_devices *vd = &ctl->vm->devs;
	struct virtio_blk *b = (unsigned)idx < vd->nblk ? vd->blk[idx] : NULL;
	if (!b || strncmp(b->st.id, dc->drive_id, VIRTIO_BLK_ID_BYTES) != 0)
		return fail(err, errlen, -EINVAL, "drive '%s' has no running device", dc->drive_id);
	int r = virtio_blk_swap_file(b, path);
	if (r < 0)
		return fail(err, errlen, -EINVAL, "path_on_host: cannot use '%s': %s", path,
			    strerror(-r));
	char *copy = strdup(path);
	if (!copy)
		return oom(err, errlen);
	free(dc->path_on_host);
	dc->path_on_host = copy;
	return 0;
}

/* A snapshot or backup (the worker), a migration or a replication checkpoint (their threads)
 * read the VM's definition, drive paths included, without the lock, and copy or mirror the
 * drive's file: while one is under way the path must stay (freeing it would pull the string
 * from under their feet). Lock held. */
static int check_path_swap_locked(struct controller *ctl, char *err, size_t errlen)
{
	if (ctl->snapshot_busy || ctl_migration_active(ctl) || ctl_replication_active(ctl))
		return fail(err, errlen, -EBUSY, "path_on_host cannot change while a snapshot, backup, live "
			    "migration or replication is under way");
	return 0;
}

int ctl_patch_drive(struct controller *ctl, const char *id, json_t *body, char *err,
		    size_t errlen)
{
	struct drive_update u;
	int r = drive_update_from_json(body, NULL, &u, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	r = ctl_check_path_id("drive_id", u.drive_id, id, err, errlen);
	if (r == 0 && u.path_on_host)
		r = ctl_check_file(ctl, "drive backing file", u.path_on_host, false, true, err, errlen);
	if (r == 0 && !u.path_on_host && !u.rate_limiter.present)
		r = fail(err, errlen, -EINVAL, "nothing to update: give path_on_host and/or "
			 "rate_limiter");
	if (r == 0) {
		pthread_mutex_lock(&ctl->lock);
		int idx = -1;
		for (unsigned i = 0; i < ctl->cfg.ndrives; i++)
			if (!strcmp(ctl->cfg.drives[i].drive_id, id))
				idx = (int)i;
		r = patch_device(ctl, "drive", idx >= 0, id, err, errlen);
		if (r == 0 && u.path_on_host && (r = check_path_swap_locked(ctl, err, errlen)) == 0)
			r = swap_drive_file(ctl, idx, u.path_on_host, err, errlen);
		if (r == 0 && u.rate_limiter.present) {
			/* The running device takes the new limits at once (a bucket given starts full, one left out is kept). */
			struct vm_devices *vd = &ctl->vm->devs;
			struct virtio_blk *b = (unsigned)idx < vd->nblk ? vd->blk[idx] : NULL;
			if (b && (r = virtio_blk_set_rate_limiter(b, &u.rate_limiter)) < 0)
				r = fail(err, errlen, -EIO, "rate_limiter: %s", strerror(-r));
			if (r == 0)
				rate_limiter_config_patch(&ctl->cfg.drives[idx].rate_limiter, &u.rate_limiter);
		}
		pthread_mutex_unlock(&ctl->lock);
	}
	drive_update_free(&u);
	return r;
}

int ctl_patch_net(struct controller *ctl, const char *id, json_t *body, char *err, size_t errlen)
{
	struct net_update u;
	int r = net_update_from_json(body, NULL, &u, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	r = ctl_check_path_id("iface_id", u.iface_id, id, err, errlen);
	if (r == 0) {
		pthread_mutex_lock(&ctl->lock);
		int idx = -1;
		for (unsigned i = 0; i < ctl->cfg.nnets; i++)
			if (!strcmp(ctl->cfg.nets[i].iface_id, id))
				idx = (int)i;
		r = patch_device(ctl, "network interface", idx >= 0, id, err, errlen);
		if (r == 0 && !u.rx_rate_limiter.present && !u.tx_rate_limiter.present)
			r = fail(err, errlen, -EINVAL, "nothing to update: give rx_rate_limiter and/or "
				 "tx_rate_limiter");
		if (r == 0) {
			/* The running device takes the new limits at once (a bucket given starts
			 * full, one left out is kept): the virtio-net or E1000 of this interface. */
			struct vm_devices *vd = &ctl->vm->devs;
			struct virtio_net *n = NULL;
			struct e1000 *card = NULL;
			for (unsigned i = 0; i < vd->nnet; i++)
				if (!strcmp(vd->net[i]->iface_id, id))
					n = vd->net[i];
			for (unsigned i = 0; i < vd->ne1000; i++)
				if (!strcmp(vd->e1000[i]->iface_id, id))
					card = vd->e1000[i];
			if (n)
				r = virtio_net_set_rate_limiters(n, &u.rx_rate_limiter, &u.tx_rate_limiter);
			else if (card)
				r = e1000_set_rate_limiters(card, &u.rx_rate_limiter, &u.tx_rate_limiter);
			if (r < 0)
				r = fail(err, errlen, -EIO, "rate limiter: %s", strerror(-r));
			if (r == 0) {
				rate_limiter_config_patch(&ctl->cfg.nets[idx].rx_rate_limiter, &u.rx_rate_limiter);
				rate_limiter_config_patch(&ctl->cfg.nets[idx].tx_rate_limiter, &u.tx_rate_limiter);
			}
		}
		pthread_mutex_unlock(&ctl->lock);
	}
	net_update_free(&u);
	return r;
}

int ctl_send_ctrl_alt_del(struct controller *ctl, char *err, size_t errlen)
{
	pthread_mutex_lock(&ctl->lock);
	int r;
	if (!started(ctl))
		r = fail(err, errlen, -EINVAL, "SendCtrlAltDel needs a running microVM (%s)",
			 ctl->state == INSTANCE_STOPPED ? "it has stopped" : "it has not started");
	else if (i8042_send_ctrl_alt_del(&ctl->vm->i8042) < 0)
		r = fail(err, errlen, -EINVAL, "the guest keyboard buffer is full (the guest is not "
			 "reading the i8042)");
	else
		r = 0;
	pthread_mutex_unlock(&ctl->lock);
	if (r == 0)
		log_info("sent Ctrl-Alt-Del to the guest");
	return r;
}

int ctl_check_vm_state_change(struct controller *ctl, char *err, size_t errlen)
{
	pthread_mutex_lock(&ctl->lock);
	/* Before the start in Firecracker's words (its clients may match them). */
	int r = started(ctl) ? 0 : ctl->state == INSTANCE_STOPPED ?
		fail(err, errlen, -EINVAL, "the microVM is not running (it has stopped)") :
		fail(err, errlen, -EINVAL, CTL_NOT_BEFORE_START);
	if (r == 0 && ctl_migration_active(ctl))
		r = fail(err, errlen, -EBUSY, "a live migration is in progress (GET /migration)");
	pthread_mutex_unlock(&ctl->lock);
	return r;
}

/* PATCH /vm: vm_pause waits for every vCPU to leave KVM_RUN, the reason this runs on the
 * worker and not on the API thread. */
int ctl_pause_resume(struct controller *ctl, bool pause, char *err, size_t errlen)
{
	pthread_mutex_lock(&ctl->lock);
	if (!started(ctl)) {
		pthread_mutex_unlock(&ctl->lock);
		return fail(err, errlen, -EINVAL, "the microVM is not running");
	}
	struct vm *vm = ctl->vm;
	pthread_mutex_unlock(&ctl->lock);
	uint64_t t0 = now_ns();
	vm_pause_exclusive(vm);
	/* Checked at the request, and again now: a migration started in between owns pausing
	 * (a replication checkpoint holds vm_pause_exclusive while it pauses and resumes). */
	pthread_mutex_lock(&ctl->lock);
	bool migrating = ctl_migration_active(ctl);
	pthread_mutex_unlock(&ctl->lock);
	if (migrating) {
		vm_pause_release(vm);
		return fail(err, errlen, -EBUSY, "a live migration is in progress (GET /migration)");
	}
	int r = pause ? vm_pause(vm) : vm_resume(vm);
	vm_pause_release(vm);
	if (r == 0)
		ctl_note_latency(ctl, pause ? LAT_PAUSE_VM : LAT_RESUME_VM, t0);
	pthread_mutex_lock(&ctl->lock);
	if (r == 0 && started(ctl))
		ctl->state = pause ? INSTANCE_PAUSED : INSTANCE_RUNNING;
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0)
		return fail(err, errlen, -EINVAL, "the microVM is shutting down");
	log_info("microVM %s", pause ? "paused" : "resumed");
	event_emit("vm", pause ? "paused" : "resumed", NULL);
	return 0;
}
