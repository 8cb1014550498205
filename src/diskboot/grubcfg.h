/* The menu entry GRUB would boot from a grub.cfg, as Xen's pygrub and bhyve's grub2-bhyve find
 * it: the file is run as GRUB's script language would run it, closely enough for what
 * grub-mkconfig writes (`set`, `if [ ... ]`, `load_env` from grubenv, `search --fs-uuid|--label
 * |--file --set=root`, `menuentry`, `submenu`, `function`s defined and not needed), then the
 * default entry (`set default=` by index, title or id, "1>2" into submenus; one that names
 * nothing is entry 0, as GRUB does) is run for its `linux`/`linux16`/`linuxefi` and `initrd`
 * lines. Commands it does not know are ignored (and fail, as an `if` condition). Untrusted
 * input with limits (tests/fuzz/fuzz_grubcfg.c). */
#ifndef PETREL_DISKBOOT_GRUBCFG_H
#define PETREL_DISKBOOT_GRUBCFG_H

#include <stddef.h>

#define GRUBCFG_MAX_BYTES (1 << 20)   /* grub.cfg, and grubenv */
#define GRUBCFG_MAX_LINE 8192         /* a line, and a variable's value */
#define GRUBCFG_MAX_ENTRIES 1024      /* menu entries and submenus */
#define GRUBCFG_MAX_DEPTH 8           /* submenus in submenus */
#define GRUBCFG_MAX_NEST 64           /* if/function/menuentry blocks in one another */
#define GRUBCFG_MAX_VARS 512
#define GRUBCFG_MAX_INITRDS 8

enum grub_search { GRUB_SEARCH_UUID, GRUB_SEARCH_LABEL, GRUB_SEARCH_FILE };

/* What the script sees of the disk (diskboot.c; the fuzzer's are made up). */
struct grub_disk {
	const char *table;       /* "msdos", "gpt" or NULL (a bare file system: "hd0") */
	int cfg_part;            /* the partition grub.cfg is on: $root at the start */
	const char *prefix;      /* $prefix's path on it: "/boot/grub" or "/grub" */
	const char *grubenv;     /* $prefix/grubenv's text, or NULL */
	size_t grubenv_len;
	/* the partition a search finds (GRUB_SEARCH_FILE: a path), or -1 */
	int (*search)(void *ctx, enum grub_search kind, const char *what);
	/* whether path exists on partition part: 1 or 0 */
	int (*exists)(void *ctx, int part, const char *path);
	void *ctx;
};

struct grub_file { int part; char *path; };

struct grub_boot {
	char *title;                 /* the entry's, ">"-joined with its submenus' */
	struct grub_file kernel;
	char *args;                  /* the rest of the linux line, "" when none */
	unsigned ninitrd;
	struct grub_file initrd[GRUBCFG_MAX_INITRDS];
};

/* The boot GRUB's default entry makes: 0, or -EINVAL (-EFBIG, -ENOMEM) and why (with the
 * line). */
int grubcfg_pick(const char *text, size_t len, const struct grub_disk *disk, struct grub_boot *out, char *err,
		 size_t errlen);
void grub_boot_free(struct grub_boot *b);

#endif
