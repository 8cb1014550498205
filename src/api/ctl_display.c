/* petrel's display requests (docs/display.md): PUT /display before the start; and, for the
 * tests only (petrel run with --debug-exit), PUT /display/frame (the frame through display.h,
 * written to a file) and PUT /display/input (keys and the pointer). The worker's VNC server is
 * the real reader and writer. See controller.h. */
#include "api/core.h"
#include "config/display_config.h"
#include "devices/display/display.h"
#include "util/bitmap.h"
#include "util/json_util.h"
#include "vm/vm.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TEST_ONLY "test-only: petrel serves it with --debug-exit"

int ctl_put_display(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	_cleanup_(display_config_free) struct display_config d = { 0 };
	int r = display_config_from_json(body, NULL, &d, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "the display", err, errlen);
	if (r == 0) {
		display_config_free(&ctl->cfg.display);
		ctl->cfg.display = TAKE_STRUCT(d);
		ctl->cfg.has_display = true;
	}
	pthread_mutex_unlock(&ctl->lock);
	return r;
}

/* The running VM's display (lock held), or NULL with err set. */
static struct display *test_display(struct controller *ctl, int *r, char *err, size_t errlen)
{
	*r = 0;
	if (!ctl->cfg.debug_exit)
		*r = error_set(err, errlen, -EINVAL, TEST_ONLY);
	else if (!started(ctl) || !ctl->vm)
		*r = error_set(err, errlen, -EINVAL, CTL_NOT_BEFORE_START);
	else if (!vm_display(ctl->vm))
		*r = error_set(err, errlen, -EINVAL, "the microVM has no display");
	return *r ? NULL : vm_display(ctl->vm);
}

/* The lines changed since the last call and the frame, its lines packed (width * 4 bytes
 * each) into the file `path`. */
static int write_frame(struct display *d, const char *path, json_t **out, char *err, size_t errlen)
{
	_cleanup_free_ uint64_t *lines = calloc(BITMAP_WORDS(UINT16_MAX + 1), 8);
	if (!lines)
		return error_oom(err, errlen);
	int changed = display_changed(d, lines, UINT16_MAX + 1);
	if (changed < 0)
		return error_set(err, errlen, changed, "display_changed: %s", strerror(-changed));
	int first = -1, last = -1;
	for (uint32_t y = 0; y <= UINT16_MAX; y++)
		if (bitmap_test(lines, y)) {
			first = first < 0 ? (int)y : first;
			last = (int)y;
		}
	struct display_mode m;
	const uint8_t *p = display_frame(d, &m);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return error_set(err, errlen, -errno, "cannot open %s: %s", path, strerror(errno));
	for (uint32_t y = 0; p && m.enabled && y < m.height; y++)
		if (write(fd, p + (uint64_t)y * m.stride, (size_t)m.width * 4) != (ssize_t)m.width * 4)
			return error_set(err, errlen, -EIO, "cannot write %s: %s", path, strerror(errno));
	*out = json_pack("{s:b, s:i, s:i, s:i, s:i, s:I, s:i, s:i, s:i}", "enabled", m.enabled, "width",
			 (int)m.width, "height", (int)m.height, "stride", (int)m.stride, "bpp", (int)m.bpp,
			 "generation", (json_int_t)m.generation, "changed_lines", changed, "first_changed", first,
			 "last_changed", last);
	return *out ? 0 : error_oom(err, errlen);
}

int ctl_test_display_frame(struct controller *ctl, json_t *body, json_t **out, char *err, size_t errlen)
{
	static const char *const keys[] = { "path", NULL };
	const char *path = json_string_value(json_object_get(body, "path"));
	int r = json_check_keys(body, NULL, keys, err, errlen);
	if (r < 0)
		return r;
	if (!path || path[0] != '/')
		return error_set(err, errlen, -EINVAL, "path: expected an absolute path");
	pthread_mutex_lock(&ctl->lock);
	struct display *d = test_display(ctl, &r, err, errlen);
	if (d)
		r = write_frame(d, path, out, err, errlen);
	pthread_mutex_unlock(&ctl->lock);
	return r;
}

/* {"keys": [[xt, down], ...]}, {"pointer": [x, y, buttons]}, {"motion": [dx, dy, buttons]}. */
static int send_input(struct display *d, json_t *body, char *err, size_t errlen)
{
	json_t *keys = json_object_get(body, "keys"), *el;
	size_t i;
	json_array_foreach(keys, i, el) {
		json_t *code = json_array_get(el, 0), *down = json_array_get(el, 1);
		if (!json_is_integer(code) || !json_is_boolean(down))
			return error_set(err, errlen, -EINVAL, "keys[%zu]: expected [code, down]", i);
		display_key(d, (uint16_t)json_integer_value(code), json_is_true(down));
	}
	json_t *ptr = json_object_get(body, "pointer"), *mot = json_object_get(body, "motion");
	json_t *v = ptr ? ptr : mot;
	if (v && (json_array_size(v) != 3 || !json_is_integer(json_array_get(v, 0)) ||
		  !json_is_integer(json_array_get(v, 1)) || !json_is_integer(json_array_get(v, 2))))
		return error_set(err, errlen, -EINVAL, "%s: expected [x, y, buttons]", ptr ? "pointer" : "motion");
	int64_t a = v ? json_integer_value(json_array_get(v, 0)) : 0, b = v ? json_integer_value(json_array_get(v, 1)) : 0;
	uint32_t buttons = v ? (uint32_t)json_integer_value(json_array_get(v, 2)) : 0;
	if (ptr)
		display_pointer_abs(d, (uint32_t)a, (uint32_t)b, buttons);
	else if (mot)
		display_pointer_rel(d, (int32_t)a, (int32_t)b, buttons);
	return 0;
}

int ctl_test_display_input(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	static const char *const keys[] = { "keys", "pointer", "motion", NULL };
	int r = json_check_keys(body, NULL, keys, err, errlen);
	if (r < 0)
		return r;
	pthread_mutex_lock(&ctl->lock);
	struct display *d = test_display(ctl, &r, err, errlen);
	if (d)
		r = send_input(d, body, err, errlen);
	pthread_mutex_unlock(&ctl->lock);
	return r;
}
