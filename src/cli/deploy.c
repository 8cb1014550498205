/* `petrel image deploy`: N clones of a snapshotted VM (the template), each on qcow2 overlays
 * of its own over the template's disk images, its memory restored from the template's
 * snapshot (mapped privately: pages shared through the page cache until a clone writes).
 *
 * For each clone: a directory DIR/clone-I with an overlay DRIVE_ID.qcow2 over each writable
 * drive's image (qcow2_create: the same cost whatever the base's size; read-only drives are
 * shared as they are); then a petrel serving DIR/clone-I/api.sock (its output in
 * DIR/clone-I/petrel.log), and PUT /snapshot/load with drive_overrides naming the overlays,
 * network_overrides (--net), a vsock socket of its own, and resume_vm. The clones keep running
 * after this command returns; stop them with SIGTERM (their pids are printed). */
#include "block/disk.h"
#include "block/qcow2.h"
#include "cli/api_client.h"
#include "cli/cli.h"
#include "config/vm_config.h"
#include "snapshot/snapshot.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLONES 1024
#define MAX_NET 8

struct deploy {
	const char *state, *mem, *dir, *exe;
	char state_abs[PATH_MAX], mem_abs[PATH_MAX], exe_buf[PATH_MAX], dir_abs[PATH_MAX];
	long count, first, timeout_ms;
	bool start, sync;
	const char *net_iface[MAX_NET], *net_tap[MAX_NET];
	unsigned nnet;
	struct vm_config cfg;
	pid_t *pids;
};

/* dir/name[suffix] into out: 0, or -1 if it does not fit. */
static int join(char *out, size_t n, const char *dir, const char *name, const char *suffix)
{
	int r = snprintf(out, n, "%s/%s%s", dir, name, suffix);
	return r < 0 || (size_t)r >= n ? -1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: petrel image deploy --snapshot STATE --mem-file MEM --count N --dir DIR\n"
		   "                           [--first I] [--net IFACE=TAP] [--no-start] [--sync]\n"
		   "                           [--petrel PATH] [--timeout-ms MS]\n"
		   "  Clones I .. I+N-1 (I: 0) of the VM snapshotted in STATE/MEM. Each gets DIR/clone-I/ with a\n"
		   "  qcow2 overlay DRIVE_ID.qcow2 over each writable drive's image, then (unless --no-start) a\n"
		   "  petrel serving DIR/clone-I/api.sock that loads the snapshot on those overlays and resumes.\n"
		   "  --net IFACE=TAP: the clone's tap for interface IFACE ('%%d' in TAP: the clone's number).\n"
		   "  --sync: fsync each overlay. --petrel: the petrel to start (default: this one).\n"
		   "  Prints one line per clone: clone I dir D overlays_us T [pid P api S load_ms L]. The clones\n"
		   "  keep running; on a failure the ones this command started are stopped and it exits 1.\n"
		   "  The template's image must not change while clones use it (stop the template first).\n");
}

static int parse(struct deploy *d, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "snapshot", required_argument, NULL, 's' }, { "mem-file", required_argument, NULL, 'm' },
		{ "count", required_argument, NULL, 'n' }, { "dir", required_argument, NULL, 'd' },
		{ "first", required_argument, NULL, 'f' }, { "net", required_argument, NULL, 'N' },
		{ "no-start", no_argument, NULL, 'S' }, { "sync", no_argument, NULL, 'y' },
		{ "petrel", required_argument, NULL, 'p' }, { "timeout-ms", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	d->count = -1;
	d->timeout_ms = 10000;
	d->start = true;
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': d->state = optarg; break;
		case 'm': d->mem = optarg; break;
		case 'n': d->count = strtol(optarg, NULL, 10); break;
		case 'd': d->dir = optarg; break;
		case 'f': d->first = strtol(optarg, NULL, 10); break;
		case 'S': d->start = false; break;
		case 'y': d->sync = true; break;
		case 'p': d->exe = optarg; break;
		case 'T': d->timeout_ms = strtol(optarg, NULL, 10); break;
		case 'N': {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg || !eq[1] || d->nnet == MAX_NET) {
				fprintf(stderr, "petrel: deploy: --net IFACE=TAP (at most %d)\n", MAX_NET);
				return 2;
			}
			*eq = 0;
			d->net_iface[d->nnet] = optarg;
			d->net_tap[d->nnet++] = eq + 1;
			break;
		}
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return 2;
		}
	}
	if (!d->state || !d->mem || !d->dir || d->count < 1 || d->count > MAX_CLONES || d->first < 0 ||
	    d->timeout_ms <= 0 || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!realpath(d->state, d->state_abs) || !realpath(d->mem, d->mem_abs)) {
		fprintf(stderr, "petrel: deploy: %s: %s\n", realpath(d->state, d->state_abs) ? d->mem : d->state,
			strerror(errno));
		return 2;
	}
	if (!d->exe) {
		ssize_t n = readlink("/proc/self/exe", d->exe_buf, sizeof(d->exe_buf) - 1);
		if (n <= 0) {
			fprintf(stderr, "petrel: deploy: cannot find this petrel: give --petrel\n");
			return 2;
		}
		d->exe_buf[n] = 0;
		d->exe = d->exe_buf;
	}
	return 0;
}

static int make_overlays(struct deploy *d, long id, const char *cdir, uint64_t *us)
{
	uint64_t t0 = now_ns();
	if (mkdir(cdir, 0700) < 0 && errno != EEXIST) { /* the guest's disk writes: the owner's only */
		fprintf(stderr, "petrel: deploy: mkdir %s: %s\n", cdir, strerror(errno));
		return -errno;
	}
	for (unsigned i = 0; i < d->cfg.ndrives; i++) {
		const struct drive_config *dr = &d->cfg.drives[i];
		if (dr->is_read_only)
			continue;
		char base[PATH_MAX], path[PATH_MAX], err[512];
		if (!realpath(dr->path_on_host, base)) {
			fprintf(stderr, "petrel: deploy: drive %s: %s: %s\n", dr->drive_id, dr->path_on_host, strerror(errno));
			return -ENOENT;
		}
		if (join(path, sizeof(path), cdir, dr->drive_id, ".qcow2") < 0) {
			fprintf(stderr, "petrel: deploy: %s: path too long\n", cdir);
			return -ENAMETOOLONG;
		}
		/* The overlay records the base's format: the drive's pinned one, else probed now. */
		struct qcow2_create_opts o = { .backing = base, .sync = d->sync,
					       .backing_format = dr->format == DISK_FORMAT_AUTO ? NULL
								 : disk_format_name((enum disk_format)dr->format) };
		if (qcow2_create(path, &o, err, sizeof(err)) < 0) {
			fprintf(stderr, "petrel: deploy: clone %ld: %s\n", id, err);
			return -EIO;
		}
	}
	*us = (now_ns() - t0) / 1000;
	return 0;
}

static bool socket_up(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	memcpy(a.sun_path, path, MIN(strlen(path), sizeof(a.sun_path) - 1));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static pid_t spawn(struct deploy *d, const char *cdir, const char *sock)
{
	char log[PATH_MAX];
	if (join(log, sizeof(log), cdir, "petrel.log", "") < 0)
		return -1;
	unlink(sock); /* stale: start_clone found nobody serving it */
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	setsid();
	int in = open("/dev/null", O_RDONLY), out = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(127);
	execl(d->exe, d->exe, "--api-sock", sock, (char *)NULL);
	_exit(127);
}

static char *load_body(struct deploy *d, long id, const char *cdir)
{
	json_t *b = json_pack("{s:s,s:{s:s,s:s},s:b}", "snapshot_path", d->state_abs, "mem_backend", "backend_type",
			      "File", "backend_path", d->mem_abs, "resume_vm", 1);
	json_t *drives = json_array(), *nets = json_array();
	for (unsigned i = 0; i < d->cfg.ndrives; i++) {
		const struct drive_config *dr = &d->cfg.drives[i];
		if (dr->is_read_only)
			continue;
		char path[PATH_MAX];
		if (join(path, sizeof(path), cdir, dr->drive_id, ".qcow2") < 0)
			continue; /* make_overlays refused it already */
		/* Pinned qcow2: a drive the template pinned raw must not read its overlay as raw. */
		json_array_append_new(drives, json_pack("{s:s,s:s,s:s}", "drive_id", dr->drive_id, "path_on_host", path,
							"format", "qcow2"));
	}
	for (unsigned i = 0; i < d->nnet; i++) {
		char tap[64];
		const char *pct = strstr(d->net_tap[i], "%d");
		if (pct)
			snprintf(tap, sizeof(tap), "%.*s%ld%s", (int)(pct - d->net_tap[i]), d->net_tap[i], id, pct + 2);
		else
			snprintf(tap, sizeof(tap), "%s", d->net_tap[i]);
		json_array_append_new(nets, json_pack("{s:s,s:s}", "iface_id", d->net_iface[i], "host_dev_name", tap));
	}
	json_object_set_new(b, "drive_overrides", drives);
	json_object_set_new(b, "network_overrides", nets);
	if (d->cfg.has_vsock) {
		char vs[PATH_MAX];
		if (join(vs, sizeof(vs), cdir, "vsock.sock", "") == 0)
			json_object_set_new(b, "vsock_override", json_pack("{s:s}", "uds_path", vs));
	}
	char *s = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	return s;
}

/* Start clone id's petrel and load the snapshot into it: 0, or -1 (said why). */
static int start_clone(struct deploy *d, struct curl_api *c, long id, const char *cdir, pid_t *pid, uint64_t *ms)
{
	char sock[PATH_MAX];
	if (join(sock, sizeof(sock), cdir, "api.sock", "") < 0 || strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		fprintf(stderr, "petrel: deploy: %s/api.sock: too long for a socket path (use a shorter --dir)\n", cdir);
		return -1;
	}
	if (socket_up(sock)) { /* a clone of an earlier deploy runs there: its socket is not ours to take */
		fprintf(stderr, "petrel: deploy: clone %ld: a petrel already serves %s (choose other ids: --first)\n",
			id, sock);
		*pid = 0;
		return -1;
	}
	uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)d->timeout_ms * 1000000;
	if ((*pid = spawn(d, cdir, sock)) < 0) {
		fprintf(stderr, "petrel: deploy: fork: %s\n", strerror(errno));
		return -1;
	}
	while (!socket_up(sock)) {
		int st;
		if (waitpid(*pid, &st, WNOHANG) == *pid) {
			fprintf(stderr, "petrel: deploy: clone %ld: petrel exited before its API came up (see %s/petrel.log)\n",
				id, cdir);
			*pid = 0;
			return -1;
		}
		if (now_ns() > deadline) {
			fprintf(stderr, "petrel: deploy: clone %ld: no API socket after %ld ms\n", id, d->timeout_ms);
			return -1;
		}
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	char *body = load_body(d, id, cdir);
	static struct api_buf out;
	long code = body ? api_client_request(c, sock, "PUT", "/snapshot/load", body, &out) : -1;
	free(body);
	if (code != 204) {
		fprintf(stderr, "petrel: deploy: clone %ld: /snapshot/load: %s\n", id,
			code < 0 ? out.data : out.data[0] ? out.data : "refused");
		return -1;
	}
	*ms = (now_ns() - t0) / 1000000;
	return 0;
}

static void stop_started(struct deploy *d, long n)
{
	for (long i = 0; i < n; i++)
		if (d->pids[i] > 0) {
			kill(d->pids[i], SIGTERM);
			waitpid(d->pids[i], NULL, 0);
		}
}

int cli_deploy(int argc, char **argv)
{
	static struct deploy d;
	memset(&d, 0, sizeof(d));
	int r = parse(&d, argc, argv);
	if (r)
		return r == 1 ? 0 : r;
	struct snapshot_load_opts lo = { .state_path = d.state_abs, .mem_path = d.mem_abs, .backend = SNAP_MEM_FILE };
	char err[512];
	if (snapshot_read_config(&lo, &d.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "petrel: deploy: %s: %s\n", d.state, err);
		return 1;
	}
	struct curl_api c;
	d.pids = calloc((size_t)d.count, sizeof(pid_t));
	bool ok = d.pids != NULL;
	if (ok && ((mkdir(d.dir, 0700) < 0 && errno != EEXIST) || !realpath(d.dir, d.dir_abs))) {
		fprintf(stderr, "petrel: deploy: %s: %s\n", d.dir, strerror(errno));
		ok = false;
	}
	d.dir = d.dir_abs; /* the clones are given absolute paths */
	if (!ok || (d.start && api_client_load(&c) < 0)) {
		vm_config_free(&d.cfg);
		free(d.pids);
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	int status = 0;
	long i;
	for (i = 0; i < d.count && !status; i++) {
		long id = d.first + i;
		char cdir[PATH_MAX], name[32];
		uint64_t us = 0, ms = 0;
		snprintf(name, sizeof(name), "clone-%ld", id);
		if (join(cdir, sizeof(cdir), d.dir, name, "") < 0) {
			fprintf(stderr, "petrel: deploy: %s: path too long\n", d.dir);
			status = 1;
			break;
		}
		if (make_overlays(&d, id, cdir, &us) < 0) {
			status = 1;
			break;
		}
		if (!d.start) {
			printf("clone %ld dir %s overlays_us %llu\n", id, cdir, (unsigned long long)us);
			continue;
		}
		if (start_clone(&d, &c, id, cdir, &d.pids[i], &ms) < 0) {
			status = 1;
			i++; /* stop this one too */
			break;
		}
		printf("clone %ld dir %s overlays_us %llu pid %d api %s/api.sock load_ms %llu\n", id, cdir,
		       (unsigned long long)us, (int)d.pids[i], cdir, (unsigned long long)ms);
	}
	if (status)
		stop_started(&d, i);
	vm_config_free(&d.cfg);
	free(d.pids);
	return status;
}
