/* petrelctl's requests to petreld: where its socket is, one request with petreld's fault
 * turned into the exit status, and JSON printed for --json. */
#include "ctl/ctl.h"
#include "http/client.h"
#include "util/util.h"

#include <errno.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ctl_sock_path = "/run/petreld/petreld.sock";
bool ctl_json;

int ctl_request(const char *method, const char *path, const char *body, unsigned timeout_ms, json_t **out)
{
	char *reply = NULL;
	int st = uhttp_request(ctl_sock_path, method, path, body, timeout_ms, &reply);
	if (st < 0) {
		fprintf(stderr, "petrelctl: cannot reach petreld at %s: %s\n", ctl_sock_path, strerror(-st));
		return EXIT_UNREACHABLE;
	}
	if (reply)
		ctl_arena_for(strlen(reply));
	json_t *o = reply ? json_loads(reply, 0, NULL) : NULL;
	free(reply);
	if (st >= 400) {
		const char *msg = json_string_value(json_object_get(o, "fault_message"));
		fprintf(stderr, "petrelctl: %s\n", msg ? msg : "request failed");
		json_decref(o);
		/* POST /vms/from-image's 404 is an image's */
		return st == 404 && !strncmp(path, "/vms/", 5) && strcmp(path, "/vms/from-image") ? EXIT_NO_VM : EXIT_REFUSED;
	}
	if (out)
		*out = o;
	else
		json_decref(o);
	return 0;
}

int ctl_request_json(const char *method, const char *path, json_t *body, unsigned timeout_ms, json_t **out)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	int e = ctl_request(method, path, text, timeout_ms, out);
	free(text);
	return e;
}

void ctl_print_json(json_t *o)
{
	char *t = json_dumps(o, JSON_INDENT(2) | JSON_ENCODE_ANY);
	if (t)
		puts(t);
	free(t);
}

int ctl_list(const char *path, unsigned timeout_ms, json_t **out)
{
	*out = NULL;
	int e = ctl_request("GET", path, NULL, timeout_ms, out);
	if (e || !ctl_json)
		return e;
	ctl_print_json(*out);
	json_decref(*out);
	*out = NULL;
	return 0;
}

int ctl_post_file(const char *path, const char *file, unsigned timeout_ms, json_t **out)
{
	char *text = NULL;
	size_t len;
	int r = read_whole_file(file, 1 << 20, &text, &len);
	if (r < 0) {
		fprintf(stderr, "petrelctl: %s: %s\n", file,
			r == -EINVAL || r == -EFBIG ? "not a regular file of at most 1 MiB" : strerror(-r));
		return EXIT_REFUSED;
	}
	int e = ctl_request("POST", path, text, timeout_ms, out);
	free(text);
	return e;
}
