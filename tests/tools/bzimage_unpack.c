/* bzimage_unpack: run petrel's bzImage -> entry decision (src/boot/bzimage_unpack.c) on a
 * kernel file, without a VM, for the real-kernel test and the decompression benchmark.
 *
 *   bzimage_unpack [--mem MIB] [--runs N] [--how host|host-linux64|guest] [--out FILE] BZIMAGE
 *
 * Prints one line of key=value: path (host or guest), format, mode (pvh or linux64), entry,
 * payload and output sizes, ms and cpu_ms (the medians over --runs runs of the decision's
 * wall-clock time, and of the process CPU time it took). With
 * --out the decompressed vmlinux is written to FILE. Exit status 0 when petrel decompressed
 * the kernel, 3 when it would fall back to the kernel's decompressor (why on stderr), 1 on
 * errors. */
#include "boot/boot.h"
#include "boot/bzimage_unpack.h"
#include "memory/guest_mem.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static uint64_t cpu_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	uint64_t mem_mib = 512;
	unsigned runs = 1, how = BOOT_DECOMPRESS_HOST;
	const char *out = NULL, *path = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--mem") == 0 && i + 1 < argc)
			mem_mib = strtoull(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = (unsigned)strtoul(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--how") == 0 && i + 1 < argc) {
			if (boot_decompress_from_name(argv[++i], &how) < 0)
				return 1;
		} else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else {
			fprintf(stderr, "usage: bzimage_unpack [--mem MIB] [--runs N] "
				"[--how host|host-linux64|guest] [--out FILE] BZIMAGE\n");
			return 1;
		}
	}
	if (!path || runs == 0 || runs > 1000 || mem_mib < 16 || mem_mib > 3072) {
		fprintf(stderr, "bzimage_unpack: need a BZIMAGE, 1-1000 runs, 16-3072 MiB\n");
		return 1;
	}
	char *img = NULL;
	size_t len = 0;
	int r = read_whole_file(path, 512u << 20, &img, &len);
	if (r < 0) {
		fprintf(stderr, "bzimage_unpack: %s: %s\n", path, strerror(-r));
		return 1;
	}
	struct bzimage_info bz;
	char msg[256];
	if (bzimage_parse((const uint8_t *)img, len, &bz, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "bzimage_unpack: %s\n", msg);
		return 1;
	}
	/* A fake guest memory: untouched anonymous pages cost nothing. */
	struct guest_mem mem = { .nregions = 1, .total = mem_mib << 20 };
	mem.regions[0] = (struct guest_region){ .gpa = 0, .size = mem.total };
	mem.regions[0].hva = mmap(NULL, mem.total, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem.regions[0].hva == MAP_FAILED)
		return 1;
	uint64_t *ns = calloc(runs, sizeof(*ns)), *cpu = calloc(runs, sizeof(*cpu));
	struct bzimage_unpacked u = { 0 };
	for (unsigned i = 0; i < runs; i++) {
		bzimage_unpacked_free(&u);
		uint64_t c0 = cpu_ns();
		r = bzimage_unpack((const uint8_t *)img, len, &bz, &mem, (enum boot_decompress)how, &u,
				   msg, sizeof(msg));
		if (r != 1) {
			fprintf(stderr, "bzimage_unpack: fall back to the kernel's decompressor%s: %s\n",
				r < 0 ? " (damaged payload)" : "", msg);
			printf("path=guest\n");
			return 3;
		}
		ns[i] = u.ns;
		cpu[i] = cpu_ns() - c0;
	}
	qsort(ns, runs, sizeof(*ns), cmp_u64);
	qsort(cpu, runs, sizeof(*cpu), cmp_u64);
	printf("path=host format=%s mode=%s entry=0x%llx payload=%u out=%zu ms=%.2f cpu_ms=%.2f\n",
	       payload_format_name(u.format), u.mode == BOOT_PVH ? "pvh" : "linux64",
	       (unsigned long long)u.entry, bz.payload_length, u.elf_len, (double)ns[runs / 2] / 1e6,
	       (double)cpu[runs / 2] / 1e6);
	if (out) {
		FILE *f = fopen(out, "wb");
		if (!f || fwrite(u.elf, 1, u.elf_len, f) != u.elf_len || fclose(f) != 0) {
			fprintf(stderr, "bzimage_unpack: cannot write %s\n", out);
			return 1;
		}
	}
	bzimage_unpacked_free(&u);
	free(ns);
	free(cpu);
	free(img);
	return 0;
}
