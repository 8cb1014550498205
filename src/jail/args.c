/* The jailer's command line: Firecracker's jailer options, then "--" and petrel's own. */
#include "jail/jail.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
	OPT_ID = 256, OPT_EXEC_FILE, OPT_UID, OPT_GID, OPT_BASE, OPT_NETNS, OPT_DAEMONIZE,
	OPT_NEW_PID_NS, OPT_CGROUP_VERSION, OPT_CGROUP, OPT_PARENT_CGROUP, OPT_RLIMIT,
	OPT_ROOTLESS, OPT_VERSION, OPT_HELP,
};

static const struct option options[] = {
	{ "id", required_argument, NULL, OPT_ID },
	{ "exec-file", required_argument, NULL, OPT_EXEC_FILE },
	{ "uid", required_argument, NULL, OPT_UID },
	{ "gid", required_argument, NULL, OPT_GID },
	{ "chroot-base-dir", required_argument, NULL, OPT_BASE },
	{ "netns", required_argument, NULL, OPT_NETNS },
	{ "daemonize", no_argument, NULL, OPT_DAEMONIZE },
	{ "new-pid-ns", no_argument, NULL, OPT_NEW_PID_NS },
	{ "cgroup-version", required_argument, NULL, OPT_CGROUP_VERSION },
	{ "cgroup", required_argument, NULL, OPT_CGROUP },
	{ "parent-cgroup", required_argument, NULL, OPT_PARENT_CGROUP },
	{ "resource-limit", required_argument, NULL, OPT_RLIMIT },
	{ "rootless", no_argument, NULL, OPT_ROOTLESS },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

void jail_usage(FILE *f)
{
	fprintf(f,
		"usage: petrel-jailer --id ID --exec-file PATH --uid UID --gid GID [options] [-- PETREL ARGS]\n"
		"\n"
		"Starts PATH (a petrel binary) as UID:GID in a chroot jail\n"
		"<chroot-base-dir>/<exec file name>/<ID>/root, in its own mount namespace, with cgroups\n"
		"and resource limits, as Firecracker's jailer does. Paths in PETREL ARGS are inside the\n"
		"jail (--api-sock /run/api.sock is <jail root>/run/api.sock on the host).\n"
		"\n"
		"  --id ID                    instance id, 1-%d of [A-Za-z0-9-]; also petrel's --id\n"
		"  --exec-file PATH           the petrel binary (copied into the jail)\n"
		"  --uid UID, --gid GID       the ids petrel runs as\n"
		"  --chroot-base-dir DIR      where jails are built (default " JAIL_DEFAULT_BASE ")\n"
		"  --netns PATH               join this network namespace (e.g. /var/run/netns/NAME)\n"
		"  --daemonize                setsid() and stdin/stdout/stderr to /dev/null\n"
		"  --new-pid-ns               petrel is pid 1 of a new pid namespace; the jailer waits\n"
		"                             for it and exits with its status\n"
		"  --cgroup-version 1|2       cgroup hierarchy to use (default 1)\n"
		"  --cgroup FILE=VALUE        write VALUE to FILE in petrel's cgroup, e.g.\n"
		"                             pids.max=64 (repeatable; controller = FILE up to the first '.')\n"
		"  --parent-cgroup NAME       cgroups are <hierarchy>/NAME/ID (default: exec file name)\n"
		"  --resource-limit fsize=N|no-file=N  setrlimit (repeatable; no-file defaults to %d)\n"
		"  --rootless                 for a caller without root: a new user namespace maps\n"
		"                             the caller's uid/gid to --uid/--gid (default: the\n"
		"                             same numbers); host devices the caller may open are\n"
		"                             bind-mounted; cgroups only where delegated to it\n"
		"  --version, --help\n",
		JAIL_ID_MAX, JAIL_DEFAULT_NOFILE);
}

/* A usage error: one line saying what is wrong, then the usage; returns -1 (exit 2). */
static int __attribute__((format(printf, 1, 2))) bad(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "petrel-jailer: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n\n");
	va_end(ap);
	jail_usage(stderr);
	return -1;
}

static bool valid_id(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > JAIL_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
		      (id[i] >= '0' && id[i] <= '9') || id[i] == '-'))
			return false;
	return true;
}

static int parse_u32(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end || *out > max ? -1 : 0;
}

/* A relative cgroup path: components of [A-Za-z0-9_.-], no "." or "..", no empty ones. */
static bool valid_cgroup_path(const char *p)
{
	const char *c = p;
	if (!*p || *p == '/' || strlen(p) > 1024)
		return false;
	while (*c) {
		size_t n = strcspn(c, "/");
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		for (size_t i = 0; i < n; i++)
			if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-",
				    c[i]))
				return false;
		c += n;
		if (*c == '/')
			c++;
	}
	return p[strlen(p) - 1] != '/';
}

static int parse_cgroup(struct jail_args *a, char *arg)
{
	char *eq = strchr(arg, '=');
	if (!eq)
		return bad("--cgroup: '%s' is not FILE=VALUE", arg);
	if (a->n_cgroups == JAIL_MAX_CGROUPS)
		return bad("--cgroup: more than %d of them", JAIL_MAX_CGROUPS);
	*eq = '\0';
	const char *file = arg, *value = eq + 1;
	const char *dot = strchr(file, '.');
	size_t clen = dot ? (size_t)(dot - file) : 0;
	bool ok = dot && clen > 0 && clen < sizeof(a->cgroups[0].controller) && dot[1] &&
		  strspn(file, "abcdefghijklmnopqrstuvwxyz0123456789_.") == strlen(file);
	if (!ok || !*value || strchr(value, '\n')) {
		*eq = '=';
		return bad("--cgroup: '%s' is not FILE=VALUE with FILE like pids.max and a "
			   "one-line VALUE", arg);
	}
	struct jail_cgroup_arg *c = &a->cgroups[a->n_cgroups++];
	c->file = file;
	c->value = value;
	memcpy(c->controller, file, clen);
	c->controller[clen] = '\0';
	return 0;
}

static int parse_rlimit(struct jail_args *a, char *arg)
{
	char *eq = strchr(arg, '=');
	unsigned long long v;
	int res;
	if (!eq)
		return bad("--resource-limit: '%s' is not fsize=N or no-file=N", arg);
	*eq = '\0';
	if (!strcmp(arg, "fsize"))
		res = RLIMIT_FSIZE;
	else if (!strcmp(arg, "no-file"))
		res = RLIMIT_NOFILE;
	else {
		*eq = '=';
		return bad("--resource-limit: unknown resource in '%s' (fsize, no-file)", arg);
	}
	*eq = '=';
	if (parse_u32(eq + 1, ULLONG_MAX - 1, &v) < 0)
		return bad("--resource-limit: '%s' needs a whole number", arg);
	if (a->n_rlimits == JAIL_MAX_RLIMITS)
		return bad("--resource-limit: more than %d of them", JAIL_MAX_RLIMITS);
	a->rlimits[a->n_rlimits].resource = res;
	a->rlimits[a->n_rlimits++].value = (rlim_t)v;
	return 0;
}

/* Checks that the required options are there and the paths make sense. */
static int check(struct jail_args *a, bool have_uid, bool have_gid)
{
	struct stat st;
	if (!a->id)
		return bad("--id is required");
	if (!a->exec_file)
		return bad("--exec-file is required");
	if (a->rootless) {
		/* The caller's own ids unless told otherwise: one id each way is mapped. */
		if (!have_uid)
			a->uid = geteuid();
		if (!have_gid)
			a->gid = getegid();
	} else if (!have_uid || !have_gid) {
		return bad("--uid and --gid are required (or --rootless)");
	}
	if (stat(a->exec_file, &st) < 0)
		return bad("--exec-file: %s: %s", a->exec_file, strerror(errno));
	if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111))
		return bad("--exec-file: %s is not an executable regular file", a->exec_file);
	const char *slash = strrchr(a->exec_file, '/');
	a->exec_name = slash ? slash + 1 : a->exec_file;
	if (!*a->exec_name || strlen(a->exec_name) > NAME_MAX)
		return bad("--exec-file: '%s' has no file name", a->exec_file);
	if (a->base_dir[0] != '/' || strlen(a->base_dir) > 2048)
		return bad("--chroot-base-dir: '%s' must be an absolute path", a->base_dir);
	if (!a->parent_cgroup)
		a->parent_cgroup = a->exec_name;
	if (!valid_cgroup_path(a->parent_cgroup))
		return bad("--parent-cgroup: '%s' must be a relative path of [A-Za-z0-9_.-] "
			   "components", a->parent_cgroup);
	if (a->netns && a->netns[0] != '/')
		return bad("--netns: '%s' must be an absolute path", a->netns);
	return 0;
}

int jail_parse_args(int argc, char **argv, struct jail_args *a)
{
	unsigned long long v;
	bool have_uid = false, have_gid = false;
	int opt;
	memset(a, 0, sizeof(*a));
	a->base_dir = JAIL_DEFAULT_BASE;
	a->cgroup_version = 1;
	optind = 1;
	opterr = 0;
	/* '+': stop at the first non-option; petrel's arguments come after "--". */
	while ((opt = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_ID:
			if (!valid_id(optarg))
				return bad("--id: '%s' must be 1 to %d letters, digits or '-'",
					   optarg, JAIL_ID_MAX);
			a->id = optarg;
			break;
		case OPT_EXEC_FILE: a->exec_file = optarg; break;
		case OPT_UID:
		case OPT_GID:
			if (parse_u32(optarg, 0xfffffffeu, &v) < 0)
				return bad("%s: '%s' is not a uid/gid (0 to 4294967294)",
					   opt == OPT_UID ? "--uid" : "--gid", optarg);
			if (opt == OPT_UID) {
				a->uid = (uid_t)v;
				have_uid = true;
			} else {
				a->gid = (gid_t)v;
				have_gid = true;
			}
			break;
		case OPT_BASE: a->base_dir = optarg; break;
		case OPT_NETNS: a->netns = optarg; break;
		case OPT_DAEMONIZE: a->daemonize = true; break;
		case OPT_NEW_PID_NS: a->new_pid_ns = true; break;
		case OPT_ROOTLESS: a->rootless = true; break;
		case OPT_CGROUP_VERSION:
			if (strcmp(optarg, "1") && strcmp(optarg, "2"))
				return bad("--cgroup-version: '%s' is not 1 or 2", optarg);
			a->cgroup_version = optarg[0] - '0';
			break;
		case OPT_CGROUP:
			if (parse_cgroup(a, optarg) < 0)
				return -1;
			break;
		case OPT_PARENT_CGROUP: a->parent_cgroup = optarg; break;
		case OPT_RLIMIT:
			if (parse_rlimit(a, optarg) < 0)
				return -1;
			break;
		case OPT_VERSION:
			printf("petrel-jailer %s\n", PETREL_VERSION);
			return 1;
		case OPT_HELP:
		case 'h':
			jail_usage(stdout);
			return 1;
		default:
			return bad("unknown option or missing value: '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc && strcmp(argv[optind - 1], "--"))
		return bad("unexpected argument '%s' (petrel's arguments go after --)",
			   argv[optind]);
	a->petrel_argv = argv + optind;
	a->petrel_argc = argc - optind;
	return check(a, have_uid, have_gid);
}
