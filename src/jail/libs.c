/* The shared libraries a dynamically linked exec file needs inside the jail.
 *
 * Firecracker's jailer expects a static binary; petrel links libjansson, libhttp_parser and
 * friends dynamically. Rather than copy megabytes of libraries into every jail, the jailer
 * finds the ELF interpreter (PT_INTERP) and every DT_NEEDED object, transitively, the way
 * the dynamic loader will find them inside the jail (RUNPATH/RPATH, then the loader's
 * built-in system directories: the jail has no /etc/ld.so.cache), and mounts.c bind-mounts
 * each of those files read-only at its host path. Nothing here runs the exec file or its
 * loader (unlike ldd): the files are only read. A static exec file needs nothing. */
#include "jail/jail.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* glibc's built-in search path (multiarch Debian/Ubuntu first, then the classic ones). */
static const char *const system_dirs[] = {
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64",
	"/lib", "/usr/lib",
};

/* An ELF file read with pread (no mmap: on a virtualized host every page fault of a
 * mapping costs more than copying the few kilobytes needed). */
struct elf_file {
	int fd;
	Elf64_Ehdr eh;
	Elf64_Phdr *ph;
	char *dynstr;             /* the dynamic string table */
	size_t dynstr_size;
	Elf64_Dyn *dyn;
	size_t ndyn;
};

static int read_at(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n = pread(fd, buf, len, off);
	return n < 0 ? -errno : (size_t)n == len ? 0 : -ENOEXEC;
}

/* Opens path and checks that it is a 64-bit little-endian x86-64 ELF object. */
static int elf_open(const char *path, struct elf_file *f)
{
	memset(f, 0, sizeof(*f));
	if ((f->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	int ret = read_at(f->fd, &f->eh, sizeof(f->eh), 0);
	const Elf64_Ehdr *eh = &f->eh;
	if (!ret && (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
		     eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_X86_64 ||
		     eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0))
		ret = -ENOEXEC;
	if (ret < 0) {
		close(f->fd);
		f->fd = -1;
	}
	return ret;
}

static void elf_close(struct elf_file *f)
{
	free(f->ph);
	free(f->dyn);
	free(f->dynstr);
	if (f->fd >= 0)
		close(f->fd);
}

static void *read_alloc(int fd, size_t len, off_t off, int *ret)
{
	void *p = len && len <= (64u << 20) ? malloc(len + 1) : NULL;
	*ret = p ? read_at(fd, p, len, off) : -ENOEXEC;
	if (*ret < 0) {
		free(p);
		return NULL;
	}
	((char *)p)[len] = '\0';
	return p;
}

/* The file offset of a virtual address (in a PT_LOAD segment's file part), or 0. */
static size_t elf_offset(const struct elf_file *f, Elf64_Addr va)
{
	for (unsigned i = 0; i < f->eh.e_phnum; i++) {
		const Elf64_Phdr *p = &f->ph[i];
		if (p->p_type == PT_LOAD && va >= p->p_vaddr && va - p->p_vaddr < p->p_filesz)
			return p->p_offset + (va - p->p_vaddr);
	}
	return 0;
}

/* A string in the dynamic string table, or NULL if it runs off the table. */
static const char *dyn_string(const struct elf_file *f, size_t off)
{
	if (!f->dynstr || off >= f->dynstr_size || !memchr(f->dynstr + off, '\0',
							       f->dynstr_size - off))
		return NULL;
	return f->dynstr + off;
}

/* Whether a path has a "." or ".." component: the jail binds each library at its host path,
 * and such a path would reach outside the directory made for it (or outside the jail). */
static bool has_dot_component(const char *path)
{
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return true;
		p += n + (p[n] == '/');
	}
	return false;
}

static int add_path(struct jail_libs *libs, const char *path)
{
	if (has_dot_component(path))
		return jail_err(EINVAL, "shared library %s: a path with '.' or '..' cannot be bound in the "
				"jail (give the exec file a RUNPATH without them)", path);
	for (size_t i = 0; i < libs->n; i++)
		if (!strcmp(libs->paths[i], path))
			return 0;
	if (libs->n == JAIL_MAX_LIBS)
		return jail_err(E2BIG, "exec file needs more than %d shared libraries", JAIL_MAX_LIBS);
	if (!(libs->paths[libs->n] = strdup(path)))
		return jail_err(ENOMEM, "shared library list");
	libs->n++;
	return 0;
}

/* Is dir/name a loadable x86-64 ELF object? Writes the path on success. */
static bool try_dir(const char *dir, size_t dlen, const char *name, char *out, size_t size)
{
	struct elf_file f;
	if (snprintf(out, size, "%.*s/%s", (int)dlen, dir, name) >= (int)size)
		return false;
	if (elf_open(out, &f) < 0)
		return false;   /* missing, or another architecture: the loader skips it too */
	elf_close(&f);
	return true;
}

/* Finds a DT_NEEDED name as the loader will: the object's RUNPATH (or RPATH) absolute
 * entries, then the system directories. $ORIGIN entries are skipped: inside the jail the
 * exec file's origin is "/", not its host directory. */
static bool find_lib(const char *name, const char *runpath, char *out, size_t size)
{
	if (strchr(name, '/'))
		return name[0] == '/' && try_dir("", 0, name + 1, out, size);
	for (const char *p = runpath; p && *p; ) {
		size_t n = strcspn(p, ":");
		if (n && p[0] == '/' && try_dir(p, n, name, out, size))
			return true;
		p += n + (p[n] == ':');
	}
	for (size_t i = 0; i < sizeof(system_dirs) / sizeof(system_dirs[0]); i++)
		if (try_dir(system_dirs[i], strlen(system_dirs[i]), name, out, size))
			return true;
	return false;
}

/* Reads the program headers, the interpreter (into *interp, malloc'd, if wanted), the
 * dynamic section and its string table. */
static int elf_load(const char *path, struct elf_file *f, char **interp)
{
	int ret = elf_open(path, f);
	if (ret < 0)
		return jail_err(ret, "read ELF file %s", path);
	f->ph = read_alloc(f->fd, (size_t)f->eh.e_phnum * sizeof(Elf64_Phdr),
			   (off_t)f->eh.e_phoff, &ret);
	for (unsigned i = 0; f->ph && i < f->eh.e_phnum && !ret; i++) {
		const Elf64_Phdr *p = &f->ph[i];
		if (p->p_type == PT_INTERP && interp)
			*interp = read_alloc(f->fd, p->p_filesz, (off_t)p->p_offset, &ret);
		else if (p->p_type == PT_DYNAMIC && !f->dyn) {
			f->dyn = read_alloc(f->fd, p->p_filesz, (off_t)p->p_offset, &ret);
			f->ndyn = p->p_filesz / sizeof(Elf64_Dyn);
		}
	}
	Elf64_Addr strtab = 0;
	for (size_t i = 0; !ret && i < f->ndyn && f->dyn[i].d_tag != DT_NULL; i++) {
		if (f->dyn[i].d_tag == DT_STRTAB)
			strtab = f->dyn[i].d_un.d_ptr;
		else if (f->dyn[i].d_tag == DT_STRSZ)
			f->dynstr_size = f->dyn[i].d_un.d_val;
	}
	if (!ret && f->ndyn) {
		size_t off = strtab ? elf_offset(f, strtab) : 0;
		f->dynstr = off ? read_alloc(f->fd, f->dynstr_size, (off_t)off, &ret) : NULL;
		if (!f->dynstr)
			ret = -ENOEXEC;
	}
	if (ret < 0)
		return jail_err(ret, "read ELF file %s (program headers, dynamic section)", path);
	return 0;
}

/* Adds the interpreter (of the exec file only) and the resolved DT_NEEDED objects of path. */
static int scan(const char *path, bool top, struct jail_libs *libs)
{
	struct elf_file f;
	char *interp = NULL;
	int ret = elf_load(path, &f, top ? &interp : NULL);
	if (!ret && interp) {
		if (interp[0] != '/')
			ret = jail_err(ENOEXEC, "%s: bad ELF interpreter", path);
		else
			ret = add_path(libs, interp);
	}
	free(interp);
	const char *rp = NULL;
	for (size_t i = 0; !ret && i < f.ndyn && f.dyn[i].d_tag != DT_NULL; i++)
		if (f.dyn[i].d_tag == DT_RUNPATH || (f.dyn[i].d_tag == DT_RPATH && !rp))
			rp = dyn_string(&f, f.dyn[i].d_un.d_val);
	for (size_t i = 0; !ret && i < f.ndyn && f.dyn[i].d_tag != DT_NULL; i++) {
		char found[4096];
		if (f.dyn[i].d_tag != DT_NEEDED)
			continue;
		const char *name = dyn_string(&f, f.dyn[i].d_un.d_val);
		if (!name)
			ret = jail_err(ENOEXEC, "%s: bad DT_NEEDED entry", path);
		else if (!find_lib(name, rp, found, sizeof(found)))
			ret = jail_err(ENOENT, "find shared library %s needed by %s (the jail only "
				       "has the loader's system directories and RUNPATH)", name, path);
		else
			ret = add_path(libs, found);
	}
	elf_close(&f);
	return ret;
}

/* Libraries petrel loads with dlopen when a feature needs them, so they are no DT_NEEDED of
 * its: the API server's HTTP parser (src/http/parser_lib.c), MMDS tokens (nettle), the
 * E1000's receive CRC (libdeflate), a
 * bzImage's decompressors (util/dlopen.c), seccomp, JSON, zlib and io_uring (util/lazy_libs.c).
 * Keep in step with those files.
 * Each is bound in when the host has it (with what it needs in turn); one the host lacks is
 * left out, as petrel itself then reports the feature missing. Not libcurl: only the client
 * commands (`petrel migrate`, `replicate`, `image deploy`, src/cli/api_client.c) load it, and
 * the jail execs petrel's Firecracker command line (`--id ...`), never one of those; with it
 * came 27 more libraries to scan, create and bind (gnutls, krb5, ldap, ssh2, ...). GnuTLS alone
 * is here: a worker's tls: migration and replication streams (util/tls.c) load it, with its
 * six libraries (p11-kit, idn2, unistring, tasn1, hogweed, gmp; nettle is already here). */
static const char *const dlopened[] = {
	"libhttp_parser.so.2.9", "libnettle.so.8", "libseccomp.so.2", "liblz4.so.1",
	"libzstd.so.1", "liblzma.so.5", "libbz2.so.1.0", "liblzo2.so.2", "libgnutls.so.30",
	"libdeflate.so.0",   /* the E1000's receive CRC (devices/e1000/e1000_fcs.c) */
	"libext2fs.so.2",    /* a boot from the disk's ext2/3/4 (diskboot/extfs.c) */
	/* and those the petrel program loads at start in every mode but a bare `petrel run`
	 * (util/lazy_libs.c: not linked, so its start-up skips them when it can) */
	"libjansson.so.4", "libz.so.1", "liburing.so.2",
};

int jail_libs_resolve(const char *exec_file, struct jail_libs *libs)
{
	libs->n = 0;
	int ret = scan(exec_file, true, libs);
	/* a dynamically linked petrel (one with an interpreter) can dlopen */
	for (size_t i = 0; !ret && libs->n && i < sizeof(dlopened) / sizeof(dlopened[0]); i++) {
		char found[4096];
		if (find_lib(dlopened[i], NULL, found, sizeof(found)))
			ret = add_path(libs, found);
	}
	/* Breadth first: each object is scanned once, its new needs are appended to the list. */
	for (size_t i = 0; i < libs->n && !ret; i++)
		ret = scan(libs->paths[i], false, libs);
	if (ret < 0)
		jail_libs_free(libs);
	return ret;
}

size_t jail_lib_top_len(const char *host_path)
{
	const char *slash = strchr(host_path + 1, '/');
	return slash ? (size_t)(slash - host_path) : 0;
}

bool jail_lib_top_seen(const struct jail_libs *libs, size_t i)
{
	size_t top = jail_lib_top_len(libs->paths[i]);
	for (size_t k = 0; k < i; k++)
		if (jail_lib_top_len(libs->paths[k]) == top && !strncmp(libs->paths[k], libs->paths[i], top))
			return true;
	return false;
}

void jail_libs_free(struct jail_libs *libs)
{
	for (size_t i = 0; i < libs->n; i++)
		free(libs->paths[i]);
	libs->n = 0;
}
