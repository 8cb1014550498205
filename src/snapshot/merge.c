/* `petrel snapshot merge`: fold a chain (a full snapshot and its Diffs) into one full snapshot,
 * so it loads without the chain's files and can be copied or archived alone. */
#include "snapshot/chain.h"
#include "snapshot/page_map.h"
#include "snapshot/state_file.h"
#include "snapshot/snapshot.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/xattr.h>
#include <unistd.h>

struct copy {
	int src, dst;
};

static int copy_run(void *ctx, uint64_t off, uint64_t len)
{
	static uint8_t buf[1 << 20];
	const struct copy *c = ctx;
	for (uint64_t o = off; o < off + len;) {
		size_t want = off + len - o < sizeof(buf) ? (size_t)(off + len - o) : sizeof(buf);
		ssize_t n = pread(c->src, buf, want, (off_t)o);
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		for (ssize_t w = 0; w < n;) { /* a short write is not an error: write the rest */
			ssize_t k = pwrite(c->dst, buf + w, (size_t)(n - w), (off_t)o + w);
			if (k <= 0)
				return k < 0 ? -errno : -EIO;
			w += k;
		}
		o += (uint64_t)n;
	}
	return 0;
}

static int merge_memory(const struct snap_chain *c, uint64_t total, const char *out, const uint8_t id[16],
			char *err, size_t errlen)
{
	char tmp[4096];
	int dst = open_new_tmp(out, tmp, sizeof(tmp));
	if (dst < 0)
		return error_set(err, errlen, dst, "%s: %s", tmp, strerror(-dst));
	int e = ftruncate(dst, (off_t)total) < 0 ? -errno : 0;
	for (unsigned i = 0; !e && i < c->n; i++) {
		int src = snap_mem_open(c->link[i].mem, c->link[i].id, total, err, errlen);
		if (src < 0) {
			close(dst);
			unlink(tmp);
			return src;
		}
		/* the full snapshot's data extents, each Diff's pages (page_map.h) */
		const uint64_t *map;
		struct copy cp = { src, dst };
		if ((e = snap_link_map(&c->link[i], total, &map, err, errlen)) == 0)
			e = snap_mem_runs(src, map, 0, total, copy_run, &cp);
		close(src);
	}
	return snap_mem_commit(dst, tmp, out, id, e, err, errlen);
}

int snapshot_merge(const char *state, const char *mem, const char *out_state, const char *out_mem,
		   char *err, size_t errlen)
{
	struct snap_chain *c = calloc(1, sizeof(*c));
	struct snap_state_file f = { 0 };
	struct snap_mem sm;
	int e = c ? snap_chain_resolve(state, mem, c, err, errlen) : -ENOMEM;
	if (!e)
		e = snap_state_open(state, &f, err, errlen);
	if (!e) /* the chain read the state file first */
		e = snap_chain_check_top(c, f.vm.id, state, "merged", "merge", err, errlen);
	if (!e && (e = snap_mem_read(&f.r, &sm, err, errlen)) == -ENOENT)
		e = -EINVAL;
	struct snap_vm sv = f.vm;
	char *out_abs = !e ? realpath(".", NULL) : NULL;
	char *mem_abs = NULL;
	if (out_abs && asprintf(&mem_abs, "%s/%s", out_abs, out_mem) < 0)
		mem_abs = NULL;
	if (!e && !mem_abs)
		e = -ENOMEM;
	if (!e && getrandom(sv.id, sizeof(sv.id), 0) != sizeof(sv.id))
		e = -EIO;
	if (!e)
		e = merge_memory(c, sm.total, out_mem, sv.id, err, errlen);
	if (!e) {
		/* The newest state, as a full snapshot of its own: a new id, no parent. */
		struct snap_writer w;
		snap_writer_init(&w);
		size_t cur = 0;
		struct snap_section s;
		while (snap_next(&f.r, &cur, &s)) {
			if (s.id == SEC_PRNT || s.id == SEC_PGMP) /* a full snapshot now */
				continue;
			if (s.id == SEC_VM)
				snap_vm_put(&w, &sv);
			else if (s.id == SEC_MEMF)
				snap_section(&w, SEC_MEMF, 0, SEC_VERSION, out_mem[0] == '/' ? out_mem : mem_abs,
					     strlen(out_mem[0] == '/' ? out_mem : mem_abs));
			else
				snap_section(&w, s.id, s.instance, s.version, s.payload, (size_t)s.len);
		}
		e = snap_finish(&w);
		if (!e)
			e = snap_write_file(out_state, w.buf, w.len, err, errlen);
		snap_writer_free(&w);
	}
	if (e && !err[0])
		error_set(err, errlen, e, "%s", strerror(-e));
	free(out_abs);
	free(mem_abs);
	snap_state_close(&f);
	if (c) {
		snap_chain_free(c);
		free(c);
	}
	return e;
}
