/* The checks and small helpers the resource files (ctl_*.c) share: the instance's state, files
 * named in a request, ids in paths, PUT bodies parsed as config-file sections, the busy flags of
 * migration and replication, latencies and request counters. See core.h. */
#include "api/core.h"
#include "ha/replication.h"
#include "migration/migration.h"
#include "util/json_util.h"
#include "util/stat.h"
#include "util/tls.h"
#include "util/util.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ctl_check_not_started(const struct controller *ctl, const char *what, char *err,
			  size_t errlen)
{
	if (ctl->state == INSTANCE_NOT_STARTED)
		return 0;
	if (ctl->state == INSTANCE_STARTING)
		return error_set(err, errlen, -EBUSY, "%s cannot be changed: the microVM is starting", what);
	/* Firecracker's wording first: clients match it. */
	return error_set(err, errlen, -EBUSY, "The requested operation is not supported after starting the microVM: "
		    "%s cannot be changed after the microVM has started.", what);
}

/* Parse one section of the config-file format with vm_config_parse_json (so the API and
 * `petrel run --config` accept exactly the same objects) into a scratch config. */
int ctl_parse_section(const char *section, json_t *body, struct vm_config *tmp, char *err,
			 size_t errlen)
{
	vm_config_init(tmp);
	json_t *doc = json_object();
	if (!doc || json_object_set(doc, section, body) < 0) {
		json_decref(doc);
		return error_oom(err, errlen);
	}
	char *text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(doc);
	if (!text)
		return error_oom(err, errlen);
	int r = vm_config_parse_json(text, tmp, err, errlen);
	free(text);
	if (r < 0)
		vm_config_free(tmp);
	return r == -ENOMEM ? -ENOMEM : r < 0 ? -EINVAL : 0;
}

void ctl_take(char **dst, char **src)
{
	free(*dst);
	*dst = *src;
	*src = NULL;
}

/* The file must exist and be readable (and writable when asked) when it is configured, like
 * Firecracker checks at PUT time, so mistakes surface before InstanceStart. */
int ctl_check_file(struct controller *ctl, const char *what, const char *path, bool write, bool block_ok,
		   char *err, size_t errlen)
{
	if (ctl->dry_run)
		return 0;
	int fd = open(path, (write ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return error_set(err, errlen, -EINVAL, "%s '%s' cannot be opened%s: %s", what, path,
			    write ? " for writing" : "", strerror(errno));
	struct stat st;
	int r = fstat(fd, &st);
	close(fd);
	if (r < 0)
		return error_set(err, errlen, -EINVAL, "%s '%s': %s", what, path, strerror(errno));
	/* Regular files, and block devices for disks: not FIFOs (they would block petrel or feed it
	 * a stream), sockets, directories or character devices (/dev/zero, /dev/kvm). */
	if (!S_ISREG(st.st_mode) && !(block_ok && S_ISBLK(st.st_mode)))
		return error_set(err, errlen, -EINVAL, "%s '%s' is %s, not a regular file%s", what, path,
			    S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO"
			    : S_ISCHR(st.st_mode) ? "a character device" : S_ISSOCK(st.st_mode) ? "a socket"
			    : S_ISBLK(st.st_mode) ? "a block device" : "a special file",
			    block_ok ? " or block device" : "");
	return 0;
}

int ctl_check_path_id(const char *field, const char *body_id, const char *path_id, char *err,
		      size_t errlen)
{
	if (strcmp(body_id, path_id) != 0)
		return error_set(err, errlen, -EINVAL, "%s: '%s' in the body does not match '%s' in the "
			    "path", field, body_id, path_id);
	return 0;
}

/* PATCH of a device: only on a running microVM, only for a device it has. */
int ctl_check_patch_device(struct controller *ctl, const char *kind, bool exists, const char *id,
			char *err, size_t errlen)
{
	if (!started(ctl))
		return error_set(err, errlen, -EINVAL, "PATCH of a %s is only possible after the microVM "
			    "has started (use PUT before)", kind);
	if (!exists)
		return error_set(err, errlen, -EINVAL, "no %s with id '%s'", kind, id);
	return 0;
}

int ctl_json_fields(json_t *obj, const char *what, const char *const *allowed, char *err,
			size_t errlen)
{
	if (!json_is_object(obj))
		return error_set(err, errlen, -EINVAL, "%s: expected an object", what);
	const char *key;
	json_t *val;
	json_object_foreach(obj, key, val) {
		bool ok = false;
		for (const char *const *a = allowed; *a; a++)
			ok |= !strcmp(*a, key);
		if (!ok)
			return error_set(err, errlen, -EINVAL, "%s: unknown field", key);
	}
	return 0;
}

/* Optional string field: NULL when absent. Empty strings and embedded NULs are refused. */
int ctl_json_opt_str(json_t *obj, const char *key, const char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v || json_is_null(v)) /* Firecracker: null is "not given" */
		return 0;
	if (!json_is_string(v))
		return error_set(err, errlen, -EINVAL, "%s: expected a string", key);
	if (json_string_length(v) == 0)
		return error_set(err, errlen, -EINVAL, "%s: must not be empty", key);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return error_set(err, errlen, -EINVAL, "%s: contains a NUL character", key);
	*out = json_string_value(v);
	return 0;
}

int ctl_json_opt_bool(json_t *obj, const char *key, bool dflt, bool *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	*out = dflt;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return error_set(err, errlen, -EINVAL, "%s: expected a boolean", key);
	*out = json_is_true(v);
	return 0;
}

const char *ctl_level_name(enum log_level l)
{
	switch (l) {
	case LOG_OFF: return "Off";
	case LOG_ERROR: return "Error";
	case LOG_WARN: return "Warning";
	case LOG_INFO: return "Info";
	case LOG_DEBUG: return "Debug";
	default: return "Trace";
	}
}

int ctl_dup_opt(char **dst, const char *src)
{
	char *s = src ? strdup(src) : NULL;
	if (src && !s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

bool ctl_migration_active(struct controller *ctl)
{
	if (!ctl->mig)
		return false;
	struct mig_status st;
	migration_status(ctl->mig, &st);
	return st.state == MIG_STATE_ACTIVE;
}

bool ctl_replication_active(struct controller *ctl)
{
	if (!ctl->repl)
		return false;
	struct repl_status st;
	replication_status(ctl->repl, &st);
	return st.role == REPL_PRIMARY && (st.state == REPL_SYNCING || st.state == REPL_PROTECTED);
}

void ctl_note_latency(struct controller *ctl, enum ctl_latency which, uint64_t t0_ns)
{
	__atomic_store_n(&ctl->latency_us[which], (now_ns() - t0_ns) / 1000, __ATOMIC_RELAXED);
}

void ctl_count_request(struct controller *ctl, enum api_counter counter, bool failed)
{
	pthread_mutex_lock(&ctl->lock);
	ctl->api_requests[counter].count++;
	ctl->api_requests[counter].fails += failed;
	pthread_mutex_unlock(&ctl->lock);
}

/* "tls_dir": a tls: url's certificates (ca.pem, cert.pem, key.pem), loaded now, so that a missing
 * or bad file is the request's error rather than the migration's. */
int ctl_tls_field(json_t *b, struct tls_creds **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(b, "tls_dir");
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || !json_string_length(v) || strlen(json_string_value(v)) != json_string_length(v))
		return error_set(err, errlen, -EINVAL, "tls_dir: expected a directory's path");
	int e = tls_creds_load(json_string_value(v), out, err, errlen);
	return e < 0 ? -EINVAL : 0;
}
