/* grub.cfg's script language into a tree (grubcfg_int.h): GRUB's lexer rules (words, '...'
 * and "..." quotes, backslash escapes and line continuations, $var and ${var}, comments, ';'
 * and new lines ending commands, '{' and '}' as words) and its grammar (if/elif/else/fi,
 * menuentry/submenu/function blocks, for/while/until loops). */
#include "diskboot/grubcfg.h"
#include "diskboot/grubcfg_int.h"
#include "util/error.h"
#include "util/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- words and commands ---- */

struct gcmd {
	unsigned line, nw;
	struct gword *w;
};

struct grub_lexer {
	const char *s;
	size_t len, pos;
	unsigned line;
	struct gcmd *cmds;
	size_t ncmds, cap;
	struct gcmd cur;
	char *err;
	size_t errlen;
};

struct grub_buf { char *p; size_t len, cap; };

/* c as it is (raw: a variable reference's markers) or with 0x01/0x02 read as '?' */
static int put_c(struct grub_buf *b, char c, bool raw)
{
	if (b->len + 2 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 32;
		char *p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	b->p[b->len++] = !raw && (c == GVAR_OPEN || c == GVAR_CLOSE) ? '?' : c;
	b->p[b->len] = 0;
	return 0;
}

static int put(struct grub_buf *b, char c)
{
	return put_c(b, c, false);
}

static void cmd_free(struct gcmd *c)
{
	for (unsigned i = 0; i < c->nw; i++)
		free(c->w[i].s);
	free(c->w);
	c->w = NULL;
	c->nw = 0;
}

static int end_cmd(struct grub_lexer *x)
{
	if (!x->cur.nw)
		return 0;
	if (x->ncmds == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 64;
		struct gcmd *c = realloc(x->cmds, cap * sizeof(*c));
		if (!c)
			return -ENOMEM;
		x->cmds = c;
		x->cap = cap;
	}
	x->cmds[x->ncmds++] = x->cur;
	memset(&x->cur, 0, sizeof(x->cur));
	return 0;
}

static int add_word(struct grub_lexer *x, char *s, bool quoted)
{
	if (!x->cur.nw)
		x->cur.line = x->line;
	if (x->cur.nw == GRUBCFG_MAX_WORDS) {
		free(s);
		return error_set(x->err, x->errlen, -EINVAL, "grub.cfg line %u: more than %d words in a command", x->line,
				 GRUBCFG_MAX_WORDS);
	}
	if (!(x->cur.nw & (x->cur.nw - 1)) || !x->cur.nw) { /* grow at powers of two */
		struct gword *w = realloc(x->cur.w, (x->cur.nw ? x->cur.nw * 2 : 4) * sizeof(*w));
		if (!w) {
			free(s);
			return -ENOMEM;
		}
		x->cur.w = w;
	}
	x->cur.w[x->cur.nw++] = (struct gword){ s, quoted };
	return 0;
}

static bool name_char(char c, bool first)
{
	return isalpha((unsigned char)c) || c == '_' || (!first && isdigit((unsigned char)c));
}

/* $name, ${name}, $1, $?, $#, $@, $*: appended as a reference; a lone '$' is itself. */
static int variable(struct grub_lexer *x, struct grub_buf *b)
{
	const char *s = x->s;
	size_t p = x->pos + 1, start, end;
	if (p < x->len && s[p] == '{') {
		start = p + 1;
		end = start;
		while (end < x->len && s[end] != '}' && s[end] != '\n')
			end++;
		if (end >= x->len || s[end] != '}')
			return error_set(x->err, x->errlen, -EINVAL, "grub.cfg line %u: '${' without '}'", x->line);
		x->pos = end + 1;
	} else if (p < x->len && (strchr("?#@*", s[p]) || isdigit((unsigned char)s[p]))) {
		start = p;
		end = p + 1;
		x->pos = end;
	} else if (p < x->len && name_char(s[p], true)) {
		start = p;
		end = p;
		while (end < x->len && name_char(s[end], false))
			end++;
		x->pos = end;
	} else {
		x->pos = p;
		return put(b, '$');
	}
	int r = put_c(b, GVAR_OPEN, true);
	for (size_t i = start; i < end && r == 0; i++)
		r = put(b, s[i]);
	return r ? r : put_c(b, GVAR_CLOSE, true);
}

/* One word from x->pos: 1 (a word in *out), 0 (none: at a separator) or -errno. */
static int word(struct grub_lexer *x, struct grub_buf *b, bool *quoted)
{
	const char *s = x->s;
	int r = 0;
	*quoted = false;
	while (x->pos < x->len && r == 0) {
		char c = s[x->pos];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';')
			break;
		if (c == '\\') {
			if (x->pos + 1 < x->len && s[x->pos + 1] == '\n') {
				x->line++;
			} else if (x->pos + 1 < x->len) {
				r = put(b, s[x->pos + 1]);
				*quoted = true;
			}
			x->pos += 2;
		} else if (c == '\'') {
			*quoted = true;
			size_t end = x->pos + 1;
			while (end < x->len && s[end] != '\'')
				end++;
			if (end >= x->len)
				return error_set(x->err, x->errlen, -EINVAL, "grub.cfg line %u: a ' quote that does not end",
						 x->line);
			for (size_t i = x->pos + 1; i < end && r == 0; i++) {
				x->line += s[i] == '\n';
				r = put(b, s[i]);
			}
			x->pos = end + 1;
		} else if (c == '"') {
			*quoted = true;
			x->pos++;
			while (r == 0 && x->pos < x->len && s[x->pos] != '"') {
				char d = s[x->pos];
				if (d == '\\' && x->pos + 1 < x->len && strchr("$\"\\\n", s[x->pos + 1])) {
					if (s[x->pos + 1] == '\n')
						x->line++;
					else
						r = put(b, s[x->pos + 1]);
					x->pos += 2;
				} else if (d == '$') {
					r = variable(x, b);
				} else {
					x->line += d == '\n';
					r = put(b, d);
					x->pos++;
				}
			}
			if (r == 0 && x->pos >= x->len)
				return error_set(x->err, x->errlen, -EINVAL, "grub.cfg line %u: a \" quote that does not end",
						 x->line);
			x->pos++;
		} else if (c == '$') {
			r = variable(x, b);
		} else {
			r = put(b, c);
			x->pos++;
		}
		if (r == 0 && b->len > GRUBCFG_MAX_LINE)
			return error_set(x->err, x->errlen, -EFBIG, "grub.cfg line %u: a word longer than %d bytes", x->line,
					 GRUBCFG_MAX_LINE);
	}
	return r < 0 ? r : b->len || *quoted;
}

static bool is(const struct gword *w, const char *kw)
{
	return !w->quoted && !strcmp(w->s, kw);
}

static int lex(struct grub_lexer *x)
{
	const char *s = x->s;
	int r = 0;
	while (x->pos < x->len && r == 0) {
		char c = s[x->pos];
		if (c == ' ' || c == '\t' || c == '\r') {
			x->pos++;
		} else if (c == '\\' && x->pos + 1 < x->len && s[x->pos + 1] == '\n') {
			x->pos += 2;
			x->line++;
		} else if (c == '\n' || c == ';') {
			r = end_cmd(x);
			x->line += c == '\n';
			x->pos++;
		} else if (c == '#') {
			while (x->pos < x->len && s[x->pos] != '\n')
				x->pos++;
		} else {
			struct grub_buf b = { 0 };
			bool quoted;
			r = word(x, &b, &quoted);
			if (r <= 0) { /* an error, or only a backslash at the end */
				free(b.p);
				continue;
			}
			char *w = b.p ? b.p : strdup("");
			if (!w)
				return -ENOMEM;
			struct gword gw = { w, quoted };
			if (is(&gw, "}")) { /* a block's end: a command of its own */
				free(w);
				if ((r = end_cmd(x)) == 0 && (w = strdup("}")))
					r = add_word(x, w, false);
				r = r ? r : w ? end_cmd(x) : -ENOMEM;
			} else if ((r = add_word(x, w, quoted)) == 0 &&
				   (is(&gw, "{") || (x->cur.nw == 1 && (is(&gw, "then") || is(&gw, "else") || is(&gw, "do"))))) {
				r = end_cmd(x); /* a block's start ends its header; a keyword stands alone */
			}
		}
	}
	return r < 0 ? r : end_cmd(x);
}

/* ---- the grammar ---- */

struct grub_parser {
	struct gcmd *c;
	size_t n, i;
	char *err;
	size_t errlen;
};

static bool at(struct grub_parser *p, const char *kw)
{
	return p->i < p->n && is(&p->c[p->i].w[0], kw);
}

static struct gnode *node(enum gkind kind, const struct gcmd *c, unsigned from, unsigned to)
{
	struct gnode *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->kind = kind;
	n->line = c->line;
	n->nw = to > from ? to - from : 0; /* the command's words, taken by take_words */
	return n;
}

/* The words [from, to) of c move into n (its own array); the rest are freed. */
static int take_words(struct gnode *n, struct gcmd *c, unsigned from, unsigned to)
{
	n->w = NULL;
	if (n->nw && !(n->w = malloc(n->nw * sizeof(*n->w))))
		return -ENOMEM;
	for (unsigned i = 0; i < c->nw; i++) {
		if (i >= from && i < to)
			n->w[i - from] = c->w[i];
		else
			free(c->w[i].s);
	}
	free(c->w);
	c->w = NULL;
	c->nw = 0;
	return 0;
}

static int parse_list(struct grub_parser *p, const char *const *stops, unsigned depth, struct gnode **out);

static int expect(struct grub_parser *p, const char *kw, const char *what, unsigned line)
{
	if (!at(p, kw))
		return error_set(p->err, p->errlen, -EINVAL, "grub.cfg line %u: %s without '%s'", line, what, kw);
	cmd_free(&p->c[p->i++]);
	return 0;
}

static int parse_if(struct grub_parser *p, unsigned depth, struct gnode **out)
{
	static const char *const to_then[] = { "then", NULL }, *const to_fi[] = { "fi", "else", "elif", NULL },
			  *const to_end[] = { "fi", NULL };
	struct gcmd *c = &p->c[p->i++];
	unsigned line = c->line;
	const char *kw = c->w[0].s[0] == 'e' ? "'elif'" : "'if'";
	struct gnode *n = node(G_IF, c, 0, 0), *first = NULL;
	if (!n)
		return -ENOMEM;
	*out = n;
	if (c->nw > 1 && !(first = node(G_CMD, c, 1, c->nw)))
		return -ENOMEM;
	int r = first ? take_words(first, c, 1, c->nw) : (cmd_free(c), 0);
	n->cond = first;
	struct gnode *more = NULL;
	r = r ? r : parse_list(p, to_then, depth, &more);
	if (first)
		first->next = more;
	else
		n->cond = more;
	r = r ? r : expect(p, "then", kw, line);
	r = r ? r : parse_list(p, to_fi, depth, &n->then);
	if (r)
		return r;
	if (at(p, "elif")) {
		r = parse_if(p, depth + 1, &n->els);
		if (n->els)
			n->els->elif = true;
		return r;
	}
	if (at(p, "else")) {
		cmd_free(&p->c[p->i++]);
		if ((r = parse_list(p, to_end, depth, &n->els)) < 0)
			return r;
	}
	return expect(p, "fi", kw, line);
}

static int parse_block(struct grub_parser *p, unsigned depth, struct gnode **out)
{
	static const char *const to_close[] = { "}", NULL };
	struct gcmd *c = &p->c[p->i++];
	unsigned line = c->line, nw = c->nw;
	char what[32];
	snprintf(what, sizeof(what), "'%s'", c->w[0].s);
	bool open = nw > 1 && is(&c->w[nw - 1], "{");
	struct gnode *n = node(G_BLOCK, c, 0, open ? nw - 1 : nw);
	if (!n)
		return -ENOMEM;
	*out = n;
	int r = take_words(n, c, 0, n->nw);
	if (!r && !open) {
		if (!at(p, "{"))
			return error_set(p->err, p->errlen, -EINVAL, "grub.cfg line %u: %s without '{'", line, what);
		cmd_free(&p->c[p->i++]);
	}
	r = r ? r : parse_list(p, to_close, depth, &n->body);
	return r ? r : expect(p, "}", what, line);
}

static int parse_loop(struct grub_parser *p, unsigned depth, struct gnode **out)
{
	static const char *const to_do[] = { "do", NULL }, *const to_done[] = { "done", NULL };
	struct gcmd *c = &p->c[p->i++];
	unsigned line = c->line;
	struct gnode *n = node(G_LOOP, c, 0, 0);
	if (!n)
		return -ENOMEM;
	*out = n;
	cmd_free(c);
	int r = parse_list(p, to_do, depth, &n->cond);
	r = r ? r : expect(p, "do", "a loop", line);
	r = r ? r : parse_list(p, to_done, depth, &n->body);
	return r ? r : expect(p, "done", "a loop", line);
}

static int parse_list(struct grub_parser *p, const char *const *stops, unsigned depth, struct gnode **out)
{
	static const char *const keywords[] = { "fi", "then", "else", "elif", "done", "do", "}", "{", NULL };
	struct gnode **tail = out;
	*out = NULL;
	if (depth > GRUBCFG_MAX_NEST)
		return error_set(p->err, p->errlen, -EINVAL, "grub.cfg line %u: blocks nested more than %d deep",
				 p->i < p->n ? p->c[p->i].line : 0, GRUBCFG_MAX_NEST);
	while (p->i < p->n) {
		for (unsigned k = 0; stops && stops[k]; k++)
			if (at(p, stops[k]))
				return 0;
		for (unsigned k = 0; keywords[k]; k++)
			if (at(p, keywords[k]))
				return error_set(p->err, p->errlen, -EINVAL, "grub.cfg line %u: '%s' out of place",
						 p->c[p->i].line, keywords[k]);
		struct gnode *n = NULL;
		int r;
		if (at(p, "if")) {
			r = parse_if(p, depth + 1, &n);
		} else if (at(p, "menuentry") || at(p, "submenu") || at(p, "function")) {
			r = parse_block(p, depth + 1, &n);
		} else if (at(p, "for") || at(p, "while") || at(p, "until")) {
			r = parse_loop(p, depth + 1, &n);
		} else {
			struct gcmd *c = &p->c[p->i++];
			n = node(G_CMD, c, 0, c->nw);
			r = n ? take_words(n, c, 0, c->nw) : -ENOMEM;
		}
		if (n) {
			*tail = n;
			tail = &n->next;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

void grub_nodes_free(struct gnode *n)
{
	while (n) {
		struct gnode *next = n->next;
		for (unsigned i = 0; i < n->nw; i++)
			free(n->w[i].s);
		free(n->w);
		grub_nodes_free(n->cond);
		grub_nodes_free(n->then);
		grub_nodes_free(n->els);
		grub_nodes_free(n->body);
		free(n);
		n = next;
	}
}

int grub_parse(const char *text, size_t len, struct gnode **out, char *err, size_t errlen)
{
	*out = NULL;
	if (len > GRUBCFG_MAX_BYTES)
		return error_set(err, errlen, -EFBIG, "grub.cfg: %zu bytes, more than %d", len, GRUBCFG_MAX_BYTES);
	unsigned line = 1;
	for (size_t i = 0, start = 0; i <= len; i++) {
		if (i == len || text[i] == '\n') {
			if (i - start > GRUBCFG_MAX_LINE)
				return error_set(err, errlen, -EFBIG, "grub.cfg line %u: longer than %d bytes", line,
						 GRUBCFG_MAX_LINE);
			start = i + 1;
			line++;
		} else if (!text[i]) {
			return error_set(err, errlen, -EINVAL, "grub.cfg line %u: a NUL byte", line);
		}
	}
	struct grub_lexer x = { .s = text, .len = len, .line = 1, .err = err, .errlen = errlen };
	int r = lex(&x);
	cmd_free(&x.cur);
	struct grub_parser p = { x.cmds, x.ncmds, 0, err, errlen };
	if (r == 0)
		r = parse_list(&p, NULL, 0, out);
	for (size_t i = 0; i < x.ncmds; i++)
		cmd_free(&x.cmds[i]);
	free(x.cmds);
	if (r == -ENOMEM)
		error_oom(err, errlen);
	if (r < 0) {
		grub_nodes_free(*out);
		*out = NULL;
	}
	return r;
}
