/* grub.cfg's script as a tree (grubcfg_parse.c), for its runner (grubcfg.c). */
#ifndef PETREL_DISKBOOT_GRUBCFG_INT_H
#define PETREL_DISKBOOT_GRUBCFG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "diskboot/grubcfg.h"

/* A word keeps its variable references for the run: "\x01name\x02" (the file's own bytes
 * 0x01 and 0x02 are read as '?'). */
#define GVAR_OPEN '\x01'
#define GVAR_CLOSE '\x02'
#define GRUBCFG_MAX_WORDS 1024   /* words in one command */

struct gword {
	char *s;
	bool quoted;   /* some of it was quoted: empty after expansion, it is still a word */
};

enum gkind {
	G_CMD,     /* w: the command */
	G_IF,      /* cond, then, els (an elif's G_IF when elif) */
	G_BLOCK,   /* menuentry, submenu, function: w the header without '{', body */
	G_LOOP,    /* for, while, until: never run */
};

struct gnode {
	enum gkind kind;
	unsigned line;
	unsigned nw;
	struct gword *w;
	struct gnode *cond, *then, *els, *body;
	bool elif;
	struct gnode *next;
};

struct grub_var { char *name, *value; };

struct grub_item {
	char *title, *id;
	bool submenu;
	const struct gnode *body;
	int parent;      /* -1: the top menu */
};

/* A run of the script (grubcfg.c). */
struct grub_run {
	const struct grub_disk *disk;
	struct grub_var vars[GRUBCFG_MAX_VARS];
	unsigned nvars;
	char *funcs[64];
	unsigned nfuncs;
	struct grub_item items[GRUBCFG_MAX_ENTRIES];
	unsigned nitems;
	int parent;              /* where the entries being read go */
	unsigned depth;          /* submenus deep */
	struct grub_boot *boot;  /* running an entry: what it boots; NULL reading the menu */
	int status;              /* $? */
	char *err;
	size_t errlen;
};

struct grub_argv { char **v; unsigned n; };

/* grubcfg.c: variables, and a command's words expanded (a word that expands to nothing
 * unquoted is dropped). -errno and why in r->err. */
const char *grub_get_var(struct grub_run *r, const char *name);
bool grub_valid_name(const char *s, size_t len);
int grub_set_var(struct grub_run *r, const char *name, size_t nlen, const char *value);
void grub_unset_var(struct grub_run *r, const char *name);
int grub_expand_words(struct grub_run *r, const struct gnode *n, struct grub_argv *a);
void grub_argv_free(struct grub_argv *a);
/* grubcfg_cmds.c: a command's status (0 true), or -errno for what ends the run; GRUB's name
 * of a partition ("hd0,msdos1"). */
int grub_command(struct grub_run *r, struct grub_argv *a);
void grub_dev_name(const struct grub_disk *d, int part, char *out, size_t len);

/* The script as a list of nodes: 0 or -EINVAL/-EFBIG/-ENOMEM and why ("line N: ..."). */
int grub_parse(const char *text, size_t len, struct gnode **out, char *err, size_t errlen);
void grub_nodes_free(struct gnode *n);

#endif
