/* The entry GRUB would boot from grub.cfg (grubcfg.h): the script's tree (grubcfg_parse.c) run
 * once to set its variables and register its menu, then the default entry's body run for its
 * kernel, arguments and initrds. */
#include "diskboot/grubcfg.h"
#include "diskboot/grubcfg_int.h"
#include "util/error.h"
#include "util/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- variables ---- */

static struct grub_var *find_var(struct grub_run *r, const char *name)
{
	for (unsigned i = 0; i < r->nvars; i++)
		if (!strcmp(r->vars[i].name, name))
			return &r->vars[i];
	return NULL;
}

const char *grub_get_var(struct grub_run *r, const char *name)
{
	if (!strcmp(name, "?"))
		return r->status ? "1" : "0";
	struct grub_var *v = find_var(r, name);
	return v ? v->value : "";
}

bool grub_valid_name(const char *s, size_t len)
{
	if (!len || len > 64 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

int grub_set_var(struct grub_run *r, const char *name, size_t nlen, const char *value)
{
	if (!grub_valid_name(name, nlen))
		return 0;
	if (strlen(value) > GRUBCFG_MAX_LINE)
		return error_set(r->err, r->errlen, -EFBIG, "grub.cfg: variable '%.*s' longer than %d bytes", (int)nlen,
				 name, GRUBCFG_MAX_LINE);
	char *v = strdup(value), *n = strndup(name, nlen);
	struct grub_var *old = n ? find_var(r, n) : NULL;
	if (!v || !n || (!old && r->nvars == GRUBCFG_MAX_VARS)) {
		free(v);
		free(n);
		return v && n ? error_set(r->err, r->errlen, -EINVAL, "grub.cfg: more than %d variables", GRUBCFG_MAX_VARS)
			      : error_oom(r->err, r->errlen);
	}
	if (old) {
		free(n);
		free(old->value);
		old->value = v;
	} else {
		r->vars[r->nvars++] = (struct grub_var){ n, v };
	}
	return 0;
}

void grub_unset_var(struct grub_run *r, const char *name)
{
	struct grub_var *v = find_var(r, name);
	if (!v)
		return;
	free(v->name);
	free(v->value);
	*v = r->vars[--r->nvars];
}

/* A word with its variables' values into *res (malloc'd): 0, or -EFBIG/-ENOMEM and why. */
static int expand(struct grub_run *r, const char *w, char **res)
{
	size_t cap = strlen(w) + 1, len = 0;
	char *out = malloc(cap);
	while (out && *w) {
		const char *piece = w, *close = NULL;
		size_t n = 1;
		if (*w == GVAR_OPEN && (close = strchr(w, GVAR_CLOSE))) {
			char name[80];
			snprintf(name, sizeof(name), "%.*s", (int)(close - w - 1), w + 1);
			piece = grub_get_var(r, name);
			n = strlen(piece);
			w = close + 1;
		} else {
			w++;
		}
		if (len + n + 1 > GRUBCFG_MAX_LINE + 1) {
			free(out);
			return error_set(r->err, r->errlen, -EFBIG, "grub.cfg: a word longer than %d bytes once expanded",
					 GRUBCFG_MAX_LINE);
		}
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			char *p = realloc(out, cap);
			if (!p)
				break;
			out = p;
		}
		memcpy(out + len, piece, n);
		len += n;
	}
	if (!out || *w) {
		free(out);
		return error_oom(r->err, r->errlen);
	}
	out[len] = 0;
	*res = out;
	return 0;
}

void grub_argv_free(struct grub_argv *a)
{
	for (unsigned i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

/* A command's words expanded; a word of nothing but variables that expand to "" is no word. */
int grub_expand_words(struct grub_run *r, const struct gnode *n, struct grub_argv *a)
{
	a->n = 0;
	a->v = calloc(n->nw + 1, sizeof(char *));
	if (!a->v)
		return error_oom(r->err, r->errlen);
	for (unsigned i = 0; i < n->nw; i++) {
		char *s = NULL;
		int e = expand(r, n->w[i].s, &s);
		if (e < 0) {
			grub_argv_free(a);
			return e;
		}
		if (!*s && !n->w[i].quoted)
			free(s);
		else
			a->v[a->n++] = s;
	}
	return 0;
}

/* ---- blocks ---- */

static int run_list(struct grub_run *r, const struct gnode *n);

static int add_item(struct grub_run *r, struct grub_argv *a, const struct gnode *body)
{
	bool submenu = !strcmp(a->v[0], "submenu");
	const char *title = NULL, *id = NULL;
	for (unsigned i = 1; i < a->n; i++) {
		const char *o = a->v[i];
		if (!strcmp(o, "--id") && i + 1 < a->n)
			id = a->v[++i];
		else if (!strncmp(o, "--id=", 5))
			id = o + 5;
		else if ((!strcmp(o, "--class") || !strcmp(o, "--users") || !strcmp(o, "--hotkey") || !strcmp(o, "--source")))
			i++;
		else if (!title && strncmp(o, "--", 2))
			title = o;
	}
	if (!title)
		return 0; /* GRUB refuses it: no entry */
	if (r->nitems == GRUBCFG_MAX_ENTRIES)
		return error_set(r->err, r->errlen, -EINVAL, "grub.cfg: more than %d menu entries", GRUBCFG_MAX_ENTRIES);
	struct grub_item *it = &r->items[r->nitems];
	*it = (struct grub_item){ strdup(title), id ? strdup(id) : NULL, submenu, body, r->parent };
	if (!it->title || (id && !it->id)) {
		free(it->title);
		free(it->id);
		return error_oom(r->err, r->errlen);
	}
	int idx = (int)r->nitems++;
	if (!submenu)
		return 0;
	if (r->depth == GRUBCFG_MAX_DEPTH)
		return error_set(r->err, r->errlen, -EINVAL, "grub.cfg: submenu '%s': submenus more than %d deep", title,
				 GRUBCFG_MAX_DEPTH);
	int parent = r->parent;
	r->parent = idx;
	r->depth++;
	int e = run_list(r, body);
	r->depth--;
	r->parent = parent;
	return e;
}

static int block(struct grub_run *r, const struct gnode *n)
{
	struct grub_argv a;
	int e = grub_expand_words(r, n, &a);
	if (e < 0 || !a.n) {
		grub_argv_free(&a);
		return e;
	}
	if (!strcmp(a.v[0], "function")) { /* known by name (a call succeeds), never run */
		if (a.n > 1 && r->nfuncs < ARRAY_SIZE(r->funcs)) {
			r->funcs[r->nfuncs] = strdup(a.v[1]);
			e = r->funcs[r->nfuncs] ? 0 : error_oom(r->err, r->errlen);
			r->nfuncs += e == 0;
		}
	} else if (!r->boot) { /* an entry inside the entry being run is not booted */
		e = add_item(r, &a, n->body);
	}
	grub_argv_free(&a);
	return e;
}

static int run_list(struct grub_run *r, const struct gnode *n)
{
	for (; n; n = n->next) {
		int e = 0;
		if (n->kind == G_CMD) {
			struct grub_argv a;
			if ((e = grub_expand_words(r, n, &a)) < 0)
				return e;
			if (a.n) {
				e = grub_command(r, &a);
				if (e >= 0)
					r->status = e;
			}
			grub_argv_free(&a);
		} else if (n->kind == G_IF) {
			const struct gnode *c = n;
			for (;;) {
				r->status = 1;
				if ((e = run_list(r, c->cond)) < 0)
					break;
				if (r->status == 0) {
					e = run_list(r, c->then);
					break;
				}
				if (!c->els || !c->els->elif) {
					e = run_list(r, c->els);
					break;
				}
				c = c->els;
			}
		} else if (n->kind == G_BLOCK) {
			e = block(r, n);
		}
		if (e < 0)
			return e;
	}
	return 0;
}

/* ---- the default entry ---- */

static int child(struct grub_run *r, int parent, const char *key)
{
	bool digits = *key != 0;
	for (const char *p = key; *p; p++)
		digits &= isdigit((unsigned char)*p) != 0;
	long want = digits && strlen(key) < 6 ? strtol(key, NULL, 10) : -1;
	int k = 0, by_title = -1;
	for (unsigned i = 0; i < r->nitems; i++) {
		if (r->items[i].parent != parent)
			continue;
		if (digits ? k == want : r->items[i].id && !strcmp(r->items[i].id, key))
			return (int)i;
		if (!digits && by_title < 0 && !strcmp(r->items[i].title, key))
			by_title = (int)i;
		k++;
	}
	return by_title;
}

static int pick(struct grub_run *r, const char *def)
{
	int cur = -1;
	char key[GRUBCFG_MAX_LINE + 1];
	snprintf(key, sizeof(key), "%s", *def ? def : "0");
	for (char *part = key, *gt; cur >= -1 && part; part = gt) {
		if ((gt = strchr(part, '>')))
			*gt++ = 0;
		cur = child(r, cur, part);
		if (cur < 0)
			break;
	}
	if (cur < 0) /* names nothing: the first entry, as GRUB */
		cur = child(r, -1, "0");
	while (cur >= 0 && r->items[cur].submenu)
		cur = child(r, cur, "0");
	return cur;
}

static int title_of(struct grub_run *r, int item, char **out)
{
	char buf[4096] = "";
	for (int i = item; i >= 0; i = r->items[i].parent) {
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s%s%s", r->items[i].title, buf[0] ? ">" : "", buf);
		memcpy(buf, tmp, sizeof(buf));
	}
	*out = strdup(buf);
	return *out ? 0 : error_oom(r->err, r->errlen);
}

static void run_free(struct grub_run *r)
{
	for (unsigned i = 0; i < r->nvars; i++) {
		free(r->vars[i].name);
		free(r->vars[i].value);
	}
	for (unsigned i = 0; i < r->nitems; i++) {
		free(r->items[i].title);
		free(r->items[i].id);
	}
	for (unsigned i = 0; i < r->nfuncs; i++)
		free(r->funcs[i]);
	free(r);
}

void grub_boot_free(struct grub_boot *b)
{
	free(b->title);
	free(b->kernel.path);
	free(b->args);
	for (unsigned i = 0; i < b->ninitrd; i++)
		free(b->initrd[i].path);
	memset(b, 0, sizeof(*b));
}

static int init_vars(struct grub_run *r)
{
	static const char *const features[] = { "feature_chainloader_bpb", "feature_ntldr", "feature_platform_search_hint",
						"feature_default_font_path", "feature_all_video_module",
						"feature_menuentry_id", "feature_menuentry_options", "feature_200_final",
						"feature_nativedisk_cmd", "feature_timeout_style", NULL };
	char dev[32], prefix[GRUBCFG_MAX_LINE];
	int e = 0;
	for (unsigned i = 0; features[i] && !e; i++)
		e = grub_set_var(r, features[i], strlen(features[i]), "y");
	grub_dev_name(r->disk, r->disk->cfg_part, dev, sizeof(dev));
	snprintf(prefix, sizeof(prefix), "(%s)%s", dev, r->disk->prefix ? r->disk->prefix : "/boot/grub");
	const char *const vars[][2] = { { "grub_platform", "pc" }, { "grub_cpu", "i386" }, { "root", dev },
					{ "prefix", prefix }, { "config_directory", prefix }, { "cmdpath", "(hd0)" } };
	for (unsigned i = 0; i < ARRAY_SIZE(vars) && !e; i++)
		e = grub_set_var(r, vars[i][0], strlen(vars[i][0]), vars[i][1]);
	return e;
}

int grubcfg_pick(const char *text, size_t len, const struct grub_disk *disk, struct grub_boot *out, char *err,
		 size_t errlen)
{
	memset(out, 0, sizeof(*out));
	struct gnode *tree;
	int e = grub_parse(text, len, &tree, err, errlen);
	if (e < 0)
		return e;
	struct grub_run *r = calloc(1, sizeof(*r));
	if (!r) {
		grub_nodes_free(tree);
		return error_oom(err, errlen);
	}
	r->disk = disk;
	r->parent = -1;
	r->err = err;
	r->errlen = errlen;
	e = init_vars(r);
	if (!e)
		e = run_list(r, tree);
	int item = e ? -1 : pick(r, grub_get_var(r, "default"));
	if (!e && item < 0)
		e = error_set(err, errlen, -EINVAL, "grub.cfg has no menu entry");
	if (!e) {
		r->boot = out;
		r->status = 0;
		e = grub_set_var(r, "chosen", 6, r->items[item].title);
		e = e ? e : title_of(r, item, &out->title);
		e = e ? e : run_list(r, r->items[item].body);
		if (!e && !out->kernel.path)
			e = error_set(err, errlen, -EINVAL, "grub.cfg: menu entry '%s' has no linux command", out->title);
		if (!e && !out->args && !(out->args = strdup("")))
			e = error_oom(err, errlen);
	}
	run_free(r);
	grub_nodes_free(tree);
	if (e < 0)
		grub_boot_free(out);
	return e;
}
