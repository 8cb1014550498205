/* A small writer of ACPI Machine Language (the DSDT's byte code): names, integers, strings,
 * devices, scopes, methods, packages, operation regions and fields, and the few operators
 * petrel's DSDT needs. Objects with a PkgLength are opened (aml_device, aml_method, ...),
 * filled and closed with aml_close; the length is always written in 4 bytes (valid AML).
 * Writing past the buffer sets `overflow` and writes nothing more: check it at the end. */
#ifndef PETREL_ARCH_X86_AML_H
#define PETREL_ARCH_X86_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aml {
	uint8_t *p;
	size_t len, cap;
	bool overflow;
};

/* Opcodes used directly by callers. */
#define AML_ZERO 0x00
#define AML_ONE 0x01
#define AML_LOCAL0 0x60
#define AML_ARG0 0x68
#define AML_ARG1 0x69
#define AML_STORE 0x70
#define AML_INCREMENT 0x75
#define AML_AND 0x7b
#define AML_NOTIFY 0x86
#define AML_LEQUAL 0x93
#define AML_LLESS 0x95
#define AML_IF 0xa0
#define AML_WHILE 0xa2
#define AML_RETURN 0xa4

/* Operation region spaces and field flags (ACPI 6.4, 19.6.100 and 19.6.48). */
#define AML_SYSTEM_IO 0x01
#define AML_FIELD_BYTE_ACC 0x01
#define AML_FIELD_DWORD_ACC 0x03
#define AML_FIELD_WRITE_AS_ZEROS 0x40

void aml_init(struct aml *a, uint8_t *buf, size_t cap);
void aml_byte(struct aml *a, uint8_t b);
void aml_bytes(struct aml *a, const void *src, size_t n);
void aml_le(struct aml *a, uint64_t v, int n);

/* Reserve a 4-byte PkgLength here (its offset is returned); aml_close patches it. */
size_t aml_open(struct aml *a);
void aml_close(struct aml *a, size_t at);

/* The shortest integer encoding: Zero, One, Byte/Word/DWord/QWord prefix. */
void aml_int(struct aml *a, uint64_t v);
/* NameOp and a 4-character segment: `Name (SEG, ` — the value follows. */
void aml_name(struct aml *a, const char *seg);
void aml_string(struct aml *a, const char *s);
/* A NameString: "\\_SB_.VGEN" (root, dotted 4-character segments) or one segment "VGEN". */
void aml_path(struct aml *a, const char *path);
/* EISA id "PNP0A03" -> its compressed DWORD (for Name (_HID, EisaId (...))). */
uint32_t aml_eisa_id(const char *id);

/* Scope (path) { / Device (SEG) { / Method (SEG, nargs, Serialized?) {: close with aml_close. */
size_t aml_scope(struct aml *a, const char *path);
size_t aml_device(struct aml *a, const char *seg);
size_t aml_method(struct aml *a, const char *seg, unsigned nargs, bool serialized);
/* If (predicate) {: the predicate and the body follow; close with aml_close. */
size_t aml_if(struct aml *a);
/* While (predicate) {: the predicate and the body follow; close with aml_close. */
size_t aml_while(struct aml *a);
/* Package (n) { : n elements follow; close with aml_close. */
size_t aml_package(struct aml *a, unsigned n);
/* Buffer (n) { bytes } */
void aml_buffer(struct aml *a, const uint8_t *bytes, size_t n);
/* Mutex (SEG, sync level) / Acquire (path, timeout ms; 0xffff: forever) / Release (path) */
void aml_mutex(struct aml *a, const char *seg, uint8_t sync_level);
void aml_acquire(struct aml *a, const char *path, uint16_t timeout);
void aml_release(struct aml *a, const char *path);

/* Name (_CRS, ResourceTemplate () { rt[0..n) }) with the end tag added. */
void aml_crs(struct aml *a, const uint8_t *rt, size_t n);
/* OperationRegion (SEG, space, offset, len). */
void aml_op_region(struct aml *a, const char *seg, uint8_t space, uint64_t offset, uint64_t len);
/* Field (REGION, flags) {: then aml_field_unit for each named field; close with aml_close. */
size_t aml_field(struct aml *a, const char *region, uint8_t flags);
void aml_field_unit(struct aml *a, const char *seg, unsigned bits);
/* Offset (bits / 8) in a field list: bits skipped (a ReservedField). */
void aml_field_skip(struct aml *a, unsigned bits);
/* Notify (path, value) */
void aml_notify(struct aml *a, const char *path, uint8_t value);

#endif
