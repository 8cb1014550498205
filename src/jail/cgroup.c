/* petrel's cgroups: <hierarchy>/<parent-cgroup>/<id> for each hierarchy a --cgroup needs.
 *
 * v1: each controller (the part of FILE before the first '.') is found in /proc/mounts as a
 * "cgroup" mount with that option; controllers that share a mount share one directory.
 * v2: the "cgroup2" mount (/sys/fs/cgroup on a unified host, /sys/fs/cgroup/unified on a
 * hybrid one); the controllers are enabled in cgroup.subtree_control from the top down.
 *
 * The jailer (root, on the host) creates the directories and writes the values; it also
 * opens each directory's tasks (v1) or cgroup.procs (v2) file, so that the process that will
 * exec petrel can move itself in by writing "0" to it later, inside the jail and before it
 * gives up root. */
#include "jail/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CREATED 128

struct cg_dir {
	char mount[4096];         /* the hierarchy's mount point */
	char path[4096];          /* <mount>/<parent>/<id> */
	bool cpuset;              /* a v1 hierarchy with the cpuset controller */
	int procs_fd;
};

struct jail_cgroups {
	int version;
	struct cg_dir dirs[JAIL_MAX_CGROUPS];
	size_t n;
	char *created[MAX_CREATED];   /* directories this run made, to remove on failure */
	size_t n_created;
};

/* Does the comma-separated option list opts contain word? */
static bool has_option(const char *opts, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = opts; p && *p; ) {
		size_t len = strcspn(p, ",");
		if (len == n && !strncmp(p, word, n))
			return true;
		p += len + (p[len] == ',');
	}
	return false;
}

/* The mount point of the v1 hierarchy with controller (or of cgroup2 when controller is
 * NULL), from /proc/mounts. */
static int find_mount(const char *controller, char *out, size_t size)
{
	struct mntent ent;
	char buf[8192];
	int ret = -ENOENT;
	FILE *f = setmntent("/proc/mounts", "re");
	if (!f)
		return jail_err(errno, "cgroup: read /proc/mounts");
	while (ret == -ENOENT && getmntent_r(f, &ent, buf, sizeof(buf))) {
		bool match = controller ? !strcmp(ent.mnt_type, "cgroup") &&
					  has_option(ent.mnt_opts, controller)
					: !strcmp(ent.mnt_type, "cgroup2");
		if (match)
			ret = jail_path(out, size, "%s", ent.mnt_dir);
	}
	endmntent(f);
	if (ret == -ENOENT && controller)
		return jail_err(ENOENT, "cgroup v1: no hierarchy in /proc/mounts has the '%s' "
				"controller (wrong --cgroup FILE, or try --cgroup-version 2)", controller);
	if (ret == -ENOENT)
		return jail_err(ENOENT, "cgroup v2: no cgroup2 file system in /proc/mounts "
				"(try --cgroup-version 1)");
	return ret;
}

static int read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, size - 1);
	int err = errno;
	close(fd);
	if (n < 0)
		return -err;
	buf[n] = '\0';
	return (int)n;
}

static int write_file(const char *dir, const char *file, const char *value)
{
	char path[4096];
	int ret = jail_path(path, sizeof(path), "%s/%s", dir, file);
	if (ret < 0)
		return ret;
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return jail_err(errno, "cgroup: open %s", path);
	size_t len = strlen(value);
	if (write(fd, value, len) != (ssize_t)len)
		ret = jail_err(errno ? errno : EIO, "cgroup: write '%s' to %s", value, path);
	close(fd);
	return ret;
}

/* A new v1 cpuset cgroup has no CPUs and no memory nodes: give it its parent's. */
static int cpuset_inherit(const char *dir)
{
	static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
	char path[4096], parent[4096], value[4096];
	for (size_t i = 0; i < 2; i++) {
		int ret = jail_path(path, sizeof(path), "%s/%s", dir, files[i]);
		if (ret < 0)
			return ret;
		if (read_small(path, value, sizeof(value)) > 1)
			continue;   /* already set */
		if ((ret = jail_path(parent, sizeof(parent), "%s", dir)) < 0)
			return ret;
		*strrchr(parent, '/') = '\0';
		if ((ret = jail_path(path, sizeof(path), "%s/%s", parent, files[i])) < 0)
			return ret;
		if ((ret = read_small(path, value, sizeof(value))) < 0)
			return jail_err(ret, "cgroup: read %s", path);
		if ((ret = write_file(dir, files[i], value)) < 0)
			return ret;
	}
	return 0;
}

/* mkdir -p of d->path below d->mount, remembering what it made. */
static int make_dirs(struct jail_cgroups *cg, struct cg_dir *d)
{
	char path[4096];
	size_t base = strlen(d->mount);
	memcpy(path, d->path, strlen(d->path) + 1);
	for (char *p = path + base + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(path, 0755) == 0) {
			if (cg->n_created == MAX_CREATED || !(cg->created[cg->n_created] = strdup(path)))
				return jail_err(ENOMEM, "cgroup: too many directories");
			cg->n_created++;
		} else if (errno != EEXIST) {
			return jail_err(errno, "cgroup: mkdir %s", path);
		}
		if (d->cpuset) {
			int ret = cpuset_inherit(path);
			if (ret < 0)
				return ret;
		}
		*p = c;
		if (!c)
			return 0;
	}
}

/* v2: is controller listed in dir's cgroup.subtree_control already? Then it is not written
 * again: a --rootless caller may own only the lower part of the path (a delegated subtree),
 * and the levels above are the administrator's. */
static bool enabled(const char *dir, const char *controller)
{
	char path[4096], list[4096], *tok, *save = NULL;
	if (jail_path(path, sizeof(path), "%s/cgroup.subtree_control", dir) < 0 ||
	    read_small(path, list, sizeof(list)) < 0)
		return false;
	for (tok = strtok_r(list, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
		if (!strcmp(tok, controller))
			return true;
	return false;
}

/* v2: check that the controller is available and enable it from the top down to the parent
 * of the id directory. "cgroup.*" files belong to no controller. */
static int v2_enable(struct cg_dir *d, const char *controller)
{
	char path[4096], list[4096], plus[64];
	int ret;
	if (!strcmp(controller, "cgroup"))
		return 0;
	if ((ret = jail_path(path, sizeof(path), "%s/cgroup.controllers", d->mount)) < 0)
		return ret;
	if ((ret = read_small(path, list, sizeof(list))) < 0)
		return jail_err(ret, "cgroup v2: read %s", path);
	list[strcspn(list, "\n")] = '\0';
	char *tok, *save = NULL, copy[4096];
	bool found = false;
	memcpy(copy, list, sizeof(copy));
	for (tok = strtok_r(copy, " ", &save); tok && !found; tok = strtok_r(NULL, " ", &save))
		found = !strcmp(tok, controller);
	if (!found)
		return jail_err(ENOENT, "cgroup v2: controller '%s' is not available in %s (it has: "
				"%s); on a hybrid host it is bound to a v1 hierarchy: use "
				"--cgroup-version 1", controller, d->mount, *list ? list : "none");
	snprintf(plus, sizeof(plus), "+%s", controller);
	memcpy(path, d->path, strlen(d->path) + 1);
	*strrchr(path, '/') = '\0';   /* the parent of <id> */
	size_t base = strlen(d->mount);
	for (char *p = path + base; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (!enabled(path, controller) &&
		    (ret = write_file(path, "cgroup.subtree_control", plus)) < 0)
			return ret;
		*p = c;
		if (!c)
			return 0;
	}
}

/* The directory for one --cgroup argument: found or added (one per hierarchy). */
static int dir_for(struct jail_cgroups *cg, const struct jail_args *a,
		   const struct jail_cgroup_arg *c, struct cg_dir **out)
{
	char mount[4096];
	int ret = find_mount(cg->version == 1 ? c->controller : NULL, mount, sizeof(mount));
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < cg->n; i++)
		if (!strcmp(cg->dirs[i].mount, mount)) {
			*out = &cg->dirs[i];
			return 0;
		}
	struct cg_dir *d = &cg->dirs[cg->n];
	memcpy(d->mount, mount, sizeof(mount));
	d->procs_fd = -1;
	d->cpuset = cg->version == 1 && !strcmp(c->controller, "cpuset");
	ret = jail_path(d->path, sizeof(d->path), "%s/%s/%s", mount, a->parent_cgroup, a->id);
	if (!ret)
		ret = make_dirs(cg, d);
	if (ret < 0)
		return ret;
	cg->n++;
	*out = d;
	return 0;
}

static int open_procs(struct cg_dir *d, int version)
{
	char path[4096];
	int ret = jail_path(path, sizeof(path), "%s/%s", d->path,
			    version == 1 ? "tasks" : "cgroup.procs");
	if (ret < 0)
		return ret;
	if ((d->procs_fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return jail_err(errno, "cgroup: open %s", path);
	return 0;
}

int jail_cgroups_setup(const struct jail_args *a, struct jail_cgroups **out)
{
	struct jail_cgroups *cg = calloc(1, sizeof(*cg));
	int ret = 0;
	if (!cg)
		return jail_err(ENOMEM, "cgroup: allocate");
	cg->version = a->cgroup_version;
	*out = cg;
	for (size_t i = 0; i < a->n_cgroups && !ret; i++) {
		const struct jail_cgroup_arg *c = &a->cgroups[i];
		struct cg_dir *d;
		ret = dir_for(cg, a, c, &d);
		if (!ret && cg->version == 2)
			ret = v2_enable(d, c->controller);
		if (!ret)
			ret = write_file(d->path, c->file, c->value);
	}
	for (size_t i = 0; i < cg->n && !ret; i++)
		ret = open_procs(&cg->dirs[i], cg->version);
	if (a->rootless && (ret == -EACCES || ret == -EPERM))
		fprintf(stderr, "petrel-jailer: note: --rootless: --cgroup works only in a cgroup "
			"subtree delegated to the calling user (its directory and files chowned to it, "
			"and for v2 the jailer already in that subtree): give --parent-cgroup as its "
			"path below the hierarchy's mount, or leave out --cgroup (docs/security.md)\n");
	return ret;
}

/* In the process that will exec petrel: move itself ("0" is the writer) into each cgroup. */
int jail_cgroups_join(struct jail_cgroups *cg)
{
	for (size_t i = 0; cg && i < cg->n; i++) {
		struct cg_dir *d = &cg->dirs[i];
		if (write(d->procs_fd, "0", 1) != 1)
			return jail_err(errno, "cgroup: move the jailed process into %s", d->path);
		close(d->procs_fd);
		d->procs_fd = -1;
	}
	return 0;
}

/* After a failure before petrel ran: remove the directories this run created. A parent
 * cgroup that another jail has started to use in the meantime stays (EBUSY, ENOTEMPTY). */
void jail_cgroups_remove(struct jail_cgroups *cg)
{
	for (size_t i = cg ? cg->n_created : 0; i-- > 0; )
		if (rmdir(cg->created[i]) < 0 && errno != EBUSY && errno != ENOTEMPTY)
			jail_err(errno, "cleanup: rmdir %s", cg->created[i]);
}

void jail_cgroups_free(struct jail_cgroups *cg)
{
	if (!cg)
		return;
	for (size_t i = 0; i < cg->n; i++)
		if (cg->dirs[i].procs_fd >= 0)
			close(cg->dirs[i].procs_fd);
	for (size_t i = 0; i < cg->n_created; i++)
		free(cg->created[i]);
	free(cg);
}
