/* Requests that race with each other on the controller (no socket, no KVM): a backup while a
 * live migration owns the VM's pausing and dirty page log, and a migration asked for while a
 * snapshot is being written on the worker. The VM is a zeroed stand-in: the checks under test
 * come before anything touches it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "api/controller.h"
#include "api/router.h"
#include "migration/migration_int.h"
#include "util/log.h"
#include "vm/vm_internal.h"
#include "api_call.h"
#include "unit.h"

static struct vm *fake_running(struct controller *ctl, enum instance_state st)
{
	log_set_level(LOG_OFF);
	CHECK_EQ(ctl_init(ctl, NULL), 0);
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		abort();
	ctl->state = st;
	ctl->vm = vm;
	return vm;
}

static void teardown(struct controller *ctl, struct vm *vm)
{
	migration_free(ctl->mig);   /* no thread to stop */
	ctl->mig = NULL;
	ctl->vm = NULL;   /* not a real VM: nothing of it to destroy */
	free(vm);
	ctl_free(ctl);
}

/* PUT /snapshot/backup pauses the VM, resumes it and takes its dirty page log: during a live
 * migration (which owns both) it must be refused as PUT /snapshot/create is. */
TEST(backup_refused_during_migration)
{
	struct controller ctl;
	struct vm *vm = fake_running(&ctl, INSTANCE_RUNNING);
	struct mig_send_opts o = { .url = "unix:/nonexistent" };
	ctl.mig = mig_new_source(vm, &o, NULL, NULL);   /* ACTIVE, no thread */
	REQUIRE(ctl.mig != NULL);
	json_t *b = json_pack("{s:s}", "backup_dir", "/nonexistent-petrel-dir/b");
	struct snapshot_request *q;
	char err[512] = "";
	REQUIRE_EQ(ctl_snapshot_parse(b, SNAP_REQ_BACKUP, &q, err, sizeof(err)), 0);
	int r = ctl_snapshot_run(&ctl, q, err, sizeof(err));
	CHECK_EQ(r, -EBUSY);
	CHECK(strstr(err, "migration") != NULL);
	ctl_snapshot_request_free(q);
	json_decref(b);
	teardown(&ctl, vm);
}

/* While the worker writes a snapshot of the paused VM (it takes the dirty page log), PUT
 * /migration/send on the API thread must not start a migration of that VM. */
TEST(migration_refused_while_a_snapshot_is_written)
{
	struct controller ctl;
	struct vm *vm = fake_running(&ctl, INSTANCE_PAUSED);
	ctl.snapshot_busy = true;   /* what ctl_snapshot_run sets while it works */
	json_t *out = NULL;
	unsigned st = api(&ctl, "PUT", "/migration/send", "{\"destination_url\": \"unix:/nonexistent-petrel.sock\"}",
			  &out);
	CHECK_EQ(st, 400);
	const char *msg = json_string_value(json_object_get(out, "fault_message"));
	CHECK(msg && strstr(msg, "snapshot"));
	CHECK(ctl.mig == NULL);
	json_decref(out);
	ctl.snapshot_busy = false;
	teardown(&ctl, vm);
}

/* PATCH /drives path_on_host frees the drive's old path: while a migration's thread reads the
 * VM's definition (its state, the disks it copies) it must be refused and change nothing. */
TEST(drive_path_swap_refused_during_migration)
{
	struct controller ctl;
	struct vm *vm = fake_running(&ctl, INSTANCE_NOT_STARTED);
	ctl.dry_run = true;
	CHECK_EQ(api(&ctl, "PUT", "/drives/d0", "{\"drive_id\": \"d0\", \"path_on_host\": \"/a.img\", "
		     "\"is_root_device\": false, \"is_read_only\": true}", NULL), 204);
	ctl.state = INSTANCE_RUNNING;
	struct mig_send_opts o = { .url = "unix:/nonexistent" };
	ctl.mig = mig_new_source(vm, &o, NULL, NULL);
	json_t *out = NULL;
	unsigned st = api(&ctl, "PATCH", "/drives/d0", "{\"drive_id\": \"d0\", \"path_on_host\": \"/b.img\"}", &out);
	CHECK_EQ(st, 400);
	const char *msg = json_string_value(json_object_get(out, "fault_message"));
	CHECK(msg && strstr(msg, "migration"));
	CHECK_STR_EQ(ctl.cfg.drives[0].path_on_host, "/a.img");
	json_decref(out);
	teardown(&ctl, vm);
}

/* PUT /serial on a started microVM is refused (pre-boot only), and like every refused request
 * it changes nothing: not even the file it names is created. */
TEST(refused_serial_put_creates_no_file)
{
	struct controller ctl;
	struct vm *vm = fake_running(&ctl, INSTANCE_RUNNING);
	char path[] = "/tmp/petrel-serial-XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	close(fd);
	unlink(path);   /* a name nobody uses */
	char body[128];
	snprintf(body, sizeof(body), "{\"serial_out_path\": \"%s\"}", path);
	CHECK_EQ(api(&ctl, "PUT", "/serial", body, NULL), 400);
	CHECK(access(path, F_OK) != 0);
	unlink(path);
	teardown(&ctl, vm);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
