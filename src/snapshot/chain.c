/* Diff snapshots: a state file whose 'PRNT' section names the snapshot it builds on, its
 * 'PGMP' section the pages written since then, and a memory file holding those pages (every
 * one of them, zero or not; the rest are holes, which is all a Diff without a map has to tell
 * them: page_map.c). Loading the newest of a chain maps the full snapshot's memory and lays
 * every diff's pages over it, oldest first. */
#include "snapshot/chain.h"
#include "snapshot/page_map.h"
#include "snapshot/state_file.h"
#include "memory/guest_mem.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>


void snap_chain_free(struct snap_chain *c)
{
	for (unsigned i = 0; i < c->n; i++) {
		free(c->link[i].state);
		free(c->link[i].mem);
		free(c->link[i].map);
	}
	memset(c, 0, sizeof(*c));
}

int snap_chain_check_top(const struct snap_chain *c, const uint8_t id[16], const char *state,
			 const char *doing, const char *again, char *err, size_t errlen)
{
	if (c->n && !memcmp(c->link[c->n - 1].id, id, sizeof(c->link[0].id)))
		return 0;
	return error_set(err, errlen, -EAGAIN, "%s was replaced while it was being %s: %s it again", state,
			 doing, again);
}

/* A Diff's page map, if it has one: checked against its memory's size. */
static int read_map(const char *path, const struct snap_reader *r, struct snap_link *l, char *err, size_t errlen)
{
	uint32_t v;
	const void *p;
	uint64_t n;
	struct snap_mem sm;
	if (snap_find(r, SEC_PGMP, 0, &v, &p, &n) != 0)
		return 0;
	int e = snap_mem_read(r, &sm, err, errlen);
	if (e < 0)
		return e == -ENOENT ? -EINVAL : e;
	size_t words = snap_page_map_words(sm.total);
	if (v != SEC_VERSION || n != words * sizeof(uint64_t) || !words)
		return error_set(err, errlen, -EINVAL, "%s: malformed page map", path);
	if (!(l->map = malloc(n)))
		return -ENOMEM;
	struct dec d;
	dec_init(&d, p, (size_t)n);
	for (size_t i = 0; i < words; i++)
		l->map[i] = get_u64(&d); /* le64 words */
	l->map_words = words;
	return 0;
}

/* One state file's id, parent (id and path), recorded memory path and, for a Diff, page map. */
static int read_links(const char *path, uint8_t id[16], uint8_t parent[SNAP_PARENT_ID_LEN], char **parent_path,
		      char **mem_path, struct snap_link *l, char *err, size_t errlen)
{
	struct snap_state_file f;
	*parent_path = *mem_path = NULL;
	int e = snap_state_open(path, &f, err, errlen);
	if (e < 0)
		return e;
	const struct snap_reader *r = &f.r;
	memcpy(id, f.vm.id, 16);
	uint32_t v;
	const void *p;
	uint64_t n;
	if (snap_find(r, SEC_MEMF, 0, &v, &p, &n) == 0 && n && n < PATH_MAX)
		*mem_path = strndup(p, (size_t)n);
	if (snap_find(r, SEC_PRNT, 0, &v, &p, &n) == 0) {
		if (v != SEC_VERSION || n <= SNAP_PARENT_ID_LEN || n - SNAP_PARENT_ID_LEN >= PATH_MAX) {
			e = error_set(err, errlen, -EINVAL, "%s: malformed parent section", path);
		} else {
			memcpy(parent, p, SNAP_PARENT_ID_LEN);
			*parent_path = strndup((const char *)p + SNAP_PARENT_ID_LEN, (size_t)n - SNAP_PARENT_ID_LEN);
			e = read_map(path, r, l, err, errlen);
		}
	}
	snap_state_close(&f);
	return e;
}

int snap_chain_resolve(const char *state, const char *mem, struct snap_chain *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	char *cur = strdup(state), *cur_mem = mem ? strdup(mem) : NULL;
	uint8_t want[16];
	bool check = false;
	int e = cur ? 0 : -ENOMEM;
	while (!e) {
		if (c->n == SNAP_MAX_CHAIN) {
			e = error_set(err, errlen, -EINVAL,
				      "%s: more than %d snapshots in its chain (or a loop)", state,
				      SNAP_MAX_CHAIN);
			break;
		}
		uint8_t par[SNAP_PARENT_ID_LEN];
		char *ppath = NULL, *recorded = NULL;
		uint8_t id[16];
		struct snap_link l = { 0 };
		e = read_links(cur, id, par, &ppath, &recorded, &l, err, errlen);
		if (!e && check && memcmp(id, want, 16) != 0) {
			e = error_set(err, errlen, -EINVAL,
				      "%s is not the snapshot its child was taken after (it was replaced)",
				      cur);
		}
		if (!e && !cur_mem && !(cur_mem = recorded ? strdup(recorded) : NULL)) {
			e = error_set(err, errlen, -EINVAL, "%s: no memory file recorded for this snapshot",
				      cur);
		}
		free(recorded);
		if (e) {
			free(ppath);
			free(l.map);
			break;
		}
		/* The chain is kept oldest first: shift and put this one in front. */
		memmove(&c->link[1], &c->link[0], c->n * sizeof(c->link[0]));
		l.state = cur;
		l.mem = cur_mem;
		memcpy(l.id, id, 16);
		c->link[0] = l;
		c->n++;
		cur = cur_mem = NULL;
		if (!ppath)
			return 0; /* a full snapshot: the chain is complete */
		memcpy(want, par, 16);
		check = true;
		cur = ppath;
	}
	free(cur);
	free(cur_mem);
	snap_chain_free(c);
	return e;
}

int snap_mem_open(const char *path, const uint8_t id[16], uint64_t min_size, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY); /* a FIFO must not block us */
	if (fd < 0)
		return error_set(err, errlen, -errno, "memory file %s: %s", path, strerror(errno));
	struct stat st;
	uint8_t got[16];
	ssize_t n = fgetxattr(fd, SNAP_XATTR, got, sizeof(got));
	int e = 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < min_size) {
		e = error_set(err, errlen, -EINVAL,
			      "memory file %s: not a regular file of at least %llu bytes", path,
			      (unsigned long long)min_size);
	} else if (n == (ssize_t)sizeof(got) && memcmp(got, id, sizeof(got)) != 0) {
		e = error_set(err, errlen, -EINVAL,
			      "memory file %s belongs to another snapshot than its state file", path);
	}
	if (e) {
		close(fd);
		return e;
	}
	return fd;
}

struct lay {
	int fd;
	const struct guest_region *g;
	bool drop_zero;          /* zero pages are given back: a file mapping, not hugetlbfs */
};

/* Pages of a Diff that are zero (memory the balloon or virtio-mem had dropped) are given back
 * rather than kept as written zeroes, where guest memory is the full snapshot's file mapped
 * privately (the File backend, clones): an anonymous mapping over them reads zero. (Anonymous
 * memory, a Lazy restore's, keeps them written: dropped, its pager would fill them from the
 * full snapshot; and where the kernel has no shared zero page, as PVM guests booted with
 * pvm_no_zero_page, a read maps a fresh page anyway.) */
static void drop_zero_pages(uint8_t *at, uint64_t len)
{
	for (uint64_t p = 0; p < len;) {
		if (!guest_page_is_zero(at + p)) {
			p += GUEST_PAGE;
			continue;
		}
		uint64_t n = GUEST_PAGE;
		while (p + n < len && guest_page_is_zero(at + p + n))
			n += GUEST_PAGE;
		if (mmap(at + p, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1,
			 0) == MAP_FAILED)
			memset(at + p, 0, n); /* written zeroes, as before */
		p += n;
	}
}

static int lay_run(void *ctx, uint64_t off, uint64_t len)
{
	const struct lay *l = ctx;
	uint8_t *at = l->g->hva + (off - l->g->file_off);
	for (uint64_t o = off; o < off + len;) {
		ssize_t n = pread(l->fd, at + (o - off), (size_t)(off + len - o), (off_t)o);
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		o += (uint64_t)n;
	}
	if (l->drop_zero)
		drop_zero_pages(at, len);
	return 0;
}

int snap_link_map(const struct snap_link *l, uint64_t total, const uint64_t **map, char *err, size_t errlen)
{
	*map = l->map;
	if (l->map && l->map_words < snap_page_map_words(total))
		return error_set(err, errlen, -EINVAL, "%s: its page map is smaller than guest memory",
				 l->state);
	return 0;
}

/* Copy a diff's pages over guest memory. */
static int apply_one(const struct snap_link *l, struct guest_mem *mem, char *err, size_t errlen)
{
	const uint64_t *map;
	int e = snap_link_map(l, mem->total, &map, err, errlen);
	if (e < 0)
		return e;
	int fd = snap_mem_open(l->mem, l->id, mem->total, err, errlen);
	if (fd < 0)
		return fd;
	for (unsigned r = 0; !e && r < mem->nregions; r++) {
		struct lay lay = { fd, &mem->regions[r], mem->regions[r].from_file && mem->backing != GUEST_MEM_PAGES_2M };
		e = snap_mem_runs(fd, map, lay.g->file_off, lay.g->file_off + lay.g->size, lay_run, &lay);
	}
	close(fd);
	if (e)
		return error_set(err, errlen, e, "memory file %s: %s", l->mem, strerror(-e));
	return 0;
}

int snap_chain_apply(const struct snap_chain *c, struct guest_mem *mem, char *err, size_t errlen)
{
	for (unsigned i = 1; i < c->n; i++) {
		int e = apply_one(&c->link[i], mem, err, errlen);
		if (e < 0)
			return e;
	}
	return 0;
}
