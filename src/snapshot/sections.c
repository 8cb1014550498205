/* Sections as encoded fields (sections.h): the snapshot's own (VM, MEM) and the two helpers
 * every section goes through. */
#include "snapshot/sections.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>

void snap_section_enc(struct snap_writer *w, uint32_t id, uint32_t instance, uint32_t version,
		      const struct enc *e)
{
	if (e->err) {
		if (!w->err)
			w->err = e->err;
		return;
	}
	snap_section(w, id, instance, version, e->buf, e->len);
}

int snap_section_dec(const struct snap_reader *r, uint32_t id, uint32_t instance, uint32_t min_version,
		     uint32_t version, uint32_t *found, struct dec *d, char *err, size_t errlen)
{
	const void *p;
	uint64_t len;
	char name[5];
	snap_id_name(id, name);
	if (snap_find(r, id, instance, found, &p, &len) < 0)
		return error_set(err, errlen, -ENOENT, "state file lacks section '%s' #%u", name, instance);
	if (*found < (min_version ? min_version : version) || *found > version)
		return error_set(err, errlen, -EINVAL,
				 "section '%s' #%u has version %u; this petrel reads version %u", name,
				 instance, *found, version);
	dec_init(d, p, (size_t)len);
	return 0;
}

void snap_vm_put(struct snap_writer *w, const struct snap_vm *sv)
{
	struct enc e;
	enc_init(&e);
	put_bytes(&e, sv->id, sizeof(sv->id));
	put_u32(&e, sv->nvcpus);
	put_u32(&e, sv->nvirtio);
	put_bool(&e, sv->pvm);
	snap_section_enc(w, SEC_VM, 0, SEC_VERSION, &e);
	enc_free(&e);
}

int snap_vm_read(const struct snap_reader *r, struct snap_vm *sv, char *err, size_t errlen)
{
	struct dec d;
	uint32_t v;
	int e = snap_section_dec(r, SEC_VM, 0, 0, SEC_VERSION, &v, &d, err, errlen);
	if (e < 0)
		return e;
	memset(sv, 0, sizeof(*sv));
	get_bytes(&d, sv->id, sizeof(sv->id));
	sv->nvcpus = get_u32(&d);
	sv->nvirtio = get_u32(&d);
	sv->pvm = get_bool(&d);
	return dec_end(&d, "VM section", err, errlen);
}

void snap_mem_put(struct snap_writer *w, const struct snap_mem *sm)
{
	struct enc e;
	enc_init(&e);
	put_u32(&e, sm->nregions);
	put_u64(&e, sm->total);
	for (unsigned i = 0; i < sm->nregions && i < GUEST_MEM_MAX_REGIONS; i++) {
		put_u64(&e, sm->r[i].gpa);
		put_u64(&e, sm->r[i].size);
		put_u64(&e, sm->r[i].file_off);
	}
	snap_section_enc(w, SEC_MEM, 0, SEC_VERSION, &e);
	enc_free(&e);
}

int snap_mem_read(const struct snap_reader *r, struct snap_mem *sm, char *err, size_t errlen)
{
	struct dec d;
	uint32_t v;
	int e = snap_section_dec(r, SEC_MEM, 0, 0, SEC_VERSION, &v, &d, err, errlen);
	if (e < 0)
		return e;
	memset(sm, 0, sizeof(*sm));
	sm->nregions = get_u32(&d);
	sm->total = get_u64(&d);
	if (!d.err && sm->nregions > GUEST_MEM_MAX_REGIONS)
		return error_set(err, errlen, -EINVAL, "memory section: %u regions (at most %u)",
				 sm->nregions, GUEST_MEM_MAX_REGIONS);
	for (unsigned i = 0; i < sm->nregions; i++) {
		sm->r[i].gpa = get_u64(&d);
		sm->r[i].size = get_u64(&d);
		sm->r[i].file_off = get_u64(&d);
	}
	return dec_end(&d, "memory section", err, errlen);
}
