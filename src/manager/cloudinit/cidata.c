/* cloud-init's seed drive (cidata.h): the seed's files written to a private directory, a FAT
 * file system made on a new file by mformat and the files copied in by mcopy (run_tool.h),
 * then renamed into place. */
#include "manager/cloudinit/cidata.h"
#include "manager/cloudinit/seed.h"
#include "manager/fsutil.h"
#include "manager/run_tool.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* mtools' environment: no user's configuration, no check of the image's geometry against a
 * drive (there is none). */
static const char *const mtools_env[] = { "MTOOLS_SKIP_CHECK=1", "MTOOLSRC=/dev/null", "LC_ALL=C",
					  "PATH=/usr/bin:/bin", NULL };

static int write_all(const char *path, const char *text, size_t len, char *err, size_t errlen)
{
	errno = 0;
	FILE *f = fopen(path, "wxe");
	bool ok = f && fwrite(text, 1, len, f) == len;
	ok = f && fclose(f) == 0 && ok;
	if (!ok)
		return error_set(err, errlen, -(errno ? errno : EIO), "cannot write %s: %s", path, strerror(errno ? errno : EIO));
	return 0;
}

/* The FAT file system on img, the seed's files (in dir) copied in. */
static int fill(const char *img, const char *dir, const struct ci_seed *seed, char *err, size_t errlen)
{
	_cleanup_close_ int fd = open(img, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, CIDATA_BYTES) < 0)
		return error_set(err, errlen, -errno, "cannot make %s: %s", img, strerror(errno));
	char sectors[16];
	snprintf(sectors, sizeof(sectors), "%d", CIDATA_BYTES / 512);
	const char *mformat[] = { MTOOLS_DIR "/mformat", "-i", img, "-v", CIDATA_LABEL, "-T", sectors, "-h", "2", "-s", "32",
				  "::", NULL };
	int e = run_tool(mformat, mtools_env, err, errlen);
	if (e < 0)
		return e;
	const char *mcopy[4 + CI_NFILES + 2] = { MTOOLS_DIR "/mcopy", "-i", img, "-Q" };
	char paths[CI_NFILES][PATH_MAX + 32];
	int n = 4;
	for (int i = 0; i < CI_NFILES; i++) {
		if (!seed->text[i])
			continue;
		snprintf(paths[i], sizeof(paths[i]), "%s/%s", dir, ci_file_names[i]);
		if ((e = write_all(paths[i], seed->text[i], seed->len[i], err, errlen)) < 0)
			return e;
		mcopy[n++] = paths[i];
	}
	mcopy[n++] = "::/";
	mcopy[n] = NULL;
	if ((e = run_tool(mcopy, mtools_env, err, errlen)) < 0)
		return e;
	if (fsync(fd) < 0)
		return error_set(err, errlen, -errno, "fsync %s: %s", img, strerror(errno));
	return 0;
}

int cidata_write(const char *path, const struct ci_seed *seed, char *err, size_t errlen)
{
	char dir[PATH_MAX], img[PATH_MAX];
	if (snprintf(dir, sizeof(dir), "%s.d.XXXXXX", path) >= (int)sizeof(dir) ||
	    snprintf(img, sizeof(img), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(img))
		return error_set(err, errlen, -ENAMETOOLONG, "%s: path too long", path);
	if (!mkdtemp(dir))
		return error_set(err, errlen, -errno, "cannot make a directory beside %s: %s", path, strerror(errno));
	unlink(img);   /* a crashed petreld's */
	int e = fill(img, dir, seed, err, errlen);
	rm_tree(dir);
	if (e == 0 && rename(img, path) < 0)
		e = error_set(err, errlen, -errno, "cannot rename %s to %s: %s", img, path, strerror(errno));
	if (e < 0)
		unlink(img);
	return e;
}
