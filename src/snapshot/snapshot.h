/* Snapshots of a whole VM: its state file (every component's state as it encodes it itself,
 * field by field: devices/dev_state.h, one section each in the format of format.h) and its
 * memory file (guest RAM, region after region, zero pages left as holes). Live migration and
 * replication carry the same sections. */
#ifndef PETREL_SNAPSHOT_SNAPSHOT_H
#define PETREL_SNAPSHOT_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/devices_config.h"
#include "memory/backing.h"

struct vm;
struct vm_config;

#define SNAP_MAX_NET_OVERRIDES 16
#define SNAP_MAX_DRIVE_OVERRIDES 16 /* DEVICES_MAX_DRIVES */

struct snapshot_create_opts {
	const char *state_path;
	const char *mem_path;
	bool diff;                /* only the pages written since the last snapshot (needs dirty
				   * tracking: track_dirty_pages) */
	char **drive_paths;       /* NULL, or per drive: the image the snapshot's definition names
				   * instead of the drive's own (a backup's copies) */
};

struct snapshot_net_override {
	const char *iface_id, *host_dev_name;
};

/* petrel's: another image for a drive (a clone's own copy or overlay, a backup's disk moved),
 * and with has_format its format (enum disk_format: a clone's qcow2 overlay over a drive the
 * template pinned raw); without, the drive keeps the format it had. */
struct snapshot_drive_override {
	const char *drive_id, *path_on_host;
	bool has_format;
	int format;
};

/* Where a restored guest's memory comes from. */
enum snap_mem_backend {
	SNAP_MEM_FILE,   /* the memory file mapped privately: pages come from the page cache */
	SNAP_MEM_UFFD,   /* Firecracker's: an external page-fault handler (mem_path: its socket) */
	SNAP_MEM_LAZY,   /* petrel's own pager copies the memory file in (memory/pager.h) */
};

struct snapshot_load_opts {
	const char *state_path;
	const char *mem_path;     /* the memory file; with SNAP_MEM_UFFD the handler's socket */
	enum snap_mem_backend backend;
	bool track_dirty_pages;
	bool clock_realtime;
	struct snapshot_net_override net[SNAP_MAX_NET_OVERRIDES];
	unsigned nnet;
	const char *vsock_uds_path;   /* NULL: keep the saved one */
	struct snapshot_drive_override drive[SNAP_MAX_DRIVE_OVERRIDES];
	unsigned ndrive;
	bool has_huge_pages;      /* huge_pages other than "Snapshot": back memory this way */
	enum guest_mem_backing huge_pages;
	/* the device end of the guest agent's socketpair (src/agent), for a definition that
	 * enables the agent and arrives with the state (an incoming migration): it becomes the
	 * definition's guest_agent_fd; the caller keeps and closes its own */
	bool has_guest_agent_fd;
	int guest_agent_fd;
};

/* Write the snapshot of a paused VM (vm_pause done: vCPUs parked, devices quiesced). Files go
 * to temporary names first and replace the targets only when complete. */
int snapshot_create(struct vm *vm, const struct snapshot_create_opts *o, char *err, size_t errlen);

/* Read and check a state file, and give the VM definition it records (with the load options'
 * overrides applied) in *cfg (initialised here; vm_config_free it). Nothing is created. */
int snapshot_read_config(const struct snapshot_load_opts *o, struct vm_config *cfg, char *err,
			 size_t errlen);
/* Build the VM the snapshot describes into *vm (zero-filled, as for vm_create; cfg from
 * snapshot_read_config, which must stay alive with the VM) and load every state; the caller starts it with vm_start. On failure the
 * VM is destroyed: no half-restored guest remains. */
int snapshot_load(struct vm *vm, const struct vm_config *cfg, const struct snapshot_load_opts *o,
		  int console_out_fd, char *err, size_t errlen);

/* Record in the state file at state_path how consistent it is ("filesystem" or "crash") and,
 * when the guest's file systems were frozen, for how long (its CNSY section; the file is
 * written again, atomically). */
int snapshot_note_consistency(const char *state_path, const char *consistency, bool frozen, uint64_t frozen_ms,
			      char *err, size_t errlen);

/* Describe a state file (version, id, vCPUs, memory layout, sections, the VM definition). */
#include <stdio.h>
int snapshot_info(const char *path, FILE *out, char *err, size_t errlen);
/* A running (or paused) VM into dir: vm.state, vm.mem and a copy of every disk (DRIVE_ID.img,
 * reflinked where the file system can), the VM paused only meanwhile and resumed after. */
int snapshot_backup(struct vm *vm, const char *dir, char *err, size_t errlen);

/* ---- chains of backups: full and incremental members (backup_member.c,
 * docs/snapshots.md#incremental-backups) ---- */
enum backup_mode { BACKUP_FULL, BACKUP_INCREMENTAL };
struct backup_backing {
	const char *drive_id, *file;  /* the previous member's file, relative to the new directory */
};
struct snapshot_backup_opts {
	const char *dir;
	enum backup_mode mode;
	const char *chain_id;         /* the caller's, kept with each disk's bitmap ("" or NULL: none) */
	const struct backup_backing *backing;
	unsigned nbacking;
};
/* One disk's member, as the answer lists it. */
struct backup_disk_result {
	char drive_id[64];
	enum backup_mode mode;        /* what it became */
	char why[320];                /* an incremental asked for that became full: why */
	char file[256];               /* the member's name in the directory */
	uint64_t bytes_written;       /* bytes the member file occupies (allocated) */
	uint64_t dirty_bytes;         /* the bitmap's marks taken (64 KiB each) */
	char sha256[65];              /* of the member file, hex */
};
struct snapshot_backup_result {
	unsigned ndisks;
	struct backup_disk_result disks[DEVICES_MAX_DRIVES];
};
/* snapshot_backup with a mode: a full member (the disk copied whole, DRIVE_ID.img, as above)
 * or an incremental one (DRIVE_ID.qcow2: only the chunks the disk's backup bitmap marks,
 * backed by the previous member); each disk's bitmap is cleared once its member is in place
 * (a failure keeps the marks). res lists the members. */
int snapshot_backup_run(struct vm *vm, const struct snapshot_backup_opts *o, struct snapshot_backup_result *res,
			char *err, size_t errlen);
/* Fold the chain ending at state (mem: its memory file; NULL: the recorded one) into one full
 * snapshot written to out_state and out_mem (atomically, like a create). */
int snapshot_merge(const char *state, const char *mem, const char *out_state, const char *out_mem,
		   char *err, size_t errlen);

/* ---- the same state for live migration and replication (no files) ---- */
struct snap_writer;
/* The VM section, the machine's definition and memory layout, finished: what a receiver needs
 * to build the machine (the guest may be running). */
int snapshot_definition_build(struct vm *vm, struct snap_writer *w, char *err, size_t errlen);
/* Every section of a paused VM's state into w, finished (a state file's bytes); mem_abs: the
 * memory file it will name ("" for none), drive_paths as in snapshot_create_opts, dirty: a
 * Diff of these pages (each region's bitmap): name the parent and the pages; NULL: a full
 * state. The new snapshot id goes to id. */
int snapshot_state_build(struct vm *vm, const char *mem_abs, char *const *drive_paths, uint64_t *const *dirty,
			 struct snap_writer *w, uint8_t id[16], char *err, size_t errlen);
/* snapshot_read_config over a state in memory (buf, len); o gives only the overrides. */
int snapshot_config_from_buf(const uint8_t *buf, size_t len, const struct snapshot_load_opts *o,
			     struct vm_config *cfg, char *err, size_t errlen);
/* Load every state in buf into vm, built from its definition (vm_create_restored) with its
 * memory filled; the caller starts it. On failure the caller destroys the VM. */
int snapshot_states_from_buf(struct vm *vm, const uint8_t *buf, size_t len, const struct snapshot_load_opts *o,
			     char *err, size_t errlen);

#endif
