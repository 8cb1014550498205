/* The backing files of a jailed worker's qcow2 disks (docs/manager.md#clones). A qcow2 image
 * names its backing file; petrel resolves a relative name against the directory of the image
 * that names it (docs/images.md). A disk is put into the jail as <root>/vm/fN, so a relative
 * backing name NAME is looked for at <root>/vm/NAME: this links the host's file, found next to
 * the disk on the host, to that place, and so on down the chain. The chain is then the same
 * inside the chroot as outside, whatever the host paths are. An absolute backing name cannot be
 * reached from inside the chroot: it is refused with the reason, as is a name with "..".
 *
 * Only drives the definition pins "format": "qcow2" are followed (an image the host made); the
 * headers are read with petrel's own qcow2 header parser (src/block, fuzzed), and a backing
 * file's format is the one its image records, else probed, as petrel does. Backing files are
 * linked, never handed to the worker (a base is shared, read-only, by every clone over it). */
#include "manager/jail_fill.h"
#include "block/qcow2_format.h"
#include "util/error.h"

#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHAIN_MAX 16   /* petrel's own limit on a chain, the top image included */
#define HEAD_BYTES 65536

int disk_qcow2_header(const char *path, const char *format, struct qcow2_header *h, char *err, size_t errlen)
{
	if (format && !strcmp(format, "raw"))
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, errlen, -errno, "'%s': %s", path, strerror(errno));
	struct stat st;
	uint8_t *buf = malloc(HEAD_BYTES);
	ssize_t n = buf && fstat(fd, &st) == 0 ? pread(fd, buf, HEAD_BYTES, 0) : -1;
	int e = n < 0 ? error_set(err, errlen, -(buf ? errno : ENOMEM), "'%s': %s", path, strerror(errno)) : 0;
	close(fd);
	if (!e && (!format || !strcmp(format, "auto")) && !qcow2_probe(buf, (size_t)n)) {
		free(buf);
		return 0;
	}
	if (!e) {
		char why[256];
		if (qcow2_header_parse(buf, (size_t)n, (uint64_t)st.st_size, h, why, sizeof(why)) < 0)
			e = error_set(err, errlen, -EINVAL, "'%s': %s", path, why);
	}
	free(buf);
	return e < 0 ? e : 1;
}

static bool name_ok(const char *name)
{
	if (!name[0] || name[0] == '/')
		return false;
	for (const char *p = name; p; p = strchr(p, '/')) {
		p += *p == '/';
		if (!strncmp(p, "..", 2) && (p[2] == '/' || !p[2]))
			return false;
	}
	return true;
}

/* mkdir -p of the directories of rel (a relative path) under base. */
static int make_parents(const char *base, const char *rel)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", base, rel);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	for (char *p = path + strlen(base) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

/* Link the chain under the disk at host path disk (format as the definition pins it). */
static int link_chain(const char *where, const char *disk, const char *format, const char *vmdir, char *err,
		      size_t errlen)
{
	char host[PATH_MAX], rel[PATH_MAX] = "", fmt[32] = "";
	snprintf(host, sizeof(host), "%s", disk);
	snprintf(fmt, sizeof(fmt), "%s", format ? format : "");
	struct qcow2_header *h = malloc(sizeof(*h));
	if (!h)
		return error_set(err, errlen, -ENOMEM, "out of memory");
	int e = 0;
	for (int depth = 1;; depth++) {
		char why[PATH_MAX + 64];
		int q = disk_qcow2_header(host, fmt[0] ? fmt : NULL, h, why, sizeof(why));
		if (q < 0) {
			e = error_set(err, errlen, q, "%s: %s", where, why);
			break;
		}
		if (q == 0 || !h->backing_file[0])
			break;
		if (depth >= CHAIN_MAX) {
			e = error_set(err, errlen, -EINVAL, "%s: '%s': a backing chain longer than %d images", where, disk,
				    CHAIN_MAX);
			break;
		}
		if (!name_ok(h->backing_file)) {
			e = error_set(err, errlen, -EINVAL,
				    "%s: '%s' names its backing file '%s' by an absolute path or with '..': a jailed "
				    "worker cannot reach it; make the image with a backing name relative to its own "
				    "directory (petrel image create-overlay does)", where, host, h->backing_file);
			break;
		}
		/* NAME is relative to the naming image's directory, on the host and in the jail. */
		char *slash = strrchr(host, '/'), next[PATH_MAX], nrel[PATH_MAX], to[PATH_MAX];
		char *rslash = strrchr(rel, '/');
		int a = snprintf(next, sizeof(next), "%.*s/%s", (int)(slash - host), host, h->backing_file);
		int b = snprintf(nrel, sizeof(nrel), "%.*s%s%s", rslash ? (int)(rslash - rel) : 0, rel,
				 rslash ? "/" : "", h->backing_file);
		int c = b >= 0 && (size_t)b < sizeof(nrel) ? snprintf(to, sizeof(to), "%s/%s", vmdir, nrel) : -1;
		if (a < 0 || (size_t)a >= sizeof(next) || c < 0 || (size_t)c >= sizeof(to)) {
			e = error_set(err, errlen, -ENAMETOOLONG, "%s: the backing path of '%s' is too long", where, host);
			break;
		}
		if ((e = make_parents(vmdir, nrel)) < 0) {
			e = error_set(err, errlen, e, "%s: cannot make the directories of '%s' in the jail: %s", where, nrel,
				    strerror(-e));
			break;
		}
		if (linkat(AT_FDCWD, next, AT_FDCWD, to, AT_SYMLINK_FOLLOW) < 0) {
			struct stat s1, s2;
			bool same = errno == EEXIST && stat(next, &s1) == 0 && stat(to, &s2) == 0 &&
				    s1.st_dev == s2.st_dev && s1.st_ino == s2.st_ino;
			if (!same) {
				e = error_set(err, errlen, -(errno == EEXIST ? EEXIST : errno),
					    "%s: cannot link the backing file '%s' into the jail as /vm/%s: %s%s", where,
					    next, nrel, errno == EEXIST ? "another file has that name" : strerror(errno),
					    errno == EXDEV ? " (it must be on the jail base's file system)" : "");
				break;
			}
		}
		snprintf(host, sizeof(host), "%s", next);
		snprintf(rel, sizeof(rel), "%s", nrel);
		snprintf(fmt, sizeof(fmt), "%s", h->backing_format);
	}
	free(h);
	return e;
}

int jail_link_backing(json_t *fc, const char *root, char *err, size_t errlen)
{
	char vmdir[PATH_MAX];
	snprintf(vmdir, sizeof(vmdir), "%s/vm", root);
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(fc, "drives"), i, d) {
		const char *path = json_string_value(json_object_get(d, "path_on_host"));
		const char *format = json_string_value(json_object_get(d, "format"));
		char where[48];
		/* Only an image the definition says is qcow2: a disk left to probing may be a raw
		 * disk whose guest wrote a qcow2 header naming a file beside it (docs/images.md's
		 * probing rule); its worker probes it inside the jail, where no such file is. */
		if (!path || !format || strcmp(format, "qcow2"))
			continue;
		snprintf(where, sizeof(where), "drives[%zu]", i);
		int e = link_chain(where, path, format, vmdir, err, errlen);
		if (e < 0)
			return e;
	}
	return 0;
}
