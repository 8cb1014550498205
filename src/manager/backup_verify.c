/* Checksums and verification of backups (backup_verify.h). */
#include "manager/backup_verify.h"
#include "block/qcow2_format.h"
#include "manager/backup_chain.h"
#include "manager/defs.h"
#include "manager/definition.h"
#include "manager/fsutil.h"
#include "manager/jail_fill.h"
#include "util/error.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The SHA-256 of the file at path, as 64 hex digits into hex. 0 or -errno. */
static int file_sha256(const char *path, char hex[2 * SHA256_DIGEST_SIZE + 1])
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	size_t size = 1 << 20;
	_cleanup_free_ uint8_t *buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(fd, buf, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		sha256_update(&ctx, (size_t)n, buf);
	}
	uint8_t d[SHA256_DIGEST_SIZE];
	sha256_digest(&ctx, sizeof(d), d);
	for (size_t i = 0; i < sizeof(d); i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	return 0;
}

/* The worker's checksum of file (its answer's "disks"), when it gave a well-formed one. */
static const char *worker_sum(const json_t *disks, const char *file)
{
	size_t i;
	const json_t *d;
	json_array_foreach(disks, i, d) {
		const char *f = json_string_value(json_object_get(d, "file"));
		const char *h = json_string_value(json_object_get(d, "sha256"));
		if (!f || !h || strcmp(f, file) || strlen(h) != 2 * SHA256_DIGEST_SIZE ||
		    strspn(h, "0123456789abcdef") != 2 * SHA256_DIGEST_SIZE)
			continue;
		return h;
	}
	return NULL;
}

int backup_checksums(const char *dir, const json_t *disks, json_t **out, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	if (!d)
		return error_set(err, errlen, -errno, "cannot read %s: %s", dir, strerror(errno));
	json_t *o = json_object();
	int e = 0;
	struct dirent *de;
	while (!e && (de = readdir(d))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "meta.json"))
			continue;
		char path[PATH_MAX + 260], hex[2 * SHA256_DIGEST_SIZE + 1];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		const char *given = worker_sum(disks, de->d_name);
		if (given)
			json_object_set_new(o, de->d_name, json_string(given));
		else if ((e = file_sha256(path, hex)) < 0)
			e = error_set(err, errlen, e, "cannot read %s for its checksum: %s", path, strerror(-e));
		else
			json_object_set_new(o, de->d_name, json_string(hex));
	}
	closedir(d);
	if (e < 0) {
		json_decref(o);
		return e;
	}
	*out = o;
	return 0;
}

/* A member's file: a name in its directory (meta.json is the backup's, its names untrusted). */
static bool file_name_ok(const char *f)
{
	size_t n = strlen(f);
	return n > 0 && n < 256 && f[0] != '.' && !strchr(f, '/');
}

static void problem(json_t *rep, const char *fmt, const char *a, const char *b)
{
	char msg[PATH_MAX + 600];
	snprintf(msg, sizeof(msg), fmt, a, b);
	json_array_append_new(json_object_get(rep, "problems"), json_string(msg));
}

/* The links of a member's incremental disk members (meta.json's "disks"): each qcow2's backing
 * file is its drive's member in the parent ("../PARENT/FILE"), and that file is there. */
static void verify_links(const char *parent_dir, const char *name, const char *dir, json_t *meta, const char *parent,
			 json_t *rep)
{
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(meta, "disks"), i, d) {
		const char *file = json_string_value(json_object_get(d, "file")), *mode = json_string_value(json_object_get(d, "mode"));
		const char *id = json_string_value(json_object_get(d, "drive_id"));
		if (!file || !id || !mode || strcmp(mode, "incremental") || !file_name_ok(file))
			continue;
		char path[PATH_MAX + 400], want[2 * VM_NAME_MAX + 100], err[300], msg[PATH_MAX + 500];
		struct qcow2_header h;
		snprintf(path, sizeof(path), "%s/%s", dir, file);
		if (access(path, F_OK) < 0)
			continue;   /* said already: missing */
		json_t *pm = NULL;
		if (parent[0]) {
			char pdir[PATH_MAX + 80];
			snprintf(pdir, sizeof(pdir), "%s/%s", parent_dir, parent);
			pm = meta_dir_read(pdir);
		}
		char pfile[VM_NAME_MAX + 80];
		backup_member_file(pm, id, pfile, sizeof(pfile));
		json_decref(pm);
		snprintf(want, sizeof(want), "../%s/%s", parent, pfile);
		if (!parent[0])
			snprintf(msg, sizeof(msg), "member '%s': %s is incremental but the member names no parent", name, file);
		else if (disk_qcow2_header(path, "qcow2", &h, err, sizeof(err)) < 0)
			snprintf(msg, sizeof(msg), "member '%s': %s is no qcow2 image (%s)", name, file, err);
		else if (strcmp(h.backing_file, want))
			snprintf(msg, sizeof(msg), "member '%s': %s's backing file is '%s', not its parent's %s", name, file,
				 h.backing_file, want);
		else if (snprintf(path, sizeof(path), "%s/%s", dir, want) > 0 && access(path, F_OK) < 0)
			snprintf(msg, sizeof(msg), "member '%s': %s's backing file %s is missing", name, file, want);
		else
			continue;
		problem(rep, "%s%s", msg, "");
	}
}

/* One member: its files against its meta.json's checksums; its parent's name into parent ("" none). */
static void verify_member(const char *parent_dir, const char *name, json_t *rep, char *parent, size_t psize)
{
	char dir[PATH_MAX + 80];
	parent[0] = '\0';
	snprintf(dir, sizeof(dir), "%s/%s", parent_dir, name);
	json_array_append_new(json_object_get(rep, "chain"), json_string(name));
	struct stat st;
	if (stat(dir, &st) < 0) {
		problem(rep, "member '%s' is missing (%s)", name, dir);
		return;
	}
	json_t *meta = meta_dir_read(dir);
	json_t *sums = json_object_get(meta, "sha256");
	if (!json_is_object(sums)) {
		problem(rep, "member '%s' has no checksums in its meta.json%s", name, meta ? "" : " (unreadable)");
		json_decref(meta);
		return;
	}
	const char *file;
	json_t *want;
	json_object_foreach(sums, file, want) {
		char path[PATH_MAX + 400], hex[2 * SHA256_DIGEST_SIZE + 1];
		const char *status = "ok";
		snprintf(path, sizeof(path), "%s/%s", dir, file);
		bool safe = file_name_ok(file);
		int e = safe ? file_sha256(path, hex) : -EINVAL;
		if (e == -ENOENT) {
			status = "missing";
			problem(rep, "member '%s': %s is missing", name, file);
		} else if (e < 0) {
			status = "unreadable";
			problem(rep, "member '%s': %s cannot be read", name, safe ? file : "(a bad name)");
		} else if (!json_is_string(want) || strcmp(hex, json_string_value(want))) {
			status = "altered";
			problem(rep, "member '%s': %s is altered (its SHA-256 differs from the one recorded)", name, file);
		}
		json_array_append_new(json_object_get(rep, "files"),
				      json_pack("{s:s, s:s, s:s}", "backup", name, "file", safe ? file : "?", "status", status));
	}
	const char *p = json_string_value(json_object_get(meta, "parent"));
	if (p && mgr_vm_name_ok(p))
		snprintf(parent, psize, "%s", p);
	else if (p)
		problem(rep, "member '%s' names a parent that is no backup's name%s", name, "");
	verify_links(parent_dir, name, dir, meta, parent, rep);
	json_decref(meta);
}

json_t *backup_verify(const char *parent_dir, const char *name)
{
	json_t *rep = json_pack("{s:s, s:[], s:[], s:[]}", "backup", name, "chain", "files", "problems");
	char cur[VM_NAME_MAX + 1], next[VM_NAME_MAX + 1];
	snprintf(cur, sizeof(cur), "%s", name);
	for (unsigned depth = 0; cur[0]; depth++) {
		if (depth == BACKUP_CHAIN_MAX) {
			problem(rep, "the chain of '%s' is longer than %s members (a loop?)", name, "256");
			break;
		}
		verify_member(parent_dir, cur, rep, next, sizeof(next));
		memcpy(cur, next, sizeof(cur));
	}
	json_object_set_new(rep, "ok", json_boolean(json_array_size(json_object_get(rep, "problems")) == 0));
	return rep;
}
