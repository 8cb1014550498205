/* `petrel migrate`: ask a running petrel (its API socket) to migrate its VM, follow the
 * progress and say how it ended. HTTP through libcurl, loaded only here (dlopen): petrel's
 * own start-up does not pay for it. libcurl comes with Debian's curl package (scripts/setup.sh). */
#include "cli/cli.h"

#include <dlfcn.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The few libcurl calls used, with their stable ABI values (curl/curl.h). */
enum { CURLOPT_URL = 10002, CURLOPT_UNIX_SOCKET_PATH = 10231, CURLOPT_CUSTOMREQUEST = 10036,
       CURLOPT_POSTFIELDS = 10015, CURLOPT_HTTPHEADER = 10023, CURLOPT_WRITEFUNCTION = 20011,
       CURLOPT_WRITEDATA = 10001, CURLINFO_RESPONSE_CODE = 0x200002 };

struct curl_api {
	void *(*easy_init)(void);
	int (*easy_setopt)(void *, int, ...);
	int (*easy_perform)(void *);
	int (*easy_getinfo)(void *, int, ...);
	void (*easy_cleanup)(void *);
	void *(*slist_append)(void *, const char *);
	void (*slist_free_all)(void *);
	const char *(*easy_strerror)(int);
};

static int load_curl(struct curl_api *c)
{
	void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "petrel: migrate needs libcurl (Debian's libcurl4): %s\n", dlerror());
		return -1;
	}
	c->easy_init = (void *(*)(void))dlsym(h, "curl_easy_init");
	c->easy_setopt = (int (*)(void *, int, ...))dlsym(h, "curl_easy_setopt");
	c->easy_perform = (int (*)(void *))dlsym(h, "curl_easy_perform");
	c->easy_getinfo = (int (*)(void *, int, ...))dlsym(h, "curl_easy_getinfo");
	c->easy_cleanup = (void (*)(void *))dlsym(h, "curl_easy_cleanup");
	c->slist_append = (void *(*)(void *, const char *))dlsym(h, "curl_slist_append");
	c->slist_free_all = (void (*)(void *))dlsym(h, "curl_slist_free_all");
	c->easy_strerror = (const char *(*)(int))dlsym(h, "curl_easy_strerror");
	if (!c->easy_init || !c->easy_setopt || !c->easy_perform || !c->easy_getinfo || !c->easy_cleanup ||
	    !c->slist_append || !c->slist_free_all || !c->easy_strerror) {
		fprintf(stderr, "petrel: libcurl lacks a function petrel needs\n");
		return -1;
	}
	return 0;
}

struct buf {
	char data[65536];
	size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *opaque)
{
	struct buf *b = opaque;
	size_t k = size * n;
	if (k > sizeof(b->data) - 1 - b->len)
		k = sizeof(b->data) - 1 - b->len;
	memcpy(b->data + b->len, p, k);
	b->len += k;
	b->data[b->len] = 0;
	return size * n;
}

/* One request to the API socket: the HTTP status (or -1) and the body in out. */
static long request(struct curl_api *c, const char *sock, const char *method, const char *path,
		    const char *body, struct buf *out)
{
	void *h = c->easy_init();
	if (!h)
		return -1;
	char url[256];
	snprintf(url, sizeof(url), "http://localhost%s", path);
	void *hdrs = c->slist_append(NULL, "Content-Type: application/json");
	out->len = 0;
	out->data[0] = 0;
	c->easy_setopt(h, CURLOPT_URL, url);
	c->easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, sock);
	c->easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	c->easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	c->easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	c->easy_setopt(h, CURLOPT_WRITEDATA, out);
	if (body)
		c->easy_setopt(h, CURLOPT_POSTFIELDS, body);
	long code = -1;
	int r = c->easy_perform(h);
	if (r == 0)
		c->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	else
		snprintf(out->data, sizeof(out->data), "%s", c->easy_strerror(r));
	c->slist_free_all(hdrs);
	c->easy_cleanup(h);
	return code;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: petrel migrate --api-sock SOCKET --to tcp:HOST:PORT|unix:PATH\n"
		   "                      [--downtime-ms N] [--timeout-s N] [--quiet]\n"
		   "  Asks the petrel serving SOCKET to migrate its VM (PUT /migration/send) and follows\n"
		   "  GET /migration until it completes (exit 0) or fails (exit 1).\n");
}

int cli_migrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "api-sock", required_argument, NULL, 's' }, { "to", required_argument, NULL, 't' },
		{ "downtime-ms", required_argument, NULL, 'd' }, { "timeout-s", required_argument, NULL, 'T' },
		{ "quiet", no_argument, NULL, 'q' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *to = NULL;
	long downtime = 300, timeout = 600;
	bool quiet = false;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's': sock = optarg; break;
		case 't': to = optarg; break;
		case 'd': downtime = strtol(optarg, NULL, 10); break;
		case 'T': timeout = strtol(optarg, NULL, 10); break;
		case 'q': quiet = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!sock || !to || optind != argc || downtime < 0 || timeout <= 0) {
		usage(stderr);
		return 2;
	}
	struct curl_api c;
	if (load_curl(&c) < 0)
		return 1;
	json_t *req = json_pack("{s:s,s:I,s:I}", "destination_url", to, "downtime_ms", (json_int_t)downtime,
				"timeout_s", (json_int_t)timeout);
	char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	static struct buf out;
	long code = request(&c, sock, "PUT", "/migration/send", body, &out);
	free(body);
	if (code != 204) {
		fprintf(stderr, "petrel: migrate: %s\n", code < 0 ? out.data : out.data[0] ? out.data : "refused");
		return 1;
	}
	unsigned last_iter = ~0u;
	for (;;) {
		usleep(100000);
		code = request(&c, sock, "GET", "/migration", NULL, &out);
		json_t *st = code == 200 ? json_loads(out.data, 0, NULL) : NULL;
		const char *state = json_string_value(json_object_get(st, "state"));
		if (!st || !state) {
			/* The source exits once the destination runs the guest: a vanished socket
			 * right after an active report means it completed. */
			json_decref(st);
			if (!quiet)
				printf("petrel: the source has exited (the VM runs on the destination)\n");
			return 0;
		}
		unsigned iter = (unsigned)json_integer_value(json_object_get(st, "iteration"));
		if (!quiet && strcmp(state, "active") == 0 && iter != last_iter) {
			printf("round %u: %.1f MiB sent, %.1f MiB dirty, %.0f MiB/s, expected downtime %.1f ms\n", iter,
			       (double)json_integer_value(json_object_get(st, "bytes_sent")) / (1 << 20),
			       (double)json_integer_value(json_object_get(st, "bytes_remaining")) / (1 << 20),
			       json_real_value(json_object_get(st, "bandwidth_mib_s")),
			       json_real_value(json_object_get(st, "expected_downtime_ms")));
			last_iter = iter;
		}
		int done = !strcmp(state, "completed") ? 0 : !strcmp(state, "failed") ? 1 : -1;
		if (done == 0 && !quiet)
			printf("completed: downtime %.2f ms, total %.1f ms\n",
			       json_real_value(json_object_get(st, "downtime_ms")),
			       json_real_value(json_object_get(st, "total_ms")));
		if (done == 1)
			fprintf(stderr, "petrel: migration failed: %s\n",
				json_string_value(json_object_get(st, "reason")));
		json_decref(st);
		if (done >= 0)
			return done;
	}
}
