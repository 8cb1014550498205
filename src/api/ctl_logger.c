/* PUT /logger: where petrel's log goes, its level and format (pre-boot). See controller.h. */
#include "api/core.h"

#include <string.h>

int ctl_put_logger(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	static const char *const keys[] = { "log_path", "level", "show_level", "show_log_origin",
					    "module", NULL };
	const char *path, *level_s, *module;
	bool show_level, show_origin;
	enum log_level level = LOG_INFO;   /* the spec's default */
	int r;
	if ((r = ctl_json_fields(body, "logger", keys, err, errlen)) < 0 ||
	    (r = ctl_json_opt_str(body, "log_path", &path, err, errlen)) < 0 ||
	    (r = ctl_json_opt_str(body, "level", &level_s, err, errlen)) < 0 ||
	    (r = ctl_json_opt_str(body, "module", &module, err, errlen)) < 0 ||
	    (r = ctl_json_opt_bool(body, "show_level", false, &show_level, err, errlen)) < 0 ||
	    (r = ctl_json_opt_bool(body, "show_log_origin", false, &show_origin, err, errlen)) < 0)
		return r;
	if (level_s && log_level_from_name(level_s, &level) < 0)
		return error_set(err, errlen, -EINVAL,
				 "level: expected one of Error, Warning, Info, Debug, "
				 "Trace, Off (any case), not '%s'",
				 level_s);
	if (ctl->dry_run)
		return path ? error_set(err, errlen, -EINVAL, "log_path: no host files in a dry run") : 0;
	pthread_mutex_lock(&ctl->lock);
	/* Firecracker: the logger is pre-boot configuration. */
	if ((r = ctl_check_not_started(ctl, "the logger", err, errlen)) < 0) {
		pthread_mutex_unlock(&ctl->lock);
		return r;
	}
	if (path && (r = log_set_path(path)) < 0) {
		pthread_mutex_unlock(&ctl->lock);
		return error_set(err, errlen, -EINVAL, "log_path: cannot open '%s': %s", path, strerror(-r));
	}
	log_set_level(level);
	log_set_format(show_level, show_origin);
	log_set_module(module);
	struct logger_settings *l = &ctl->logger;
	if (path)
		r = ctl_dup_opt(&l->log_path, path);
	if (r == 0)
		r = ctl_dup_opt(&l->module, module);
	l->level = level;
	l->show_level = show_level;
	l->show_log_origin = show_origin;
	l->configured = true;
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0)
		return error_oom(err, errlen);
	log_info("logger configured: level %s%s%s", ctl_level_name(level), path ? ", to " : "",
		 path ? path : "");
	return 0;
}
