/* A UEFI firmware's variables file: made from the template, checked, mapped write-through. */
#include "boot/firmware_vars.h"
#include "util/error.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* EFI_FIRMWARE_VOLUME_HEADER: a 16-byte zero vector, the file system GUID, the length, then the
 * signature "_FVH" at offset 40 (PI spec, volume 3). */
#define FV_SIGNATURE_OFF 40

bool firmware_has_fv(const uint8_t *img, size_t len)
{
	return len >= FV_SIGNATURE_OFF + 4 && memcmp(img + FV_SIGNATURE_OFF, "_FVH", 4) == 0;
}

static size_t vars_max(size_t code_size)
{
	return code_size < FIRMWARE_VARS_TOTAL ? FIRMWARE_VARS_TOTAL - code_size : 0;
}

/* The size alone (checked before a file is mapped). */
static int check_size(size_t len, size_t code_size, char *err, size_t errlen)
{
	if (len % FIRMWARE_VARS_ALIGN || len < FIRMWARE_VARS_MIN || len > vars_max(code_size))
		return error_set(err, errlen, -EINVAL,
				 "is %zu bytes: a vars file is a multiple of %u KiB between %u KiB and %zu KiB "
				 "(16 MiB less the code's %zu KiB)", len, FIRMWARE_VARS_ALIGN >> 10,
				 FIRMWARE_VARS_MIN >> 10, vars_max(code_size) >> 10, code_size >> 10);
	return 0;
}

int firmware_vars_check(const uint8_t *img, size_t len, size_t code_size, char *err, size_t errlen)
{
	int r = check_size(len, code_size, err, errlen);
	if (r < 0)
		return r;
	if (!firmware_has_fv(img, len))
		return error_set(err, errlen, -EINVAL, "has no EFI firmware volume header (\"_FVH\" at offset %d): "
				 "not a UEFI variables file", FV_SIGNATURE_OFF);
	return 0;
}

static int template_error(int r, char *err, size_t errlen)
{
	return error_set(err, errlen, r, "cannot read the UEFI variables template %s: %s%s", FIRMWARE_OVMF_VARS_TEMPLATE,
			 strerror(-r), r == -ENOENT ? " (install Debian's package ovmf)" : "");
}

static int read_template(char **buf, size_t *len, char *err, size_t errlen)
{
	int r = read_whole_file(FIRMWARE_OVMF_VARS_TEMPLATE, FIRMWARE_VARS_TOTAL, buf, len);
	return r < 0 ? template_error(r, err, errlen) : 0;
}

/* A new file from the template (O_EXCL: never over another's file). -EEXIST if it appeared. */
static int create_from_template(const char *path, char *err, size_t errlen)
{
	if (access(FIRMWARE_OVMF_VARS_TEMPLATE, R_OK) < 0)
		return template_error(-errno, err, errlen);
	int r = copy_file_mode(FIRMWARE_OVMF_VARS_TEMPLATE, path, 0600, true);
	if (r == -EEXIST)
		return r;
	if (r < 0)
		return error_set(err, errlen, r, "cannot create the vars file %s: %s", path, strerror(-r));
	log_info("firmware: created the vars file %s from %s", path, FIRMWARE_OVMF_VARS_TEMPLATE);
	return 0;
}

static int open_private(size_t code_size, struct firmware_vars *v, char *err, size_t errlen)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = read_template(&buf, &len, err, errlen);
	char why[200];
	if (r == 0 && (r = firmware_vars_check((const uint8_t *)buf, len, code_size, why, sizeof(why))) < 0)
		return error_set(err, errlen, r, "the UEFI variables template %s %s", FIRMWARE_OVMF_VARS_TEMPLATE, why);
	if (r < 0)
		return r;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return error_oom(err, errlen);
	memcpy(p, buf, len);
	*v = (struct firmware_vars){ .mem = p, .size = len, .file = false };
	static bool said;
	if (!__atomic_exchange_n(&said, true, __ATOMIC_RELAXED))
		log_info("firmware: no firmware_vars_path: UEFI variables are a private copy of %s and last as "
			 "long as the VM", FIRMWARE_OVMF_VARS_TEMPLATE);
	return 0;
}

int firmware_vars_open(const char *path, size_t code_size, struct firmware_vars *v, char *err, size_t errlen)
{
	memset(v, 0, sizeof(*v));
	if (!path)
		return open_private(code_size, v, err, errlen);
	_cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		int r = create_from_template(path, err, errlen);
		if (r < 0 && r != -EEXIST)
			return r;
		fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd < 0)
		return error_set(err, errlen, -errno, "cannot open the vars file %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0)
		return error_set(err, errlen, -errno, "cannot stat the vars file %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return error_set(err, errlen, -EINVAL, "the vars file %s is not a regular file", path);
	char why[200];
	int r = check_size((size_t)st.st_size, code_size, why, sizeof(why));
	if (r < 0)
		return error_set(err, errlen, r, "the vars file %s %s", path, why);
	size_t len = (size_t)st.st_size;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) /* EINVAL, ENODEV: a file system without shared writable mappings (9p without cache=mmap) */
		return error_set(err, errlen, -errno, "cannot map the vars file %s shared and writable: %s%s", path,
				 strerror(errno), errno == EINVAL || errno == ENODEV
							  ? " (its file system does not support it: keep it on a local one)" : "");
	if ((r = firmware_vars_check(p, len, code_size, why, sizeof(why))) < 0) {
		munmap(p, len);
		return error_set(err, errlen, r, "the vars file %s %s", path, why);
	}
	*v = (struct firmware_vars){ .mem = p, .size = len, .file = true };
	return 0;
}

void firmware_vars_close(struct firmware_vars *v)
{
	if (v->mem)
		munmap(v->mem, v->size);
	memset(v, 0, sizeof(*v));
}
