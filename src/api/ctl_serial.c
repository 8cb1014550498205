/* PUT /serial: where the serial console's output goes and its rate limiter (pre-boot). See
 * controller.h. */
#include "api/core.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ctl_put_serial(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	static const char *const keys[] = { "serial_out_path", "rate_limiter", NULL };
	const char *path;
	int r;
	if ((r = ctl_json_fields(body, "serial", keys, err, errlen)) < 0 ||
	    (r = ctl_json_opt_str(body, "serial_out_path", &path, err, errlen)) < 0)
		return r;
	/* A TokenBucket for the output bandwidth (bytes): what exceeds it is dropped and counted in
	 * uart.rate_limiter_dropped_bytes, as in Firecracker. */
	struct token_bucket_config limit;
	json_t *rl = json_object_get(body, "rate_limiter");
	if ((r = token_bucket_config_from_json(rl ? rl : json_null(), "rate_limiter", &limit, err,
					       errlen)) < 0)
		return r;
	int fd = -1;
	if (path && ctl->dry_run)
		return error_set(err, errlen, -EINVAL, "serial_out_path: no host files in a dry run");
	/* Refused after the start: before the file is opened (it would be created). */
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "the serial console", err, errlen);
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0)
		return r;
	if (path) {
		struct stat st;
		int flags = O_CLOEXEC | O_NOCTTY;
		/* A named pipe is opened read-write so that opening it never waits for a reader. */
		if (stat(path, &st) == 0 && S_ISFIFO(st.st_mode))
			flags |= O_RDWR;
		else
			flags |= O_WRONLY | O_APPEND | O_CREAT;
		fd = open(path, flags, 0640);
		if (fd < 0)
			return error_set(err, errlen, -EINVAL, "serial_out_path: cannot open '%s': %s", path,
					 strerror(errno));
	}
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "the serial console", err, errlen); /* again: a start may have come */
	if (r == 0 && (r = ctl_dup_opt(&ctl->serial_path, path)) < 0)
		r = error_oom(err, errlen);
	if (r == 0) {
		ctl->serial_limit = limit;
		if (ctl->serial_fd >= 0)
			close(ctl->serial_fd);
		ctl->serial_fd = fd;
		fd = -1;
	}
	pthread_mutex_unlock(&ctl->lock);
	if (fd >= 0)
		close(fd);
	return r;
}
