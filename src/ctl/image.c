/* petrelctl's images (docs/manager.md#images):
 *   image-list
 *   image-import NAME FILE [--move]
 *   image-remove NAME
 *   define-from-image NAME --image IMG [--cpus N] [--memory MIB] [--disk-size GIB]
 *       [--network NET | --tap TAP] [--user USER] [--ssh-key FILE]... [--password-hash H]
 *       [--cloud-init FILE] [--count N] [--boot disk|seabios|ovmf] [--start] */
#include "ctl/ctl.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IMAGE_TIMEOUT_MS 3600000   /* an import copies the whole file */
#define FILE_MAX (1 << 20)         /* a key file, a cloud-init section */

static int image_list(void)
{
	json_t *a = NULL, *img;
	size_t i;
	int e = ctl_list("/images", 30000, &a);
	if (e || !a)
		return e;
	printf(" %-24s %-6s %10s %10s  %-20s %s\n", "Name", "Format", "Size", "On disk", "Imported", "VMs");
	printf("-----------------------------------------------------------------------------------------\n");
	json_array_foreach(a, i, img) {
		char when[32] = "-", vms[256] = "";
		time_t t = (time_t)json_integer_value(json_object_get(img, "imported_at"));
		struct tm tm;
		if (t)
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M", localtime_r(&t, &tm));
		size_t k, off = 0;
		json_t *v;
		json_array_foreach(json_object_get(img, "vms"), k, v)
			if (off < sizeof(vms))
				off += (size_t)snprintf(vms + off, sizeof(vms) - off, "%s%s", k ? "," : "", json_string_value(v));
		printf(" %-24s %-6s %9.1fG %9.1fG  %-20s %s\n", json_string_value(json_object_get(img, "name")),
		       json_string_value(json_object_get(img, "format")),
		       (double)json_integer_value(json_object_get(img, "virtual_size")) / (1 << 30),
		       (double)json_integer_value(json_object_get(img, "bytes")) / (1 << 30), when, off ? vms : "-");
	}
	json_decref(a);
	return 0;
}

static int image_import(int argc, char **argv)
{
	bool move = argc == 4 && !strcmp(argv[3], "--move");
	if (argc != 3 && !move) {
		fprintf(stderr, "usage: petrelctl image-import NAME FILE [--move]\n");
		return EXIT_USAGE;
	}
	char *path = realpath(argv[2], NULL);   /* petreld takes an absolute path */
	if (!path) {
		fprintf(stderr, "petrelctl: %s: %s\n", argv[2], strerror(errno));
		return EXIT_REFUSED;
	}
	json_t *o = NULL;
	int e = ctl_request_json("POST", "/images", json_pack("{s:s, s:s, s:b}", "name", argv[1], "path", path, "move", move),
				 IMAGE_TIMEOUT_MS, &o);
	if (!e && ctl_json)
		ctl_print_json(o);
	else if (!e)
		printf("image %s %s from %s (%s, %.1f GiB)\n", argv[1], move ? "moved in" : "imported", path,
		       json_string_value(json_object_get(o, "format")),
		       (double)json_integer_value(json_object_get(o, "virtual_size")) / (1 << 30));
	free(path);
	json_decref(o);
	return e;
}

/* The JSON file at path: an object, or NULL with the reason printed. */
static json_t *read_object(const char *path)
{
	char *text = NULL;
	size_t len;
	int r = read_whole_file(path, FILE_MAX, &text, &len);
	if (r < 0) {
		fprintf(stderr, "petrelctl: %s: %s\n", path, r == -EINVAL || r == -EFBIG ? "not a regular file of at most 1 MiB" : strerror(-r));
		return NULL;
	}
	json_error_t je;
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (!json_is_object(o)) {
		fprintf(stderr, "petrelctl: %s: expected a JSON object%s%s\n", path, o ? "" : ": ", o ? "" : je.text);
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The keys of an authorized_keys file (one a line; blank lines and '#' comments skipped) into a. */
static int read_keys(const char *path, json_t *a)
{
	char *text = NULL;
	size_t len;
	int r = read_whole_file(path, FILE_MAX, &text, &len);
	if (r < 0) {
		fprintf(stderr, "petrelctl: %s: %s\n", path, strerror(-r));
		return EXIT_REFUSED;
	}
	size_t before = json_array_size(a);
	for (char *save = NULL, *line = strtok_r(text, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		line += strspn(line, " \t");
		if (*line && *line != '#')
			json_array_append_new(a, json_string(line));
	}
	free(text);
	if (json_array_size(a) == before) {
		fprintf(stderr, "petrelctl: %s has no key\n", path);
		return EXIT_REFUSED;
	}
	return 0;
}

/* A positive number of option opt into body[key]. */
static int number(json_t *body, const char *key, const char *opt, const char *value)
{
	char *end;
	long long n = strtoll(value, &end, 10);
	if (*end || end == value || n < 1) {
		fprintf(stderr, "petrelctl: %s: expected a positive number, not '%s'\n", opt, value);
		return EXIT_USAGE;
	}
	json_object_set_new(body, key, json_integer(n));
	return 0;
}

static int define_from_image(int argc, char **argv)
{
	static const struct { const char *opt, *key; bool num; } opts[] = {
		{ "--image", "image", false }, { "--cpus", "vcpus", true }, { "--memory", "memory_mib", true },
		{ "--disk-size", "disk_size_gib", true }, { "--network", "network", false }, { "--tap", "tap", false },
		{ "--user", "user", false }, { "--password-hash", "passwd", false }, { "--count", "count", true },
		{ "--boot", "boot", false },
	};
	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: petrelctl define-from-image NAME --image IMG [--cpus N] [--memory MIB] [--disk-size GIB]\n"
				"       [--network NET | --tap TAP] [--user USER] [--ssh-key FILE]... [--password-hash H]\n"
				"       [--cloud-init FILE] [--count N] [--boot disk|seabios|ovmf] [--start]\n");
		return EXIT_USAGE;
	}
	json_t *body = json_pack("{s:s}", "name", argv[1]), *keys = NULL;
	int e = 0;
	for (int i = 2; !e && i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		size_t k = 0;
		while (k < ARRAY_SIZE(opts) && strcmp(opt, opts[k].opt))
			k++;
		if (!strcmp(opt, "--start")) {
			json_object_set_new(body, "start", json_true());
			continue;
		}
		if (!val) {
			fprintf(stderr, "petrelctl: define-from-image: unknown option or missing value: %s\n", opt);
			e = EXIT_USAGE;
			break;
		}
		i++;
		if (k < ARRAY_SIZE(opts)) {
			if (opts[k].num)
				e = number(body, opts[k].key, opt, val);
			else
				json_object_set_new(body, opts[k].key, json_string(val));
		} else if (!strcmp(opt, "--ssh-key")) {
			if (!keys)
				json_object_set_new(body, "ssh_authorized_keys", keys = json_array());
			e = read_keys(val, keys);
		} else if (!strcmp(opt, "--cloud-init")) {
			json_t *ci = read_object(val);
			e = ci ? 0 : EXIT_REFUSED;
			json_object_set_new(body, "cloud_init", ci);
		} else {
			fprintf(stderr, "petrelctl: define-from-image: unknown option %s\n", opt);
			e = EXIT_USAGE;
		}
	}
	if (!e && !json_object_get(body, "image")) {
		fprintf(stderr, "petrelctl: define-from-image: --image IMG is required\n");
		e = EXIT_USAGE;
	}
	if (e) {
		json_decref(body);
		return e;
	}
	bool start = json_is_true(json_object_get(body, "start"));
	char image[80];
	snprintf(image, sizeof(image), "%s", json_string_value(json_object_get(body, "image")));
	json_t *o = NULL;
	e = ctl_request_json("POST", "/vms/from-image", body, IMAGE_TIMEOUT_MS, &o);
	if (!e && ctl_json) {
		ctl_print_json(o);
	} else if (!e) {
		size_t i;
		json_t *vm;
		json_array_foreach(o, i, vm)
			printf("VM %s defined from image %s%s\n", json_string_value(json_object_get(vm, "name")), image,
			       start ? " and started" : "");
	}
	json_decref(o);
	return e;
}

int cmd_image(int argc, char **argv)
{
	const char *cmd = argv[0];
	if (!strcmp(cmd, "image-list"))
		return argc == 1 ? image_list() : (fprintf(stderr, "usage: petrelctl image-list\n"), EXIT_USAGE);
	if (!strcmp(cmd, "image-import"))
		return image_import(argc, argv);
	if (!strcmp(cmd, "image-remove")) {
		if (argc != 2) {
			fprintf(stderr, "usage: petrelctl image-remove NAME\n");
			return EXIT_USAGE;
		}
		char path[128];
		snprintf(path, sizeof(path), "/images/%s", argv[1]);
		int e = ctl_request("DELETE", path, NULL, 30000, NULL);
		if (!e && !ctl_json)
			printf("image %s removed\n", argv[1]);
		return e;
	}
	return define_from_image(argc, argv);
}
