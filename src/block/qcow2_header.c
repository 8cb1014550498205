/* The qcow2 header and its extensions: every field checked before anything trusts it. */
#include "block/qcow2_format.h"
#include "util/error.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int qcow2_probe(const uint8_t *buf, size_t len)
{
	return len >= 8 && qcow2_be32(buf) == QCOW2_MAGIC;
}

/* [off, off+len) lies inside [0, limit). */
static bool inside(uint64_t off, uint64_t len, uint64_t limit)
{
	return off <= limit && len <= limit - off;
}

static int parse_extensions(const uint8_t *buf, size_t len, size_t at, struct qcow2_header *h, char *err,
			    size_t errlen)
{
	for (;;) {
		if (!inside(at, 8, len))
			return error_set(err, errlen, -EINVAL,
					 "header extensions run past the first cluster");
		uint32_t type = qcow2_be32(buf + at), elen = qcow2_be32(buf + at + 4);
		at += 8;
		if (type == QCOW2_EXT_END)
			return 0;
		if (!inside(at, elen, len))
			return error_set(err, errlen, -EINVAL,
					 "header extension 0x%08x (%u bytes) runs past the first cluster",
					 type, elen);
		if (type == QCOW2_EXT_BACKING_FORMAT) {
			if (elen == 0 || elen >= sizeof(h->backing_format) || memchr(buf + at, 0, elen))
				return error_set(err, errlen, -EINVAL,
						 "backing format extension of %u bytes is malformed", elen);
			memcpy(h->backing_format, buf + at, elen);
			h->backing_format[elen] = 0;
		}
		/* Others (feature names, bitmaps, ...) change nothing petrel does. */
		at += (elen + 7u) & ~7u;
	}
}

int qcow2_header_parse(const uint8_t *buf, size_t len, uint64_t file_size, struct qcow2_header *h,
		       char *err, size_t errlen)
{
	memset(h, 0, sizeof(*h));
	if (len < QCOW2_V2_HEADER_LEN || !qcow2_probe(buf, len))
		return error_set(err, errlen, -EINVAL,
				 "not a qcow2 image (no magic, or shorter than a header)");
	h->version = qcow2_be32(buf + 4);
	if (h->version != 2 && h->version != 3)
		return error_set(err, errlen, -ENOTSUP, "qcow2 version %u is not supported (2 and 3 are)",
				 h->version);
	uint64_t backing_off = qcow2_be64(buf + 8);
	uint32_t backing_len = qcow2_be32(buf + 16);
	h->cluster_bits = qcow2_be32(buf + 20);
	h->size = qcow2_be64(buf + 24);
	uint32_t crypt = qcow2_be32(buf + 32);
	h->l1_size = qcow2_be32(buf + 36);
	h->l1_table_offset = qcow2_be64(buf + 40);
	h->refcount_table_offset = qcow2_be64(buf + 48);
	h->refcount_table_clusters = qcow2_be32(buf + 56);
	h->nb_snapshots = qcow2_be32(buf + 60);

	if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS || h->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return error_set(err, errlen, -EINVAL, "cluster_bits %u is out of range (%d..%d)",
				 h->cluster_bits, QCOW2_MIN_CLUSTER_BITS, QCOW2_MAX_CLUSTER_BITS);
	uint64_t cs = 1ull << h->cluster_bits;
	if (len > cs)
		len = (size_t)cs; /* the header and its extensions live in the first cluster */
	if (crypt)
		return error_set(err, errlen, -ENOTSUP,
				 "encrypted qcow2 images are not supported (crypt_method %u)", crypt);

	if (h->version == 2) {
		h->refcount_order = 4;
		h->header_length = QCOW2_V2_HEADER_LEN;
	} else {
		if (len < QCOW2_V3_HEADER_LEN)
			return error_set(err, errlen, -EINVAL, "qcow2 v3 header is truncated");
		h->incompatible = qcow2_be64(buf + 72);
		h->compatible = qcow2_be64(buf + 80);
		h->autoclear = qcow2_be64(buf + 88);
		h->refcount_order = qcow2_be32(buf + 96);
		h->header_length = qcow2_be32(buf + 100);
		if (h->header_length < QCOW2_V3_HEADER_LEN || h->header_length % 8 || h->header_length > len)
			return error_set(err, errlen, -EINVAL, "header_length %u is invalid",
					 h->header_length);
		uint64_t known = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT | QCOW2_INCOMPAT_DATA_FILE |
				 QCOW2_INCOMPAT_COMPRESSION | QCOW2_INCOMPAT_EXTL2;
		if (h->incompatible & ~known)
			return error_set(err, errlen, -ENOTSUP, "unknown incompatible features 0x%llx",
					 (unsigned long long)(h->incompatible & ~known));
		if (h->incompatible & QCOW2_INCOMPAT_CORRUPT)
			return error_set(err, errlen, -EINVAL,
					 "the image is marked corrupt (repair it with qemu-img check -r all)");
		if (h->incompatible & QCOW2_INCOMPAT_DATA_FILE)
			return error_set(err, errlen, -ENOTSUP,
					 "qcow2 images with an external data file are not supported");
		if (h->incompatible & QCOW2_INCOMPAT_EXTL2)
			return error_set(err, errlen, -ENOTSUP,
					 "qcow2 images with extended L2 entries are not supported");
		if (h->incompatible & QCOW2_INCOMPAT_COMPRESSION) {
			uint8_t type = h->header_length > 104 ? buf[104] : 0;
			if (type != 0)
				return error_set(err, errlen, -ENOTSUP,
						 "compression type %u is not supported (zlib is)", type);
		}
		if (h->refcount_order > 6)
			return error_set(err, errlen, -EINVAL, "refcount_order %u is out of range (0..6)",
					 h->refcount_order);
	}

	if (h->size > QCOW2_MAX_SIZE)
		return error_set(err, errlen, -EINVAL, "virtual size %llu is too large",
				 (unsigned long long)h->size);
	/* L1: enough entries for the virtual size, inside the file, cluster aligned. */
	unsigned l2_bits = h->cluster_bits - 3;
	uint64_t per_l2 = 1ull << (h->cluster_bits + l2_bits);
	uint64_t need = (h->size + per_l2 - 1) / per_l2;
	if (h->l1_size < need)
		return error_set(err, errlen, -EINVAL, "L1 table of %u entries cannot map %llu bytes",
				 h->l1_size, (unsigned long long)h->size);
	if ((uint64_t)h->l1_size * 8 > QCOW2_MAX_L1_BYTES)
		return error_set(err, errlen, -EINVAL, "L1 table of %u entries is too large", h->l1_size);
	if (h->l1_size && (h->l1_table_offset % cs || !inside(h->l1_table_offset, (uint64_t)h->l1_size * 8, file_size)))
		return error_set(err, errlen, -EINVAL,
				 "L1 table at %llu (%u entries) is misaligned or past the end of the file",
				 (unsigned long long)h->l1_table_offset, h->l1_size);
	/* Refcount table likewise. */
	if (h->refcount_table_clusters == 0 || (uint64_t)h->refcount_table_clusters * cs > QCOW2_MAX_REFTABLE_BYTES)
		return error_set(err, errlen, -EINVAL, "refcount table of %u clusters is invalid",
				 h->refcount_table_clusters);
	if (h->refcount_table_offset % cs ||
	    !inside(h->refcount_table_offset, (uint64_t)h->refcount_table_clusters * cs, file_size))
		return error_set(err, errlen, -EINVAL,
				 "refcount table at %llu is misaligned or past the end of the file",
				 (unsigned long long)h->refcount_table_offset);
	if (h->nb_snapshots && qcow2_be64(buf + 64) % cs)
		return error_set(err, errlen, -EINVAL, "snapshot table offset is misaligned");

	if (backing_off) {
		if (!backing_len || backing_len > QCOW2_MAX_BACKING_NAME || !inside(backing_off, backing_len, len))
			return error_set(err, errlen, -EINVAL,
					 "backing file name (%u bytes at %llu) is invalid", backing_len,
					 (unsigned long long)backing_off);
		if (memchr(buf + backing_off, 0, backing_len))
			return error_set(err, errlen, -EINVAL, "backing file name contains a NUL byte");
		memcpy(h->backing_file, buf + backing_off, backing_len);
		h->backing_file[backing_len] = 0;
	}
	return parse_extensions(buf, len, h->header_length, h, err, errlen);
}
