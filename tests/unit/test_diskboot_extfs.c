/* Unit tests for the file-system side of a boot from the disk (src/diskboot/extfs.c, fsprobe.c,
 * diskboot.c) over real ext2/ext4 images made here with e2fsprogs (mkfs -d, debugfs): files
 * across extents and indirect blocks, inline data, links followed and their loops, other file
 * systems refused by name, the search over an MBR disk, and damaged images (truncated, a block
 * beyond the end). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diskboot/diskboot.h"
#include "diskboot/extfs.h"
#include "diskboot/fsprobe.h"
#include "unit.h"

static char dir[] = "/tmp/petrel-extfs-XXXXXX";
static uint8_t *img;
static size_t img_len;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int load(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	img_len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	free(img);
	img = malloc(img_len);
	size_t n = img ? fread(img, 1, img_len, f) : 0;
	fclose(f);
	return n == img_len ? 0 : -1;
}

static struct dsrc_mem mem;

static struct dsrc source(void)
{
	return dsrc_of_mem(&mem, img, img_len);
}

/* The tree every image holds: a kernel of 300 KiB (many blocks, several extents with 1 KiB
 * blocks), grub.cfg, Debian's links, a loop and a chain of links. */
static int make_tree(void)
{
	return sh("set -e; cd %s; rm -rf root; mkdir -p root/boot/grub; "
		  "head -c 307200 /dev/urandom >root/boot/vmlinuz-6.1; echo initrd >root/boot/initrd.img-6.1; "
		  "printf 'menuentry x {\\n linux /boot/vmlinuz-6.1 ro quiet\\n initrd /boot/initrd.img-6.1\\n}\\n' "
		  ">root/boot/grub/grub.cfg; echo small >root/small; "
		  "ln -s boot/vmlinuz-6.1 root/vmlinuz; ln -s loop2 root/loop1; ln -s loop1 root/loop2; "
		  "ln -s /boot/vmlinuz-6.1 root/l0; for i in 1 2 3 4 5 6 7 8 9; do ln -s l$((i-1)) root/l$i; done; "
		  "mkdir root/dir", dir);
}

static int mkfs(const char *name, const char *opts)
{
	return sh("cd %s && rm -f %s && mkfs.ext4 -q -F %s -d root %s 4M >/dev/null 2>&1", dir, name, opts, name);
}

TEST(files_and_links)
{
	REQUIRE(mkdtemp(dir) != NULL);
	REQUIRE_EQ(make_tree(), 0);
	static const char *const kinds[][2] = { { "ext2.img", "-t ext2 -b 1024" }, { "ext4.img", "-t ext4 -b 1024" },
						{ "inline.img", "-t ext4 -O inline_data" } };
	for (unsigned k = 0; k < 3; k++) {
		REQUIRE_EQ(mkfs(kinds[k][0], kinds[k][1]), 0);
		REQUIRE_EQ(load(kinds[k][0]), 0);
		struct dsrc s = source();
		struct fs_id id;
		CHECK_EQ(fs_probe(&s, &id), 0);
		CHECK(id.ext);
		CHECK_STR_EQ(id.kind, k ? "ext4" : "ext2");
		struct extfs *fs;
		char err[256] = "";
		REQUIRE_EQ(extfs_open(&s, &fs, err, sizeof(err)), 0);
		uint8_t *a, *b;
		size_t alen, blen;
		CHECK_EQ(extfs_read(fs, "/boot/vmlinuz-6.1", 1 << 20, &a, &alen, err, sizeof(err)), 0);
		CHECK_EQ(alen, 307200);
		CHECK_EQ(extfs_read(fs, "/vmlinuz", 1 << 20, &b, &blen, err, sizeof(err)), 0);
		CHECK(blen == alen && !memcmp(a, b, alen));
		free(b);
		/* eight links deep is libext2fs's limit */
		CHECK_EQ(extfs_read(fs, "/l7", 1 << 20, &b, &blen, err, sizeof(err)), 0);
		CHECK(blen == alen && !memcmp(a, b, alen));
		free(a);
		free(b);
		CHECK_EQ(extfs_read(fs, "/l9", 1 << 20, &b, &blen, err, sizeof(err)), -ELOOP);
		CHECK_CONTAINS(err, "/l9: more than 8 symbolic links deep");
		CHECK_EQ(extfs_read(fs, "/loop1", 1 << 20, &b, &blen, err, sizeof(err)), -ELOOP);
		CHECK_EQ(extfs_read(fs, "/small", 1 << 20, &b, &blen, err, sizeof(err)), 0); /* inline in inline.img */
		CHECK(blen == 6 && !memcmp(b, "small\n", 6));
		free(b);
		CHECK_EQ(extfs_read(fs, "/nope", 1 << 20, &b, &blen, err, sizeof(err)), -ENOENT);
		CHECK_CONTAINS(err, "/nope: no such file");
		CHECK_EQ(extfs_read(fs, "/small/x", 1 << 20, &b, &blen, err, sizeof(err)), -ENOENT);
		CHECK_EQ(extfs_read(fs, "/dir", 1 << 20, &b, &blen, err, sizeof(err)), -EINVAL);
		CHECK_CONTAINS(err, "/dir: not a regular file");
		CHECK_EQ(extfs_read(fs, "/vmlinuz", 1000, &b, &blen, err, sizeof(err)), -EFBIG);
		CHECK_CONTAINS(err, "/vmlinuz: 307200 bytes, more than the 1000 allowed");
		CHECK_EQ(extfs_exists(fs, "/boot/grub/grub.cfg"), 1);
		CHECK_EQ(extfs_exists(fs, "/boot/grub/grubenv"), 0);
		extfs_close(fs);
	}
}

TEST(disk_search)
{
	/* an MBR disk: a FAT partition (an ESP), then the ext4 root */
	REQUIRE_EQ(sh("set -e; cd %s; rm -f fat.img disk.img; truncate -s 2M fat.img; "
		      "MTOOLS_SKIP_CHECK=1 mformat -i fat.img -v ESP ::; truncate -s 7M disk.img; "
		      "printf 'label: dos\\nlabel-id: 0x12345678\\nstart=2048, size=4096, type=ef\\nstart=6144, size=8192, type=83\\n' "
		      "| sfdisk -q --no-reread --no-tell-kernel disk.img; "
		      "dd if=fat.img of=disk.img bs=512 seek=2048 conv=notrunc status=none; "
		      "dd if=ext4.img of=disk.img bs=512 seek=6144 conv=notrunc status=none", dir), 0);
	REQUIRE_EQ(load("disk.img"), 0);
	struct dsrc s = source();
	struct diskboot b;
	char err[1024] = "";
	CHECK_EQ(diskboot_find(&s, 0, &b, err, sizeof(err)), 0);
	CHECK_STR_EQ(err, "");
	CHECK_EQ(b.kernel_len, 307200);
	CHECK_EQ(b.initrd_len, 7);
	CHECK_STR_EQ(b.cmdline, "ro quiet");
	CHECK_STR_EQ(b.what, "partition 2 (ext4): /boot/vmlinuz-6.1 initrd /boot/initrd.img-6.1 entry 'x'");
	diskboot_free(&b);
	/* without grub.cfg: Debian's links, the root named by its PARTUUID */
	REQUIRE_EQ(sh("cd %s && debugfs -w -R 'rm /boot/grub/grub.cfg' disk.img?offset=3145728 >/dev/null 2>&1", dir), 0);
	REQUIRE_EQ(load("disk.img"), 0);
	s = source();
	CHECK_EQ(diskboot_find(&s, 0, &b, err, sizeof(err)), 0);
	CHECK_STR_EQ(b.cmdline, "root=PARTUUID=12345678-02 ro console=ttyS0");
	CHECK_STR_EQ(b.what, "partition 2 (ext4): /vmlinuz entry '(no grub.cfg)'");
	CHECK_EQ(b.initrd_len, 0);
	diskboot_free(&b);
	/* nothing to boot: every partition says why */
	REQUIRE_EQ(sh("cd %s && debugfs -w -R 'rm /vmlinuz' disk.img?offset=3145728 >/dev/null 2>&1", dir), 0);
	REQUIRE_EQ(load("disk.img"), 0);
	s = source();
	CHECK_EQ(diskboot_find(&s, 0, &b, err, sizeof(err)), -ENOENT);
	CHECK_CONTAINS(err, "no boot found on the disk (msdos table): partition 1 (vfat): not a file system petrel reads "
		       "(ext2/3/4); partition 2 (ext4): no /boot/grub/grub.cfg, /grub/grub.cfg, /vmlinuz or /boot/vmlinuz");
}

TEST(other_file_systems)
{
	memset(img, 0, img_len);
	memcpy(img, "XFSB", 4);
	struct dsrc s = source();
	struct diskboot b;
	char err[1024] = "";
	CHECK_EQ(diskboot_find(&s, 0, &b, err, sizeof(err)), -ENOENT);
	CHECK_CONTAINS(err, "partition 0 (xfs): not a file system petrel reads (ext2/3/4)");
	memset(img, 0, img_len);
	memcpy(img + 0x10040, "_BHRfS_M", 8);
	CHECK_EQ(diskboot_find(&s, 0, &b, err, sizeof(err)), -ENOENT);
	CHECK_CONTAINS(err, "partition 0 (btrfs)");
}

TEST(damaged)
{
	struct diskboot b;
	char err[1024] = "";
	/* cut short: a clear error (or, where what is left holds all it needs, the boot), never a
	 * read outside */
	static const size_t cut[] = { 4096, 65536, 200 << 10, 2 << 20 };
	struct dsrc s;
	int r;
	for (unsigned i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		REQUIRE_EQ(load("ext2.img"), 0);
		img_len = cut[i];
		s = source();
		err[0] = 0;
		r = diskboot_find(&s, 0, &b, err, sizeof(err));
		CHECK(r == 0 || err[0]);
		CHECK(i > 1 || r < 0);
		if (r == 0)
			diskboot_free(&b);
	}
	/* the kernel's first block beyond the file system's end */
	REQUIRE_EQ(sh("cd %s && debugfs -w -R 'sif /boot/vmlinuz-6.1 block[2] 99999999' ext2.img >/dev/null 2>&1", dir), 0);
	REQUIRE_EQ(load("ext2.img"), 0);
	s = source();
	CHECK(diskboot_find(&s, 0, &b, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "partition 0 (ext2): /boot/vmlinuz-6.1: its blocks lie beyond the file system's end");
	/* an indirect block that points at itself, and a file as big as ext2 allows */
	REQUIRE_EQ(make_tree(), 0);
	REQUIRE_EQ(mkfs("ext2.img", "-t ext2 -b 1024"), 0);
	REQUIRE_EQ(sh("cd %s && b=$(debugfs -R 'stat /boot/vmlinuz-6.1' ext2.img 2>/dev/null | sed -n 's/.*(IND):\\([0-9]*\\).*/\\1/p') && "
		      "debugfs -w -R \"sif /boot/vmlinuz-6.1 block[DIND] $b\" ext2.img >/dev/null 2>&1 && "
		      "debugfs -w -R \"sif /boot/vmlinuz-6.1 block[TIND] $b\" ext2.img >/dev/null 2>&1 && "
		      "debugfs -w -R 'sif /boot/vmlinuz-6.1 size 0xffffffff' ext2.img >/dev/null 2>&1", dir), 0);
	REQUIRE_EQ(load("ext2.img"), 0);
	s = source();
	r = diskboot_find(&s, 0, &b, err, sizeof(err));
	CHECK(r == 0 || r < 0);
	if (r == 0)
		diskboot_free(&b);
	sh("rm -rf %s", dir);
	free(img);
}

int main(int argc, char **argv) { return unit_main(argc, argv); }
