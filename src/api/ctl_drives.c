/* PUT and PATCH /drives/{id}: a block device before the start, its backing file and rate
 * limiter on a running microVM. See controller.h. */
#include "api/core.h"
#include "devices/virtio/blk/blk.h"
#include "vm/vm.h"

#include <string.h>

int ctl_put_drive(struct controller *ctl, const char *id, json_t *body, char *err, size_t errlen)
{
	struct drive_config d;
	int r = drive_config_from_json(body, NULL, &d, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	if ((r = ctl_check_path_id("drive_id", d.drive_id, id, err, errlen)) < 0 ||
	    (r = ctl_check_file(ctl, "drive backing file", d.path_on_host, !d.is_read_only, true, err, errlen)) < 0) {
		drive_config_free(&d);
		return r;
	}
	pthread_mutex_lock(&ctl->lock);
	struct vm_config *cfg = &ctl->cfg;
	r = ctl_check_not_started(ctl, "drives", err, errlen);
	int found = -1;
	for (unsigned i = 0; r == 0 && i < cfg->ndrives; i++) {
		if (!strcmp(cfg->drives[i].drive_id, d.drive_id))
			found = (int)i;
		else if (d.is_root_device && cfg->drives[i].is_root_device)
			r = error_set(err, errlen, -EINVAL,
				      "drive '%s' cannot be the root device: '%s' already is", d.drive_id,
				      cfg->drives[i].drive_id);
	}
	if (r == 0 && d.is_root_device && pmem_root_index(cfg) >= 0)
		r = error_set(err, errlen, -EINVAL,
			      "drive '%s' cannot be the root device: pmem device '%s' already is", d.drive_id,
			      cfg->pmem[pmem_root_index(cfg)].id);
	if (r == 0 && found >= 0) {
		/* PUT on an existing id replaces that drive in place (keeping its position). */
		drive_config_free(&cfg->drives[found]);
		cfg->drives[found] = d;
		memset(&d, 0, sizeof(d));
	} else if (r == 0) {
		char msg[256];
		r = vm_config_add_drive(cfg, &d, msg, sizeof(msg));
		if (r < 0)
			r = error_set(err, errlen, -EINVAL, "%s", msg);
	}
	pthread_mutex_unlock(&ctl->lock);
	drive_config_free(&d);
	return r;
}

/* PATCH path_on_host: the running virtio-blk device switches to the new file. The VM made
 * one device per drive, in the order of cfg.drives, so drives[idx] is blk[idx]: a device's
 * id (its GET_ID answer) holds only the first VIRTIO_BLK_ID_BYTES of a drive id, which
 * another drive may share. The id check only guards that correspondence. */
static int swap_drive_file(struct controller *ctl, int idx, const char *path, char *err,
			   size_t errlen)
{
	struct drive_config *dc = &ctl->cfg.drives[idx];
	struct virtio_blk *b = vm_blk(ctl->vm, (unsigned)idx);
	if (!b || strncmp(b->st.id, dc->drive_id, VIRTIO_BLK_ID_BYTES) != 0)
		return error_set(err, errlen, -EINVAL, "drive '%s' has no running device", dc->drive_id);
	int r = virtio_blk_swap_file(b, path);
	if (r < 0)
		return error_set(err, errlen, -EINVAL, "path_on_host: cannot use '%s': %s", path,
				 strerror(-r));
	char *copy = strdup(path);
	if (!copy)
		return error_oom(err, errlen);
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
		return error_set(err, errlen, -EBUSY,
				 "path_on_host cannot change while a snapshot, backup, live "
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
		r = error_set(err, errlen, -EINVAL,
			      "nothing to update: give path_on_host and/or rate_limiter");
	if (r == 0) {
		pthread_mutex_lock(&ctl->lock);
		int idx = -1;
		for (unsigned i = 0; i < ctl->cfg.ndrives; i++)
			if (!strcmp(ctl->cfg.drives[i].drive_id, id))
				idx = (int)i;
		r = ctl_check_patch_device(ctl, "drive", idx >= 0, id, err, errlen);
		if (r == 0 && u.path_on_host && (r = check_path_swap_locked(ctl, err, errlen)) == 0)
			r = swap_drive_file(ctl, idx, u.path_on_host, err, errlen);
		if (r == 0 && u.rate_limiter.present) {
			/* The running device takes the new limits at once (a bucket given starts full, one left out is kept). */
			struct virtio_blk *b = vm_blk(ctl->vm, (unsigned)idx);
			if (b && (r = virtio_blk_set_rate_limiter(b, &u.rate_limiter)) < 0)
				r = error_set(err, errlen, -EIO, "rate_limiter: %s", strerror(-r));
			if (r == 0)
				rate_limiter_config_patch(&ctl->cfg.drives[idx].rate_limiter, &u.rate_limiter);
		}
		pthread_mutex_unlock(&ctl->lock);
	}
	drive_update_free(&u);
	return r;
}
