/* bitmaptool: a disk's persistent backup bitmap (src/block/bitmap_store.c, qcow2_bitmap.c)
 * from the command line, without a VM, for tests/block/test_backup_bitmap.py.
 *
 *   bitmaptool store IMAGE CHAIN_ID [CHUNK...]   load (marking it in use), then write it back
 *                                                clean with exactly these 64 KiB chunks set
 *   bitmaptool load IMAGE                        load (marking it in use) and print
 *                                                "chain ID" and "chunks A B ...", or "stale WHY"
 * The image is opened as virtio-blk would (qcow2 v3 keeps the bitmap itself, others the
 * sidecar IMAGE.petrel-bitmap). Exit 0, or 1 with "error: ..." on stderr. */
#include "block/bitmap_store.h"
#include "block/disk.h"
#include "block/qcow2.h"
#include "block/qcow2_bitmap.h"
#include "util/bitmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int load(const char *path, struct backup_bitmap *b, bool *q, uint64_t *size)
{
	char fmt[16], err[256];
	if (qcow2_image_info(path, NULL, fmt, sizeof(fmt), size, err, sizeof(err)) < 0) {
		fprintf(stderr, "error: %s\n", err);
		return 1;
	}
	if (bitmap_store_load(path, *size, b, q) < 0) {
		fprintf(stderr, "error: out of memory\n");
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3 || (strcmp(argv[1], "store") && strcmp(argv[1], "load")) || (!strcmp(argv[1], "store") && argc < 4)) {
		fprintf(stderr, "usage: bitmaptool store IMAGE CHAIN_ID [CHUNK...] | load IMAGE\n");
		return 2;
	}
	struct backup_bitmap b;
	bool q;
	uint64_t size;
	if (load(argv[2], &b, &q, &size))
		return 1;
	if (!strcmp(argv[1], "load")) {
		if (b.stale) {
			printf("stale %s\n", b.why);
			return 0;
		}
		printf("chain %s\nchunks", b.chain_id);
		for (uint64_t i = 0; i < b.nbits; i++)
			if (bitmap_test(b.bits, i))
				printf(" %llu", (unsigned long long)i);
		printf("\n");
		backup_bitmap_free(&b);
		return 0;
	}
	uint64_t *bits = calloc(BITMAP_WORDS(b.nbits) + 1, 8);
	for (int i = 4; bits && i < argc; i++) {
		uint64_t c = strtoull(argv[i], NULL, 0);
		if (c < b.nbits)
			bitmap_set(bits, c);
	}
	snprintf(b.chain_id, sizeof(b.chain_id), "%s", argv[3]);
	char err[256];
	int e;
	if (q) {
		struct disk d;
		struct disk_options o = { .format = DISK_FORMAT_QCOW2 };
		if ((e = disk_open(&d, argv[2], &o)) < 0) {
			fprintf(stderr, "error: cannot open %s\n", argv[2]);
			return 1;
		}
		e = qcow2_bitmap_store(d.qcow2, b.chain_id, bits, b.nbits, err, sizeof(err));
		disk_close(&d);
	} else {
		e = bitmap_store_save_sidecar(argv[2], &b, bits, false, err, sizeof(err));
	}
	free(bits);
	backup_bitmap_free(&b);
	if (e < 0) {
		fprintf(stderr, "error: %s\n", err);
		return 1;
	}
	printf("ok\n");
	return 0;
}
