/* Firecracker's CustomCpuTemplate JSON (x86 flavour): cpuid_modifiers, msr_modifiers and
 * kvm_capabilities, each field checked, into a struct cpu_template. The named templates and
 * applying a template are in cpu_template.c. */
#include "config/cpu_template.h"
#include "util/error.h"
#include "util/json_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <linux/kvm.h>

#include "util/util.h"

/* ---- custom templates (Firecracker's CustomCpuTemplate JSON, x86 flavour) ---- */

/* Field paths are short ("cpuid_modifiers[3].modifiers[1].bitmap"); each level gets a bigger
 * buffer than the one it extends so that nothing is ever truncated. */
#define PATH_ITEM_LEN 64
#define PATH_SUB_LEN 128
#define PATH_FIELD_LEN 192

/* A growable array of fixed-size elements. */
struct vec {
	void *data;
	size_t n, cap;
};

static void *vec_push(struct vec *v, size_t size)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 8;
		if (cap > SIZE_MAX / size)
			return NULL;
		void *p = realloc(v->data, cap * size);
		if (!p)
			return NULL;
		v->data = p;
		v->cap = cap;
	}
	char *slot = (char *)v->data + v->n * size;
	v->n++;
	memset(slot, 0, size);
	return slot;
}

/* Parse "0x1f", "0b101", "31" (no sign, no spaces, at least one digit) up to max. */
static bool parse_number_str(const char *s, uint64_t max, uint64_t *out)
{
	unsigned base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	} else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
		base = 2;
		s += 2;
	}
	if (!*s)
		return false;
	uint64_t v = 0;
	for (; *s; s++) {
		unsigned d;
		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (*s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (*s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return false;
		if (d >= base)
			return false;
		if (v > (max - d) / base)
			return false;
		v = v * base + d;
	}
	*out = v;
	return true;
}

/* A 32-bit number given as a JSON integer or as a string (decimal, 0x hex, 0b binary). */
static int parse_u32_field(json_t *val, const char *path, uint32_t *out, char *err, size_t errlen)
{
	uint64_t v;
	if (json_is_integer(val)) {
		json_int_t i = json_integer_value(val);
		if (i < 0 || (uint64_t)i > UINT32_MAX)
			return error_set(err, errlen, -EINVAL, "%s: %lld is out of range for a 32-bit value",
					 path, (long long)i);
		*out = (uint32_t)i;
		return 0;
	}
	if (!json_is_string(val) || !parse_number_str(json_string_value(val), UINT32_MAX, &v))
		return error_set(err, errlen, -EINVAL,
				 "%s: expected a 32-bit number (integer, or string in decimal, "
				 "0x hex or 0b binary)",
				 path);
	*out = (uint32_t)v;
	return 0;
}

/* "0b" followed by exactly `bits` characters of 0, 1 or x, most significant bit first.
 * Underscores may separate groups for readability (as Firecracker allows) and are skipped. */
static bool parse_bitmap(const char *s, unsigned bits, uint64_t *mask, uint64_t *value)
{
	if (s[0] != '0' || s[1] != 'b')
		return false;
	uint64_t m = 0, v = 0;
	unsigned count = 0;
	for (s += 2; *s; s++) {
		if (*s == '_')
			continue;
		if (*s != '0' && *s != '1' && *s != 'x')
			return false;
		if (++count > bits)
			return false;
		m <<= 1;
		v <<= 1;
		if (*s != 'x') {
			m |= 1;
			v |= (uint64_t)(*s == '1');
		}
	}
	if (count != bits)
		return false;
	*mask = m;
	*value = v;
	return true;
}

static int bitmap_field(json_t *val, const char *path, unsigned bits, uint64_t *mask,
			uint64_t *value, char *err, size_t errlen)
{
	if (!json_is_string(val) || !parse_bitmap(json_string_value(val), bits, mask, value))
		return error_set(err, errlen, -EINVAL,
				 "%s: expected 0b followed by %u characters of 0, 1 or x", path, bits);
	return 0;
}


static int check_required(json_t *obj, const char *path, const char *const *required, char *err,
			  size_t errlen)
{
	for (const char *const *k = required; *k; k++)
		if (!json_object_get(obj, *k))
			return error_set(err, errlen, -EINVAL, "%s.%s: missing required field", path, *k);
	return 0;
}

static int parse_register(json_t *val, const char *path, enum cpuid_reg *out, char *err,
			  size_t errlen)
{
	static const char *const names[] = { "eax", "ebx", "ecx", "edx" };
	if (json_is_string(val)) {
		for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
			if (strcmp(json_string_value(val), names[i]) == 0) {
				*out = (enum cpuid_reg)i;
				return 0;
			}
		}
	}
	return error_set(err, errlen, -EINVAL, "%s: expected one of eax, ebx, ecx, edx", path);
}

#define KVM_CPUID_FLAGS_KNOWN (KVM_CPUID_FLAG_SIGNIFCANT_INDEX | KVM_CPUID_FLAG_STATEFUL_FUNC | \
			       KVM_CPUID_FLAG_STATE_READ_NEXT)

static int parse_cpuid_leaf(json_t *obj, const char *path, struct vec *mods, char *err,
			    size_t errlen)
{
	static const char *const keys[] = { "leaf", "subleaf", "flags", "modifiers", NULL };
	char sub[PATH_FIELD_LEN];
	uint32_t leaf, subleaf;
	int r;

	if (!json_is_object(obj))
		return error_set(err, errlen, -EINVAL, "%s: expected an object", path);
	if ((r = json_check_keys(obj, path, keys, err, errlen)) < 0 ||
	    (r = check_required(obj, path, keys, err, errlen)) < 0)
		return r;
	json_t *jleaf = json_object_get(obj, "leaf");
	json_t *jsub = json_object_get(obj, "subleaf");
	json_t *jflags = json_object_get(obj, "flags");
	json_t *jmods = json_object_get(obj, "modifiers");

	snprintf(sub, sizeof(sub), "%s.leaf", path);
	if ((r = parse_u32_field(jleaf, sub, &leaf, err, errlen)) < 0)
		return r;
	snprintf(sub, sizeof(sub), "%s.subleaf", path);
	if ((r = parse_u32_field(jsub, sub, &subleaf, err, errlen)) < 0)
		return r;
	if (!json_is_integer(jflags))
		return error_set(err, errlen, -EINVAL, "%s.flags: expected an integer", path);
	json_int_t flags = json_integer_value(jflags);
	if (flags < 0 || (flags & ~(json_int_t)KVM_CPUID_FLAGS_KNOWN))
		return error_set(err, errlen, -EINVAL,
				 "%s.flags: %lld has bits that are not KVM CPUID flags (allowed: 0x%x)", path,
				 (long long)flags, KVM_CPUID_FLAGS_KNOWN);
	if (!json_is_array(jmods))
		return error_set(err, errlen, -EINVAL, "%s.modifiers: expected an array", path);

	size_t i;
	json_t *jm;
	json_array_foreach(jmods, i, jm) {
		static const char *const mkeys[] = { "register", "bitmap", NULL };
		char mpath[PATH_SUB_LEN];
		uint64_t mask, value;
		enum cpuid_reg reg = CPUID_EAX;

		snprintf(mpath, sizeof(mpath), "%s.modifiers[%zu]", path, i);
		if (!json_is_object(jm))
			return error_set(err, errlen, -EINVAL, "%s: expected an object", mpath);
		if ((r = json_check_keys(jm, mpath, mkeys, err, errlen)) < 0 ||
		    (r = check_required(jm, mpath, mkeys, err, errlen)) < 0)
			return r;
		snprintf(sub, sizeof(sub), "%s.register", mpath);
		if ((r = parse_register(json_object_get(jm, "register"), sub, &reg, err,
					errlen)) < 0)
			return r;
		snprintf(sub, sizeof(sub), "%s.bitmap", mpath);
		if ((r = bitmap_field(json_object_get(jm, "bitmap"), sub, 32, &mask, &value, err,
				      errlen)) < 0)
			return r;

		struct cpuid_modifier *m = vec_push(mods, sizeof(*m));
		if (!m)
			return -ENOMEM;
		m->leaf = leaf;
		m->subleaf = subleaf;
		m->any_subleaf = !(flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
		m->reg = reg;
		m->mask = (uint32_t)mask;
		m->value = (uint32_t)value;
	}
	return 0;
}

static int parse_msr(json_t *obj, const char *path, struct vec *msrs, char *err, size_t errlen)
{
	static const char *const keys[] = { "addr", "bitmap", NULL };
	char sub[PATH_FIELD_LEN];
	uint32_t addr;
	uint64_t mask, value;
	int r;

	if (!json_is_object(obj))
		return error_set(err, errlen, -EINVAL, "%s: expected an object", path);
	if ((r = json_check_keys(obj, path, keys, err, errlen)) < 0 ||
	    (r = check_required(obj, path, keys, err, errlen)) < 0)
		return r;
	snprintf(sub, sizeof(sub), "%s.addr", path);
	if ((r = parse_u32_field(json_object_get(obj, "addr"), sub, &addr, err, errlen)) < 0)
		return r;
	snprintf(sub, sizeof(sub), "%s.bitmap", path);
	if ((r = bitmap_field(json_object_get(obj, "bitmap"), sub, 64, &mask, &value, err,
			      errlen)) < 0)
		return r;

	struct msr_modifier *m = vec_push(msrs, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->addr = addr;
	m->mask = mask;
	m->value = value;
	return 0;
}

static int parse_kvm_cap(json_t *val, const char *path, struct vec *caps, char *err,
			 size_t errlen)
{
	uint64_t cap;
	const char *s = json_is_string(val) ? json_string_value(val) : NULL;
	bool remove = s && s[0] == '!';
	if (remove)
		s++;
	/* Decimal only, as in Firecracker ("121" or "!121"). */
	if (!s || !*s || strspn(s, "0123456789") != strlen(s) ||
	    !parse_number_str(s, UINT32_MAX, &cap))
		return error_set(err, errlen, -EINVAL,
				 "%s: expected a KVM capability number, optionally prefixed with '!' "
				 "(e.g. \"121\" or \"!121\")",
				 path);
	struct kvm_cap_modifier *c = vec_push(caps, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cap = (uint32_t)cap;
	c->remove = remove;
	return 0;
}

typedef int (*item_parser)(json_t *item, const char *path, struct vec *out, char *err,
			   size_t errlen);

static int parse_array(json_t *root, const char *key, item_parser parse, struct vec *out,
		       char *err, size_t errlen)
{
	json_t *arr = json_object_get(root, key);
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return error_set(err, errlen, -EINVAL, "%s: expected an array", key);
	size_t i;
	json_t *item;
	json_array_foreach(arr, i, item) {
		char path[PATH_ITEM_LEN];
		snprintf(path, sizeof(path), "%s[%zu]", key, i);
		int r = parse(item, path, out, err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_root(json_t *root, struct cpu_template *out, char *err, size_t errlen)
{
	static const char *const keys[] = { "cpuid_modifiers", "msr_modifiers", "kvm_capabilities",
					    NULL };
	struct vec mods = { 0 }, msrs = { 0 }, caps = { 0 };
	const char *key;
	json_t *val;
	int r;

	if (!json_is_object(root))
		return error_set(err, errlen, -EINVAL, "expected a JSON object at the top level");
	json_object_foreach(root, key, val) {
		/* Firecracker's aarch64-only fields get a clearer message than "unknown". */
		if (strcmp(key, "reg_modifiers") == 0 || strcmp(key, "vcpu_features") == 0)
			return error_set(err, errlen, -EINVAL, "%s: only supported on aarch64", key);
	}
	if ((r = json_check_keys(root, "", keys, err, errlen)) < 0)
		return r;

	if ((r = parse_array(root, "cpuid_modifiers", parse_cpuid_leaf, &mods, err, errlen)) < 0 ||
	    (r = parse_array(root, "msr_modifiers", parse_msr, &msrs, err, errlen)) < 0 ||
	    (r = parse_array(root, "kvm_capabilities", parse_kvm_cap, &caps, err, errlen)) < 0) {
		if (r == -ENOMEM)
			error_set(err, errlen, -EINVAL, "out of memory");
		free(mods.data);
		free(msrs.data);
		free(caps.data);
		return r;
	}
	snprintf(out->name, sizeof(out->name), "custom");
	out->mods = mods.data;
	out->nmods = mods.n;
	out->msrs = msrs.data;
	out->nmsrs = msrs.n;
	out->kvm_caps = caps.data;
	out->nkvm_caps = caps.n;
	return 0;
}

int cpu_template_parse_json(const char *json, struct cpu_template *out, char *err, size_t errlen)
{
	json_error_t jerr;

	memset(out, 0, sizeof(*out));
	if (!json)
		return error_set(err, errlen, -EINVAL, "no JSON text");
	json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return error_set(err, errlen, -EINVAL, "invalid JSON at line %d, column %d: %s", jerr.line,
				 jerr.column, jerr.text);
	int r = parse_root(root, out, err, errlen);
	json_decref(root);
	return r;
}

#define TEMPLATE_FILE_MAX (1u << 20)

int cpu_template_load_file(const char *path, struct cpu_template *out, char *err, size_t errlen)
{
	char *buf = NULL;
	char msg[256];

	memset(out, 0, sizeof(*out));
	int r = json_read_text_file(path, TEMPLATE_FILE_MAX, "CPU template file", &buf, err, errlen);
	if (r < 0)
		return r;
	r = cpu_template_parse_json(buf, out, msg, sizeof(msg));
	free(buf);
	if (r < 0)
		error_set(err, errlen, -EINVAL, "%s: %s", path, msg);
	return r;
}
