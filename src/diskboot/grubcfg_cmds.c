/* grub.cfg's commands as petrel runs them (grubcfg.h): set and unset, test and [, load_env,
 * search, linux and initrd; the others succeed (insmod, echo, ...) or fail (what GRUB would
 * need a module, a screen or the firmware for). */
#include "diskboot/grubcfg.h"
#include "diskboot/grubcfg_int.h"
#include "util/error.h"
#include "util/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- devices and paths ---- */

void grub_dev_name(const struct grub_disk *d, int part, char *out, size_t len)
{
	if (d->table && part > 0)
		snprintf(out, len, "hd0,%s%d", d->table, part);
	else
		snprintf(out, len, "hd0");
}

/* "hd0", "hd0,msdos1", "hd0,gpt2", "hd0,1" (parentheses taken off): the partition, or -1. */
static int dev_part(const char *s, size_t len)
{
	if (len < 3 || strncmp(s, "hd0", 3))
		return -1;
	if (len == 3)
		return 0;
	if (s[3] != ',')
		return -1;
	size_t i = 4;
	while (i < len && isalpha((unsigned char)s[i]))
		i++;
	if (i == len || i - 4 > 5)
		return -1;
	int part = 0;
	for (; i < len; i++) {
		if (!isdigit((unsigned char)s[i]) || part > 10000)
			return -1;
		part = part * 10 + (s[i] - '0');
	}
	return part > 0 ? part : -1;
}

/* A path as GRUB names a file: "(dev)/path" or "/path" on $root. */
static int resolve(struct grub_run *r, const char *what, const char *s, struct grub_file *f, char *err, size_t errlen)
{
	const char *path = s, *root = grub_get_var(r, "root");
	int part;
	if (s[0] == '(') {
		const char *close = strchr(s, ')');
		part = close ? dev_part(s + 1, (size_t)(close - s - 1)) : -1;
		if (part < 0)
			return error_set(err, errlen, -EINVAL, "grub.cfg: %s '%s': not a partition of the boot disk", what, s);
		path = close + 1;
	} else {
		size_t rl = strlen(root);
		if (rl >= 2 && root[0] == '(' && root[rl - 1] == ')')
			part = dev_part(root + 1, rl - 2);
		else
			part = dev_part(root, rl);
		if (part < 0)
			return error_set(err, errlen, -EINVAL, "grub.cfg: %s '%s': $root is '%s', not a partition of the "
					 "boot disk", what, s, root);
	}
	if (path[0] != '/')
		return error_set(err, errlen, -EINVAL, "grub.cfg: %s '%s': not an absolute path", what, s);
	free(f->path);
	f->part = part;
	f->path = strdup(path);
	return f->path ? 0 : error_oom(err, errlen);
}

/* ---- commands ---- */

/* test's -e/-f/-d/-s: $prefix/grubenv is the file diskboot read; others the disk answers. */
static bool file_exists(struct grub_run *r, const char *s, bool nonempty)
{
	struct grub_file f = { 0 };
	char why[8];
	bool yes = false;
	if (resolve(r, "file", s, &f, why, sizeof(why)) == 0) {
		const char *prefix = r->disk->prefix ? r->disk->prefix : "/boot/grub";
		size_t plen = strlen(prefix);
		if (f.part == r->disk->cfg_part && !strncmp(f.path, prefix, plen) && !strcmp(f.path + plen, "/grubenv"))
			yes = r->disk->grubenv && (!nonempty || r->disk->grubenv_len);
		else if (r->disk->exists)
			yes = r->disk->exists(r->disk->ctx, f.part, f.path) == 1;
	}
	free(f.path);
	return yes;
}

static long num(const char *s)
{
	return strtol(s, NULL, 10);
}

/* test's expression over v[*i..n): true or false; -a and -o from left to right. */
static bool test_primary(struct grub_run *r, char **v, unsigned n, unsigned *i)
{
	if (*i >= n)
		return false;
	if (!strcmp(v[*i], "!")) {
		(*i)++;
		return !test_primary(r, v, n, i);
	}
	if (*i + 1 < n) { /* a binary or a unary operator */
		const char *a = v[*i], *op = v[*i + 1], *b = *i + 2 < n ? v[*i + 2] : NULL;
		static const char *const bin[] = { "=", "==", "!=", "<", ">", "-eq", "-ne", "-lt", "-le", "-gt", "-ge", NULL };
		for (unsigned k = 0; b && bin[k]; k++) {
			if (strcmp(op, bin[k]))
				continue;
			*i += 3;
			int c = strcmp(a, b);
			long x = num(a), y = num(b);
			switch (k) {
			case 0: case 1: return c == 0;
			case 2: return c != 0;
			case 3: return c < 0;
			case 4: return c > 0;
			case 5: return x == y;
			case 6: return x != y;
			case 7: return x < y;
			case 8: return x <= y;
			case 9: return x > y;
			default: return x >= y;
			}
		}
		if (a[0] == '-' && a[1] && !a[2] && strchr("nzfeds", a[1])) {
			*i += 2;
			switch (a[1]) {
			case 'n': return op[0];
			case 'z': return !op[0];
			default: return file_exists(r, op, a[1] == 's');
			}
		}
	}
	return v[(*i)++][0] != 0;
}

static bool test(struct grub_run *r, char **v, unsigned n)
{
	unsigned i = 0;
	bool val = test_primary(r, v, n, &i);
	while (i + 1 < n) {
		bool and = !strcmp(v[i], "-a");
		if (!and && strcmp(v[i], "-o"))
			break;
		i++;
		bool rhs = test_primary(r, v, n, &i);
		val = and ? val && rhs : val || rhs;
	}
	return val;
}

static int cmd_search(struct grub_run *r, struct grub_argv *a)
{
	enum grub_search kind = GRUB_SEARCH_FILE;
	bool typed = false;
	const char *var = NULL, *name = NULL, *cmd = a->v[0];
	if (!strcmp(cmd, "search.fs_uuid") || !strcmp(cmd, "search.fs_label") || !strcmp(cmd, "search.file")) {
		kind = !strcmp(cmd, "search.fs_uuid") ? GRUB_SEARCH_UUID : !strcmp(cmd, "search.fs_label") ? GRUB_SEARCH_LABEL
										       : GRUB_SEARCH_FILE;
		name = a->n > 1 ? a->v[1] : NULL;
		var = a->n > 2 ? a->v[2] : NULL;
		typed = true;
	}
	for (unsigned i = 1; !typed && i < a->n; i++) {
		const char *o = a->v[i];
		if (!strcmp(o, "--fs-uuid") || !strcmp(o, "-u"))
			kind = GRUB_SEARCH_UUID;
		else if (!strcmp(o, "--label") || !strcmp(o, "-l"))
			kind = GRUB_SEARCH_LABEL;
		else if (!strcmp(o, "--file") || !strcmp(o, "-f"))
			kind = GRUB_SEARCH_FILE;
		else if (!strcmp(o, "--set") || !strcmp(o, "-s"))
			var = "root";
		else if (!strncmp(o, "--set=", 6))
			var = o + 6;
		else if (!strncmp(o, "--hint", 6) && !strchr(o, '='))
			i++; /* its value is the next word */
		else if (o[0] != '-' && !name)
			name = o;
	}
	if (!name || !r->disk->search)
		return 1;
	int part = r->disk->search(r->disk->ctx, kind, name);
	if (part < 0)
		return 1;
	if (var) {
		char dev[32];
		grub_dev_name(r->disk, part, dev, sizeof(dev));
		int e = grub_set_var(r, var, strlen(var), dev);
		if (e < 0)
			return e;
	}
	return 0;
}

static int cmd_load_env(struct grub_run *r, struct grub_argv *a)
{
	const struct grub_disk *d = r->disk;
	for (unsigned i = 1; i < a->n; i++)
		if (!strcmp(a->v[i], "-f") || !strncmp(a->v[i], "--file", 6))
			return 1; /* another file than $prefix/grubenv */
	if (!d->grubenv)
		return 1;
	const char *s = d->grubenv, *end = s + MIN(d->grubenv_len, (size_t)GRUBCFG_MAX_BYTES);
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s)), *eol = nl ? nl : end;
		const char *eq = memchr(s, '=', (size_t)(eol - s));
		if (s[0] != '#' && eq && eol - eq - 1 <= GRUBCFG_MAX_LINE) {
			bool wanted = a->n == 1;
			for (unsigned i = 1; i < a->n && !wanted; i++)
				wanted = a->v[i][0] != '-' && strlen(a->v[i]) == (size_t)(eq - s) && !strncmp(a->v[i], s, (size_t)(eq - s));
			char value[GRUBCFG_MAX_LINE + 1];
			size_t n = 0;
			for (const char *p = eq + 1; p < eol; p++) /* grubenv escapes '\\' and '\n' with a '\\' */
				value[n++] = *p == '\\' && p + 1 < eol ? (*++p == 'n' ? '\n' : *p) : *p;
			value[n] = 0;
			int e = wanted ? grub_set_var(r, s, (size_t)(eq - s), value) : 0;
			if (e < 0)
				return e;
		}
		s = eol + 1;
	}
	return 0;
}

static int cmd_linux(struct grub_run *r, struct grub_argv *a)
{
	struct grub_boot *b = r->boot;
	if (a->n < 2)
		return 1;
	int e = resolve(r, "kernel", a->v[1], &b->kernel, r->err, r->errlen);
	if (e < 0)
		return e;
	size_t len = 1;
	for (unsigned i = 2; i < a->n; i++)
		len += strlen(a->v[i]) + 1;
	char *args = malloc(len), *p = args;
	if (!args)
		return error_oom(r->err, r->errlen);
	*p = 0;
	for (unsigned i = 2; i < a->n; i++)
		p += sprintf(p, "%s%s", i > 2 ? " " : "", a->v[i]);
	free(b->args);
	b->args = args;
	return 0;
}

static int cmd_initrd(struct grub_run *r, struct grub_argv *a)
{
	struct grub_boot *b = r->boot;
	for (unsigned i = 0; i < b->ninitrd; i++)
		free(b->initrd[i].path);
	b->ninitrd = 0;
	for (unsigned i = 1; i < a->n; i++) {
		if (a->v[i][0] == '-') /* --newc:NAME:PATH and the like */
			continue;
		if (b->ninitrd == GRUBCFG_MAX_INITRDS)
			return error_set(r->err, r->errlen, -EINVAL, "grub.cfg: more than %d initrds", GRUBCFG_MAX_INITRDS);
		struct grub_file *f = &b->initrd[b->ninitrd];
		*f = (struct grub_file){ 0 };
		int e = resolve(r, "initrd", a->v[i], f, r->err, r->errlen);
		if (e < 0)
			return e;
		b->ninitrd++;
	}
	return 0;
}

/* A command's status (0 true), or -errno for what ends the run. */
int grub_command(struct grub_run *r, struct grub_argv *a)
{
	static const char *const quiet[] = { "export", "insmod", "echo", "terminal_input", "terminal_output",
					     "terminal", "serial", "save_env", "true", "sleep", "boot", "set_gfxpayload",
					     NULL };
	const char *c = a->v[0];
	const char *eq = strchr(c, '=');
	if (eq && a->n == 1 && grub_valid_name(c, (size_t)(eq - c)))
		return grub_set_var(r, c, (size_t)(eq - c), eq + 1);
	if (!strcmp(c, "set")) {
		for (unsigned i = 1; i < a->n; i++) {
			const char *e = strchr(a->v[i], '=');
			int x = e ? grub_set_var(r, a->v[i], (size_t)(e - a->v[i]), e + 1) : 0;
			if (x < 0)
				return x;
		}
		return 0;
	}
	if (!strcmp(c, "unset")) {
		for (unsigned i = 1; i < a->n; i++)
			grub_unset_var(r, a->v[i]);
		return 0;
	}
	if (!strcmp(c, "[")) {
		if (strcmp(a->v[a->n - 1], "]") || a->n < 2)
			return 1;
		return !test(r, a->v + 1, a->n - 2);
	}
	if (!strcmp(c, "test"))
		return !test(r, a->v + 1, a->n - 1);
	if (!strcmp(c, "false"))
		return 1;
	if (!strcmp(c, "load_env"))
		return cmd_load_env(r, a);
	if (!strncmp(c, "search", 6) && (!c[6] || c[6] == '.'))
		return cmd_search(r, a);
	if (r->boot && (!strcmp(c, "linux") || !strcmp(c, "linux16") || !strcmp(c, "linuxefi")))
		return cmd_linux(r, a);
	if (r->boot && (!strcmp(c, "initrd") || !strcmp(c, "initrd16") || !strcmp(c, "initrdefi")))
		return cmd_initrd(r, a);
	for (unsigned i = 0; quiet[i]; i++)
		if (!strcmp(c, quiet[i]))
			return 0;
	for (unsigned i = 0; i < r->nfuncs; i++)
		if (!strcmp(c, r->funcs[i]))
			return 0;
	return 1; /* a command petrel does not run: as GRUB's for a command it lacks */
}

