/* `petrel migrate`: ask a running petrel (its API socket) to migrate its VM, follow the
 * progress and say how it ended. */
#include "cli/api_client.h"
#include "cli/cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: petrel migrate --api-sock SOCKET --to tcp:HOST:PORT|tls:HOST:PORT|unix:PATH\n"
		   "                      [--tls-dir DIR] [--downtime-ms N] [--timeout-s N] [--quiet]\n"
		   "  tls: needs --tls-dir: ca.pem, cert.pem, key.pem (docs/migration.md#tls)\n"
		   "  Asks the petrel serving SOCKET to migrate its VM (PUT /migration/send) and follows\n"
		   "  GET /migration until it completes (exit 0) or fails (exit 1).\n");
}

int cli_migrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "api-sock", required_argument, NULL, 's' }, { "to", required_argument, NULL, 't' },
		{ "downtime-ms", required_argument, NULL, 'd' }, { "timeout-s", required_argument, NULL, 'T' },
		{ "quiet", no_argument, NULL, 'q' }, { "help", no_argument, NULL, 'h' },
		{ "tls-dir", required_argument, NULL, 'L' }, { NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *to = NULL, *tls_dir = NULL;
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
		case 'L': tls_dir = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!sock || !to || optind != argc || downtime < 0 || timeout <= 0) {
		usage(stderr);
		return 2;
	}
	struct curl_api c;
	if (api_client_load(&c) < 0)
		return 1;
	json_t *req = json_pack("{s:s,s:I,s:I}", "destination_url", to, "downtime_ms", (json_int_t)downtime,
				"timeout_s", (json_int_t)timeout);
	if (tls_dir)
		json_object_set_new(req, "tls_dir", json_string(tls_dir));
	char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	static struct api_buf out;
	long code = api_client_request(&c, sock, "PUT", "/migration/send", body, &out);
	free(body);
	if (code != 204) {
		fprintf(stderr, "petrel: migrate: %s\n", code < 0 ? out.data : out.data[0] ? out.data : "refused");
		return 1;
	}
	unsigned last_iter = ~0u;
	for (;;) {
		usleep(100000);
		code = api_client_request(&c, sock, "GET", "/migration", NULL, &out);
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
