/* initrd_unpack: run petrel's host-side initrd decompression (src/boot/initrd_unpack.c) on a
 * file, without a VM, for the tests (tests/integration/test_initrd_unpack.py) and the
 * benchmark (bench/initrd.py).
 *
 *   initrd_unpack [--max BYTES] [--runs N] INITRD [OUT]
 *
 * Prints one line of key=value: members, formats, entries, in and out sizes, ms (the median
 * over --runs runs). Writes the new initrd to OUT if given. Exit status 0 when petrel
 * decompressed it, 2 when there was nothing to do, 3 when the kernel gets it as it is
 * (-EINVAL, -EFBIG, ...: why on stderr), 1 on usage or I/O errors. */
#include "boot/initrd_unpack.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	size_t max = INITRD_UNPACK_MAX;
	unsigned runs = 1;
	const char *in = NULL, *out = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--max") == 0 && i + 1 < argc)
			max = strtoull(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = (unsigned)strtoul(argv[++i], NULL, 0);
		else if (!in)
			in = argv[i];
		else if (!out)
			out = argv[i];
		else
			in = NULL, i = argc;
	}
	if (!in || runs == 0 || runs > 1000) {
		fprintf(stderr, "usage: initrd_unpack [--max BYTES] [--runs N] INITRD [OUT]\n");
		return 1;
	}
	char *img = NULL;
	size_t len = 0;
	int r = read_whole_file(in, 1ull << 32, &img, &len);
	if (r < 0) {
		fprintf(stderr, "cannot read %s: %s\n", in, strerror(-r));
		return 1;
	}
	uint64_t ns[1000];
	struct initrd_unpacked u = { 0 };
	char msg[512] = "";
	for (unsigned k = 0; k < runs; k++) {
		if (k)
			free(u.data);
		r = initrd_unpack((const uint8_t *)img, len, max, &u, msg, sizeof(msg));
		ns[k] = u.ns;
		if (r != 1)
			break;
	}
	free(img);
	if (r != 1) {
		fprintf(stderr, "initrd_unpack: %s (%s)\n", msg, r == 0 ? "nothing to do" : strerror(-r));
		return r == 0 ? 2 : 3;
	}
	qsort(ns, runs, sizeof(ns[0]), cmp_u64);
	printf("members=%u formats=%s entries=%llu in=%zu out=%zu ms=%.3f\n", u.members, u.formats,
	       (unsigned long long)u.entries, len, u.len, (double)ns[runs / 2] / 1e6);
	int ret = 0;
	if (out) {
		FILE *f = fopen(out, "wb");
		if (!f || fwrite(u.data, 1, u.len, f) != u.len || fclose(f) != 0) {
			fprintf(stderr, "cannot write %s\n", out);
			ret = 1;
		}
	}
	free(u.data);
	return ret;
}
