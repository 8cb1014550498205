/* Unit tests for the grub.cfg reader of a boot from the disk (src/diskboot/grubcfg*.c): the shape
 * grub-mkconfig writes on Debian 12 (tests/fuzz/corpus/fuzz_grubcfg/debian12-grub-mkconfig.cfg:
 * its real output, with the search lines its grub-probe writes on a disk), `set default` by
 * index, title, id and "a>b" into submenus, saved_entry/next_entry from grubenv, search
 * choosing the partition, $var expansion, and absurd files refused with their line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diskboot/grubcfg.h"
#include "unit.h"

#define UUID "7e7e0001-5e7a-4c1d-9b00-000000000002"

/* The disk the script sees: partition 1 is UUID's (label "root"), 2 is "boot" with /kernel. */
static int search(void *ctx, enum grub_search kind, const char *what)
{
	if (kind == GRUB_SEARCH_UUID)
		return !strcasecmp(what, UUID) ? 1 : !strcmp(what, "1111-2222") ? 2 : -1;
	if (kind == GRUB_SEARCH_LABEL)
		return !strcmp(what, "root") ? 1 : !strcmp(what, "boot") ? 2 : -1;
	return !strcmp(what, "/kernel") ? 2 : -1;
}

static int exists(void *ctx, int part, const char *path)
{
	return part == 1 && !strcmp(path, "/boot/grub/custom.cfg");
}

static int pick_env(const char *cfg, const char *env, struct grub_boot *b, char *err, size_t errlen)
{
	struct grub_disk d = { .table = "msdos", .cfg_part = 1, .prefix = "/boot/grub", .grubenv = env,
			       .grubenv_len = env ? strlen(env) : 0, .search = search, .exists = exists };
	return grubcfg_pick(cfg, strlen(cfg), &d, b, err, errlen);
}

static int pick(const char *cfg, struct grub_boot *b, char *err, size_t errlen)
{
	return pick_env(cfg, NULL, b, err, errlen);
}

static char *debian_cfg(void)
{
	static char buf[64 << 10];
	FILE *f = fopen(PETREL_SRC_ROOT "/tests/fuzz/corpus/fuzz_grubcfg/debian12-grub-mkconfig.cfg", "r");
	if (!f)
		return NULL;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return buf;
}

/* grubenv as grub-editenv writes it: a header, the variables, '#' up to 1024 bytes */
static const char *grubenv(const char *vars)
{
	static char env[1025];
	int n = snprintf(env, sizeof(env), "# GRUB Environment Block\n%s", vars);
	memset(env + n, '#', sizeof(env) - 1 - (size_t)n);
	env[sizeof(env) - 1] = 0;
	return env;
}

TEST(debian_default_entry)
{
	struct grub_boot b;
	char err[512] = "";
	char *cfg = debian_cfg();
	REQUIRE(cfg);
	CHECK_EQ(pick(cfg, &b, err, sizeof(err)), 0);
	CHECK_STR_EQ(err, "");
	CHECK_STR_EQ(b.title, "Debian GNU/Linux");
	CHECK_EQ(b.kernel.part, 1);
	CHECK_STR_EQ(b.kernel.path, "/boot/vmlinuz-6.1.0-56-cloud-amd64");
	CHECK_STR_EQ(b.args, "root=UUID=" UUID " ro quiet");
	CHECK_EQ(b.ninitrd, 1);
	CHECK_STR_EQ(b.initrd[0].path, "/boot/initrd.img-6.1.0-56-cloud-amd64");
	grub_boot_free(&b);
}

TEST(debian_saved_and_next_entry)
{
	struct grub_boot b;
	char err[512] = "";
	char *cfg = debian_cfg();
	REQUIRE(cfg);
	/* GRUB_DEFAULT=saved: grub-mkconfig writes set default="${saved_entry}"; grub-set-default
	 * saves the entry's id path */
	char *saved = malloc(strlen(cfg) + 64);
	REQUIRE(saved);
	strcpy(saved, cfg);
	char *d = strstr(saved, "set default=\"0\"");
	REQUIRE(d);
	memmove(d + 28, d + 15, strlen(d + 15) + 1);
	memcpy(d, "set default=\"${saved_entry}\"", 28);
	const char *env = grubenv("saved_entry=gnulinux-advanced-" UUID ">gnulinux-6.1.0-13-amd64-advanced-" UUID "\n");
	CHECK_EQ(pick_env(saved, env, &b, err, sizeof(err)), 0);
	CHECK_STR_EQ(b.kernel.path, "/boot/vmlinuz-6.1.0-13-amd64");
	CHECK_STR_EQ(b.title, "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-13-amd64");
	grub_boot_free(&b);
	/* grub-reboot's next_entry wins over the default (the header reads it first) */
	env = grubenv("next_entry=1>3\n");
	CHECK_EQ(pick_env(cfg, env, &b, err, sizeof(err)), 0);
	CHECK_STR_EQ(b.title, "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-13-amd64 (recovery mode)");
	CHECK_STR_EQ(b.args, "root=UUID=" UUID " ro single");
	grub_boot_free(&b);
	/* titles work as well as ids and indexes */
	env = grubenv("next_entry=Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-56-cloud-amd64\n");
	CHECK_EQ(pick_env(cfg, env, &b, err, sizeof(err)), 0);
	CHECK_STR_EQ(b.kernel.path, "/boot/vmlinuz-6.1.0-56-cloud-amd64");
	CHECK_STR_EQ(b.args, "root=UUID=" UUID " ro quiet");
	grub_boot_free(&b);
	/* a saved entry that names nothing: entry 0, as GRUB */
	env = grubenv("next_entry=gone\n");
	CHECK_EQ(pick_env(cfg, env, &b, err, sizeof(err)), 0);
	CHECK_STR_EQ(b.title, "Debian GNU/Linux");
	grub_boot_free(&b);
	free(saved);
}

TEST(default_forms)
{
	struct grub_boot b;
	char err[512] = "";
	static const char cfg[] =
		"set timeout=5\n"
		"set default=\"${want}\"\n"
		"menuentry 'one' --id first { linux /one a=1; }\n"
		"menuentry \"two\" --class x {\n linux16 /two b=2\n initrd16 /i1 /i2\n}\n"
		"submenu 'more' {\n"
		"  menuentry 'three' { linuxefi /three; initrdefi /i3; }\n"
		"  submenu 'deeper' --id=deep { menuentry 'four' { linux (hd0,msdos2)/four; } }\n"
		"}\n";
	struct { const char *want, *kernel; } cases[] = {
		{ "", "/one" }, { "1", "/two" }, { "two", "/two" }, { "first", "/one" }, { "2", "/three" },
		{ "2>0", "/three" }, { "more>deep>0", "/four" }, { "2>1", "/four" }, { "9", "/one" }, { "2>7", "/one" },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[sizeof(cfg) + 64];
		snprintf(text, sizeof(text), "set want='%s'\n%s", cases[i].want, cfg);
		CHECK_EQ(pick(text, &b, err, sizeof(err)), 0);
		CHECK_STR_EQ(b.kernel.path, cases[i].kernel);
		grub_boot_free(&b);
	}
	CHECK_EQ(pick("set default=1\nmenuentry a { linux16 /two b=2; initrd16 /i1 /i2; }\nmenuentry b { linux /x y \"$default\"; }",
		      &b, err, sizeof(err)), 0);
	CHECK_STR_EQ(b.args, "y 1");
	grub_boot_free(&b);
	CHECK_EQ(pick("menuentry a { linux16 /two b=2; initrd16 /i1 /i2; }", &b, err, sizeof(err)), 0);
	CHECK_EQ(b.ninitrd, 2);
	CHECK_STR_EQ(b.initrd[1].path, "/i2");
	grub_boot_free(&b);
	CHECK_EQ(pick("menuentry a { linux (hd0,msdos2)/four; }", &b, err, sizeof(err)), 0);
	CHECK_EQ(b.kernel.part, 2);
	grub_boot_free(&b);
}

TEST(search_and_root)
{
	struct grub_boot b;
	char err[512] = "";
	/* a separate /boot partition, found by its UUID, its label or a file */
	static const char *const cfgs[] = {
		"menuentry a { search --no-floppy --fs-uuid --set=root 1111-2222; linux /kernel; }",
		"menuentry a { search --label --set boot; linux /kernel; }",
		"menuentry a { search.fs_label boot root; linux /kernel; }",
		"menuentry a { search.fs_uuid 1111-2222 root; linux /kernel; }",
		"menuentry a { search -f /kernel --set=root; linux /kernel; }",
		"menuentry a { set root=(hd0,gpt2); linux /kernel; }",
		"menuentry a { set root='hd0,2'; linux /kernel; }",
		"search --fs-uuid --set=dev 1111-2222\nmenuentry a { linux ($dev)/kernel; }",
	};
	for (unsigned i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
		CHECK_EQ(pick(cfgs[i], &b, err, sizeof(err)), 0);
		CHECK_EQ(b.kernel.part, 2);
		grub_boot_free(&b);
	}
	/* search.fs_label without a variable sets none (as GRUB's); a search that finds nothing
	 * leaves $root as it was (grub.cfg's partition) */
	CHECK_EQ(pick("menuentry a { search.fs_label boot; linux /k; }", &b, err, sizeof(err)), 0);
	CHECK_EQ(b.kernel.part, 1);
	grub_boot_free(&b);
	CHECK_EQ(pick("menuentry a { search --fs-uuid --set=root nope; linux /k; }", &b, err, sizeof(err)), 0);
	CHECK_EQ(b.kernel.part, 1);
	grub_boot_free(&b);
	/* conditions: files, strings, numbers, -a/-o, ! */
	CHECK_EQ(pick("if [ -f $prefix/custom.cfg ]; then set k=/yes; else set k=/no; fi\nmenuentry a { linux $k; }", &b, err,
		      sizeof(err)), 0);
	CHECK_STR_EQ(b.kernel.path, "/yes");
	grub_boot_free(&b);
	CHECK_EQ(pick("if [ -s $prefix/grubenv ]; then set k=/env; elif [ 2 -gt 1 -a ! x = y ]; then set k=/elif; fi\n"
		      "menuentry a { linux $k; }", &b, err, sizeof(err)), 0);
	CHECK_STR_EQ(b.kernel.path, "/elif");
	grub_boot_free(&b);
	CHECK_EQ(pick("if loadfont unicode; then set k=/font; else set k=/nofont; fi\nmenuentry a { linux $k; }", &b, err,
		      sizeof(err)), 0);
	CHECK_STR_EQ(b.kernel.path, "/nofont"); /* a command petrel does not run fails */
	grub_boot_free(&b);
}

TEST(refused)
{
	struct grub_boot b;
	char err[512];
	struct { const char *cfg, *why; } cases[] = {
		{ "set default=0\n", "has no menu entry" },
		{ "menuentry a { echo hi; }", "menu entry 'a' has no linux command" },
		{ "menuentry a { linux (hd1,msdos1)/k; }", "not a partition of the boot disk" },
		{ "menuentry a { linux vmlinuz; }", "not an absolute path" },
		{ "menuentry a { set root=(cd0); linux /k; }", "$root is '(cd0)'" },
		{ "menuentry a { linux /k\n", "'menuentry' without '}'" },
		{ "if true; then\nmenuentry a { linux /k; }\n", "'if' without 'fi'" },
		{ "fi\n", "'fi' out of place" },
		{ "menuentry 'a { linux /k; }", "quote that does not end" },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = 0;
		CHECK(pick(cases[i].cfg, &b, err, sizeof(err)) < 0);
		CHECK_CONTAINS(err, cases[i].why);
	}
}

static char *repeat(const char *head, const char *piece, unsigned n, const char *tail)
{
	size_t len = strlen(head) + strlen(piece) * n + strlen(tail) + 1;
	char *s = malloc(len);
	if (!s)
		return NULL;
	strcpy(s, head);
	for (unsigned i = 0; i < n; i++)
		strcat(s, piece);
	strcat(s, tail);
	return s;
}

TEST(limits)
{
	struct grub_boot b;
	char err[512];
	char *s = repeat("menuentry a { linux /k ", "x", GRUBCFG_MAX_LINE, "; }");
	REQUIRE(s);
	CHECK_EQ(pick(s, &b, err, sizeof(err)), -EFBIG);
	CHECK_CONTAINS(err, "grub.cfg line 1: longer than 8192 bytes");
	free(s);
	s = repeat("", "menuentry a { linux /k; }\n", GRUBCFG_MAX_ENTRIES + 1, "");
	CHECK_EQ(pick(s, &b, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "more than 1024 menu entries");
	free(s);
	s = repeat("", "submenu s {\n", GRUBCFG_MAX_DEPTH + 1, "menuentry a { linux /k; }\n");
	char *t = repeat(s, "}\n", GRUBCFG_MAX_DEPTH + 1, "");
	CHECK_EQ(pick(t, &b, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "submenus more than 8 deep");
	free(s);
	free(t);
	s = repeat("", "if true; then\n", GRUBCFG_MAX_NEST + 2, "");
	CHECK_EQ(pick(s, &b, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "nested more than 64 deep");
	free(s);
	/* a variable doubled until it is too long */
	s = repeat("set a=0123456789abcdef\n", "set a=$a$a\n", 20, "menuentry a { linux /k; }");
	CHECK_EQ(pick(s, &b, err, sizeof(err)), -EFBIG);
	CHECK_CONTAINS(err, "longer than 8192 bytes");
	free(s);
	char big[GRUBCFG_MAX_BYTES + 2];
	memset(big, '\n', sizeof(big));
	struct grub_disk d = { .table = "gpt", .cfg_part = 1 };
	CHECK_EQ(grubcfg_pick(big, sizeof(big), &d, &b, err, sizeof(err)), -EFBIG);
	CHECK_CONTAINS(err, "more than 1048576");
	CHECK_EQ(grubcfg_pick("menuentry a {\0 linux /k; }", 26, &d, &b, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "NUL byte");
}

int main(int argc, char **argv) { return unit_main(argc, argv); }
