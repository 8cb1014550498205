/* The "display" section: see display_config.h. */
#include "config/display_config.h"
#include "util/error.h"
#include "util/json_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define WHERE(w) ((w) && *(w) ? (w) : "display")

static const char *const model_names[] = { [DISPLAY_MODEL_BOCHS] = "bochs", [DISPLAY_MODEL_STDVGA] = "stdvga" };

const char *display_model_name(enum display_model m)
{
	return (unsigned)m < sizeof(model_names) / sizeof(model_names[0]) ? model_names[m] : "?";
}

void display_config_free(struct display_config *c)
{
	free(c->vnc_socket);
	c->vnc_socket = NULL;
}

int display_config_copy(struct display_config *dst, const struct display_config *src)
{
	*dst = *src;
	dst->vnc_socket = NULL;
	if (src->vnc_socket && !(dst->vnc_socket = strdup(src->vnc_socket)))
		return -ENOMEM;
	return 0;
}

static int get_model(json_t *obj, const char *where, enum display_model *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, "model");
	if (!v || json_is_null(v))
		return 0;
	for (unsigned m = 0; json_is_string(v) && m < sizeof(model_names) / sizeof(model_names[0]); m++)
		if (!strcmp(json_string_value(v), model_names[m])) {
			*out = (enum display_model)m;
			return 0;
		}
	return error_set(err, errlen, -EINVAL, "%s.model: expected \"bochs\" or \"stdvga\"", WHERE(where));
}

static int get_socket(json_t *obj, const char *where, char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, "vnc_socket");
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return error_set(err, errlen, -EINVAL, "%s.vnc_socket: expected a string", WHERE(where));
	size_t n = json_string_length(v);
	if (n == 0 || n > DISPLAY_SOCKET_MAX || strlen(json_string_value(v)) != n)
		return error_set(err, errlen, -EINVAL, "%s.vnc_socket: must be a path of 1 to %d bytes without NUL",
				 WHERE(where), DISPLAY_SOCKET_MAX);
	return (*out = strdup(json_string_value(v))) ? 0 : error_oom(err, errlen);
}

int display_config_from_json(json_t *obj, const char *where, struct display_config *out, char *err,
			     size_t errlen)
{
	static const char *const keys[] = { "model", "width", "height", "tablet", "vnc_socket", NULL };
	struct display_config c = { DISPLAY_MODEL_BOCHS, 1024, 768, true, NULL };
	uint64_t w = c.width, h = c.height;
	int r;
	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj))
		return error_set(err, errlen, -EINVAL, "%s: expected an object", WHERE(where));
	if ((r = json_check_keys(obj, where, keys, err, errlen)) < 0 ||
	    (r = get_model(obj, where, &c.model, err, errlen)) < 0 ||
	    (r = json_get_uint(obj, where, "width", false, DISPLAY_MIN_WIDTH, DISPLAY_MAX_WIDTH, &w, err, errlen)) < 0 ||
	    (r = json_get_uint(obj, where, "height", false, DISPLAY_MIN_HEIGHT, DISPLAY_MAX_HEIGHT, &h, err, errlen)) < 0 ||
	    (r = json_get_bool(obj, where, "tablet", false, &c.tablet, err, errlen)) < 0 ||
	    (r = get_socket(obj, where, &c.vnc_socket, err, errlen)) < 0)
		return r;
	c.width = (uint32_t)w;
	c.height = (uint32_t)h;
	*out = c;
	return 0;
}

json_t *display_config_to_json(const struct display_config *c)
{
	json_t *o = json_pack("{s:s, s:i, s:i, s:b}", "model", display_model_name(c->model), "width", (int)c->width,
			      "height", (int)c->height, "tablet", c->tablet);
	if (o && c->vnc_socket && json_object_set_new(o, "vnc_socket", json_string(c->vnc_socket)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}
