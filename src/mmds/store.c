/* See store.h. */
#include "mmds/store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void mmds_store_init(struct mmds_store *s, size_t limit)
{
	s->data = json_null();
	s->initialized = false;
	s->limit = limit;
}

void mmds_store_free(struct mmds_store *s)
{
	json_decref(s->data);
	s->data = NULL;
	s->initialized = false;
}

const char *mmds_store_strerror(enum mmds_store_status st)
{
	switch (st) {
	case MMDS_STORE_OK:
		return "OK";
	case MMDS_STORE_LIMIT:
		return "The MMDS patch request doesn't fit.";
	case MMDS_STORE_NOT_INIT:
		return "The MMDS data store is not initialized.";
	case MMDS_STORE_NOT_FOUND:
		return "The MMDS resource does not exist.";
	case MMDS_STORE_UNSUPPORTED:
		return "Cannot retrieve value. The value has an unsupported type.";
	default:
		return "out of memory";
	}
}

enum mmds_store_status mmds_store_put(struct mmds_store *s, const json_t *data)
{
	size_t size = mmds_json_size(data);
	if (size == SIZE_MAX)
		return MMDS_STORE_NOMEM;
	if (size > s->limit)
		return MMDS_STORE_LIMIT;
	json_t *copy = json_deep_copy(data);
	if (!copy)
		return MMDS_STORE_NOMEM;
	json_decref(s->data);
	s->data = copy;
	s->initialized = true;
	return MMDS_STORE_OK;
}

int mmds_merge_patch(json_t **target, const json_t *patch)
{
	if (!json_is_object(patch)) {
		json_t *copy = json_deep_copy(patch);
		if (!copy)
			return -1;
		json_decref(*target);
		*target = copy;
		return 0;
	}
	if (!*target || !json_is_object(*target)) {
		json_t *obj = json_object();
		if (!obj)
			return -1;
		json_decref(*target);
		*target = obj;
	}
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)patch, key, val) {
		if (json_is_null(val)) {
			json_object_del(*target, key);
			continue;
		}
		json_t *cur = json_object_get(*target, key);
		json_incref(cur);   /* NULL-safe: patched apart, then set back */
		int r = mmds_merge_patch(&cur, val);
		if (r == 0 && json_object_set_new(*target, key, cur) < 0)
			return -1;
		if (r < 0) {
			json_decref(cur);
			return -1;
		}
	}
	return 0;
}

enum mmds_store_status mmds_store_patch(struct mmds_store *s, const json_t *patch)
{
	if (!s->initialized)
		return MMDS_STORE_NOT_INIT;
	json_t *copy = json_deep_copy(s->data);
	if (!copy || mmds_merge_patch(&copy, patch) < 0) {
		json_decref(copy);
		return MMDS_STORE_NOMEM;
	}
	size_t size = mmds_json_size(copy);
	if (size == SIZE_MAX || size > s->limit) {
		json_decref(copy);
		return size == SIZE_MAX ? MMDS_STORE_NOMEM : MMDS_STORE_LIMIT;
	}
	json_decref(s->data);
	s->data = copy;
	return MMDS_STORE_OK;
}

json_t *mmds_store_get(const struct mmds_store *s)
{
	if (!s->data || json_is_null(s->data))
		return json_object();
	return json_deep_copy(s->data);
}

/* An array index as RFC 6901 spells it: digits, no leading zero (but "0"), no sign. */
static bool array_index(const char *tok, size_t n, size_t *out)
{
	if (!n || (n > 1 && tok[0] == '0') || n > 18)
		return false;
	size_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (tok[i] < '0' || tok[i] > '9')
			return false;
		v = v * 10 + (size_t)(tok[i] - '0');
	}
	*out = v;
	return true;
}

/* Follow a JSON pointer ("" is the root; otherwise "/tok/tok", with ~1 for '/' and ~0 for '~'). */
static const json_t *pointer(const json_t *root, const char *p, size_t len)
{
	if (len == 0)
		return root;
	if (p[0] != '/')
		return NULL;
	const json_t *cur = root;
	size_t i = 1;
	char *tok = malloc(len + 1);
	if (!tok)
		return NULL;
	for (;;) {
		size_t n = 0;
		bool bad = false;
		while (i < len && p[i] != '/') {
			char c = p[i++];
			if (c == '~') {
				char d = i < len ? p[i++] : '\0';
				if (d == '0')
					c = '~';
				else if (d == '1')
					c = '/';
				else
					bad = true;
			}
			tok[n++] = c;
		}
		tok[n] = '\0';
		size_t idx;
		if (bad)
			cur = NULL;
		else if (json_is_object(cur))
			cur = json_object_get(cur, tok);
		else if (json_is_array(cur) && array_index(tok, n, &idx))
			cur = json_array_get(cur, idx);
		else
			cur = NULL;
		if (!cur || i >= len)
			break;
		i++;   /* the '/' */
	}
	free(tok);
	return cur;
}

static void imds_object(struct mmds_buf *out, const json_t *obj)
{
	size_t k;
	const char **keys = mmds_sorted_keys(obj, &k);
	if (!keys && k) {
		out->oom = true;
		return;
	}
	for (size_t i = 0; i < k; i++) {
		if (i)
			mmds_buf_add(out, "\n", 1);
		mmds_buf_str(out, keys[i]);
		if (json_is_object(json_object_get(obj, keys[i])))
			mmds_buf_add(out, "/", 1);
	}
	free(keys);
}

enum mmds_store_status mmds_store_lookup(const struct mmds_store *s, const char *path, bool json,
					 struct mmds_buf *out)
{
	size_t len = strlen(path);
	if (len && path[len - 1] == '/')
		len--;
	const json_t *v = pointer(s->data, path, len);
	if (!v)
		return MMDS_STORE_NOT_FOUND;
	if (json)
		mmds_json_write(out, v);
	else if (json_is_object(v))
		imds_object(out, v);
	else if (json_is_string(v))
		mmds_buf_add(out, json_string_value(v), json_string_length(v));
	else
		return MMDS_STORE_UNSUPPORTED;
	return out->oom ? MMDS_STORE_NOMEM : MMDS_STORE_OK;
}
