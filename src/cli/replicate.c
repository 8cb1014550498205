/* `petrel replicate`: make a running petrel (its API socket) the primary of a standby and wait
 * until the VM is protected. */
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
	fprintf(f, "usage: petrel replicate --api-sock SOCKET --to tcp:HOST:PORT|unix:PATH\n"
		   "                        [--interval-ms N] [--timeout-ms N] [--on-loss continue|stop]\n"
		   "                        [--no-mirror-disks]\n"
		   "  Makes the petrel serving SOCKET the primary of the standby at the URL (PUT /replication)\n"
		   "  and waits until the VM is protected (exit 0) or replication stops (exit 1).\n");
}

int cli_replicate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "api-sock", required_argument, NULL, 's' }, { "to", required_argument, NULL, 't' },
		{ "interval-ms", required_argument, NULL, 'i' }, { "timeout-ms", required_argument, NULL, 'T' },
		{ "on-loss", required_argument, NULL, 'l' }, { "no-mirror-disks", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *to = NULL, *loss = "continue";
	long interval = 50, timeout = 1000;
	bool mirror = true;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's': sock = optarg; break;
		case 't': to = optarg; break;
		case 'i': interval = strtol(optarg, NULL, 10); break;
		case 'T': timeout = strtol(optarg, NULL, 10); break;
		case 'l': loss = optarg; break;
		case 'n': mirror = false; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!sock || !to || optind != argc) {
		usage(stderr);
		return 2;
	}
	struct curl_api c;
	if (api_client_load(&c) < 0)
		return 1;
	json_t *req = json_pack("{s:s,s:s,s:I,s:I,s:s,s:b}", "role", "primary", "peer_url", to,
				"checkpoint_interval_ms", (json_int_t)interval, "failure_timeout_ms", (json_int_t)timeout,
				"on_standby_loss", loss, "mirror_disks", mirror);
	char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	static struct api_buf out;
	long code = api_client_request(&c, sock, "PUT", "/replication", body, &out);
	free(body);
	if (code != 204) {
		fprintf(stderr, "petrel: replicate: %s\n", out.data[0] ? out.data : "refused");
		return 1;
	}
	for (;;) {
		usleep(100000);
		code = api_client_request(&c, sock, "GET", "/replication", NULL, &out);
		json_t *st = code == 200 ? json_loads(out.data, 0, NULL) : NULL;
		const char *state = json_string_value(json_object_get(st, "state"));
		int done = !state ? 1 : !strcmp(state, "protected") ? 0 : !strcmp(state, "stopped") ? 1 : -1;
		if (done == 0)
			printf("protected: checkpoints to %s every %ld ms\n", to, interval);
		else if (done == 1)
			fprintf(stderr, "petrel: replication stopped: %s\n",
				state ? json_string_value(json_object_get(st, "reason")) : "the primary is gone");
		json_decref(st);
		if (done >= 0)
			return done;
	}
}
