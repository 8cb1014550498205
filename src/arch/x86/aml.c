/* The AML writer of aml.h (ACPI 6.4, chapter 20: AML grammar). */
#include "arch/x86/aml.h"

#include <string.h>

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
	*a = (struct aml){ buf, 0, cap, false };
}

void aml_byte(struct aml *a, uint8_t b)
{
	if (a->len < a->cap)
		a->p[a->len] = b;
	else
		a->overflow = true;
	a->len++;
}

void aml_bytes(struct aml *a, const void *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		aml_byte(a, ((const uint8_t *)src)[i]);
}

void aml_le(struct aml *a, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		aml_byte(a, (uint8_t)(v >> (8 * i)));
}

size_t aml_open(struct aml *a)
{
	size_t at = a->len;
	aml_le(a, 0, 4);
	return at;
}

/* Encode the length in 4 bytes (always valid AML: bits 7-6 of the lead byte = 3 more bytes). */
void aml_close(struct aml *a, size_t at)
{
	size_t n = a->len - at; /* includes the 4 length bytes */
	if (at + 4 > a->cap)
		return;
	a->p[at] = (uint8_t)(0xc0 | (n & 0xf));
	a->p[at + 1] = (uint8_t)(n >> 4);
	a->p[at + 2] = (uint8_t)(n >> 12);
	a->p[at + 3] = (uint8_t)(n >> 20);
}

void aml_int(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_byte(a, AML_ZERO);
	} else if (v == 1) {
		aml_byte(a, AML_ONE);
	} else if (v <= 0xff) {
		aml_byte(a, 0x0a);
		aml_le(a, v, 1);
	} else if (v <= 0xffff) {
		aml_byte(a, 0x0b);
		aml_le(a, v, 2);
	} else if (v <= 0xffffffff) {
		aml_byte(a, 0x0c);
		aml_le(a, v, 4);
	} else {
		aml_byte(a, 0x0e);
		aml_le(a, v, 8);
	}
}

/* A 4-character name segment, padded with '_' if shorter. */
static void aml_seg(struct aml *a, const char *seg, size_t n)
{
	for (size_t i = 0; i < 4; i++)
		aml_byte(a, (uint8_t)(i < n ? seg[i] : '_'));
}

void aml_name(struct aml *a, const char *seg)
{
	aml_byte(a, 0x08);
	aml_seg(a, seg, strlen(seg));
}

void aml_string(struct aml *a, const char *s)
{
	aml_byte(a, 0x0d);
	aml_bytes(a, s, strlen(s) + 1);
}

void aml_path(struct aml *a, const char *path)
{
	if (*path == '\\') {
		aml_byte(a, '\\');
		path++;
	}
	unsigned nseg = 1;
	for (const char *c = path; *c; c++)
		nseg += *c == '.';
	if (nseg == 2)
		aml_byte(a, 0x2e); /* DualNamePrefix */
	else if (nseg > 2) {
		aml_byte(a, 0x2f); /* MultiNamePrefix */
		aml_byte(a, (uint8_t)nseg);
	}
	while (nseg--) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);
		aml_seg(a, path, n);
		path += n + (dot != NULL);
	}
}

uint32_t aml_eisa_id(const char *id)
{
	uint16_t vendor = (uint16_t)(((id[0] - 0x40) << 10) | ((id[1] - 0x40) << 5) | (id[2] - 0x40));
	uint32_t prod = 0;
	for (int i = 3; i < 7; i++) {
		char c = id[i];
		prod = prod << 4 | (uint32_t)(c <= '9' ? c - '0' : c - 'A' + 10);
	}
	/* Bytes in memory: vendor big-endian, then product big-endian. */
	return (uint32_t)(vendor >> 8) | (uint32_t)(vendor & 0xff) << 8 | (prod >> 8 & 0xff) << 16 | (prod & 0xff) << 24;
}

size_t aml_scope(struct aml *a, const char *path)
{
	aml_byte(a, 0x10);
	size_t at = aml_open(a);
	aml_path(a, path);
	return at;
}

size_t aml_device(struct aml *a, const char *seg)
{
	aml_byte(a, 0x5b);
	aml_byte(a, 0x82);
	size_t at = aml_open(a);
	aml_seg(a, seg, strlen(seg));
	return at;
}

size_t aml_method(struct aml *a, const char *seg, unsigned nargs, bool serialized)
{
	aml_byte(a, 0x14);
	size_t at = aml_open(a);
	aml_seg(a, seg, strlen(seg));
	aml_byte(a, (uint8_t)((nargs & 7) | (serialized ? 0x08 : 0)));
	return at;
}

size_t aml_if(struct aml *a)
{
	aml_byte(a, AML_IF);
	return aml_open(a);
}

size_t aml_while(struct aml *a)
{
	aml_byte(a, AML_WHILE);
	return aml_open(a);
}

size_t aml_package(struct aml *a, unsigned n)
{
	aml_byte(a, 0x12);
	size_t at = aml_open(a);
	aml_byte(a, (uint8_t)n);
	return at;
}

void aml_buffer(struct aml *a, const uint8_t *bytes, size_t n)
{
	aml_byte(a, 0x11); /* BufferOp */
	size_t at = aml_open(a);
	aml_int(a, n);
	aml_bytes(a, bytes, n);
	aml_close(a, at);
}

void aml_mutex(struct aml *a, const char *seg, uint8_t sync_level)
{
	aml_byte(a, 0x5b);
	aml_byte(a, 0x01);
	aml_seg(a, seg, strlen(seg));
	aml_byte(a, sync_level & 0x0f);
}

void aml_acquire(struct aml *a, const char *path, uint16_t timeout)
{
	aml_byte(a, 0x5b);
	aml_byte(a, 0x23);
	aml_path(a, path);
	aml_le(a, timeout, 2); /* WordData: no prefix */
}

void aml_release(struct aml *a, const char *path)
{
	aml_byte(a, 0x5b);
	aml_byte(a, 0x27);
	aml_path(a, path);
}

void aml_crs(struct aml *a, const uint8_t *rt, size_t n)
{
	aml_name(a, "_CRS");
	aml_byte(a, 0x11); /* BufferOp */
	size_t at = aml_open(a);
	aml_int(a, n + 2);
	aml_bytes(a, rt, n);
	aml_byte(a, 0x79); /* end tag */
	aml_byte(a, 0x00);
	aml_close(a, at);
}

void aml_op_region(struct aml *a, const char *seg, uint8_t space, uint64_t offset, uint64_t len)
{
	aml_byte(a, 0x5b);
	aml_byte(a, 0x80);
	aml_seg(a, seg, strlen(seg));
	aml_byte(a, space);
	aml_int(a, offset);
	aml_int(a, len);
}

size_t aml_field(struct aml *a, const char *region, uint8_t flags)
{
	aml_byte(a, 0x5b);
	aml_byte(a, 0x81);
	size_t at = aml_open(a);
	aml_path(a, region);
	aml_byte(a, flags);
	return at;
}

/* PkgLength of a field's bit count, shortest form. */
static void field_bits(struct aml *a, unsigned bits)
{
	if (bits < 0x40) {
		aml_byte(a, (uint8_t)bits);
	} else if (bits < 0x1000) {
		aml_byte(a, (uint8_t)(0x40 | (bits & 0xf)));
		aml_byte(a, (uint8_t)(bits >> 4));
	} else {
		aml_byte(a, (uint8_t)(0x80 | (bits & 0xf)));
		aml_byte(a, (uint8_t)(bits >> 4));
		aml_byte(a, (uint8_t)(bits >> 12));
	}
}

void aml_field_unit(struct aml *a, const char *seg, unsigned bits)
{
	aml_seg(a, seg, strlen(seg));
	field_bits(a, bits);
}

void aml_field_skip(struct aml *a, unsigned bits)
{
	aml_byte(a, 0x00); /* ReservedField */
	field_bits(a, bits);
}

void aml_notify(struct aml *a, const char *path, uint8_t value)
{
	aml_byte(a, AML_NOTIFY);
	aml_path(a, path);
	aml_int(a, value);
}
