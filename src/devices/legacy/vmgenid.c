/* The VM generation ID (vmgenid.h). */
#include "devices/legacy/vmgenid.h"
#include "devices/dev_state.h"
#include "arch/x86/layout.h"
#include "memory/guest_mem.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

void vmgenid_init(struct vmgenid *v, struct guest_mem *mem, struct ged *ged, uint64_t gpa)
{
	memset(v, 0, sizeof(*v));
	pthread_mutex_init(&v->lock, NULL);
	v->mem = mem;
	v->ged = ged;
	v->st.gpa = gpa;
	v->present = true;
}

bool vmgenid_gpa_ok(uint64_t gpa)
{
	if (gpa % 8)
		return false;
	return (gpa >= LAYOUT_EBDA && gpa <= 0xa0000 - VMGENID_SIZE) ||
	       (gpa >= LAYOUT_ACPI && gpa <= LAYOUT_ACPI_END - VMGENID_SIZE);
}

int vmgenid_new_id(struct vmgenid *v, bool notify)
{
	uint8_t id[VMGENID_SIZE];
	if (getrandom(id, sizeof(id), 0) != (ssize_t)sizeof(id))
		return -EIO;
	pthread_mutex_lock(&v->lock);
	uint8_t *p = guest_mem_ptr(v->mem, v->st.gpa, VMGENID_SIZE);
	if (p) {
		memcpy(v->st.id, id, sizeof(id));
		/* The guest reads it after the notification; the ID goes in whole before that. */
		memcpy(p, id, sizeof(id));
		guest_mem_mark_dirty(v->mem, v->st.gpa, VMGENID_SIZE);
		v->st.notify |= notify;
	}
	pthread_mutex_unlock(&v->lock);
	return p ? 0 : -EFAULT;
}

int vmgenid_reset(struct vmgenid *v)
{
	pthread_mutex_lock(&v->lock);
	uint8_t *p = guest_mem_ptr(v->mem, v->st.gpa, VMGENID_SIZE);
	if (p) {
		memcpy(p, v->st.id, VMGENID_SIZE);
		guest_mem_mark_dirty(v->mem, v->st.gpa, VMGENID_SIZE);
	}
	v->st.notify = 0;
	pthread_mutex_unlock(&v->lock);
	return p ? 0 : -EFAULT;
}

void vmgenid_resumed(struct vmgenid *v)
{
	pthread_mutex_lock(&v->lock);
	bool send = v->present && v->st.notify;
	v->st.notify = 0;
	pthread_mutex_unlock(&v->lock);
	if (send)
		ged_raise(v->ged, GED_EVT_VMGENID);
}

void vmgenid_save(struct vmgenid *v, struct vmgenid_state *out)
{
	pthread_mutex_lock(&v->lock);
	*out = v->st;
	pthread_mutex_unlock(&v->lock);
}

int vmgenid_restore(struct vmgenid *v, const struct vmgenid_state *st, char *err, size_t errlen)
{
	if (!v->mem)
		return error_set(err, errlen, -EINVAL, "the snapshot has a VM generation ID and its definition turns it off");
	/* where this machine placed it (a firmware boot's: the reserved last page of low RAM), or in
	 * petrel's reserved low memory (a direct boot's place, now or in older versions) */
	bool placed = st->gpa == v->st.gpa && st->gpa % 8 == 0;
	if ((!placed && !vmgenid_gpa_ok(st->gpa)) || !guest_mem_ptr(v->mem, st->gpa, VMGENID_SIZE))
		return error_set(err, errlen, -EINVAL, "VM generation ID at 0x%llx: not where this machine places it "
			 "(0x%llx) nor 8-byte aligned in petrel's reserved low memory", (unsigned long long)st->gpa,
			 (unsigned long long)v->st.gpa);
	if (st->notify > 1)
		return error_set(err, errlen, -EINVAL, "VM generation ID: bad notify flag %u", st->notify);
	pthread_mutex_lock(&v->lock);
	v->st.gpa = st->gpa;
	memcpy(v->st.id, st->id, sizeof(v->st.id));
	v->st.notify = st->notify;
	v->present = true;
	pthread_mutex_unlock(&v->lock);
	return 0;
}

/* ---- saved state (section VGID, docs/snapshots.md) ---- */

static void vmgenid_save_state(void *dev, struct enc *e)
{
	struct vmgenid_state st;
	vmgenid_save(dev, &st);
	put_u64(e, st.gpa);
	put_bytes(e, st.id, sizeof(st.id));
	put_u8(e, st.notify);
}

static int vmgenid_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	struct vmgenid *v = dev;
	struct vmgenid_state st = { 0 };
	st.gpa = get_u64(d);
	get_bytes(d, st.id, sizeof(st.id));
	st.notify = get_u8(d);
	int e = dec_end(d, "VM generation ID (VGID)", err, errlen);
	if (e < 0)
		return e;
	if (v->ged && !v->ged->present)
		return error_set(err, errlen, -EINVAL, "snapshot has a VM generation ID and no event device to notify it");
	return vmgenid_restore(v, &st, err, errlen);
}

static void vmgenid_absent(void *dev)
{
	((struct vmgenid *)dev)->present = false;
}

const struct dev_state_ops vmgenid_state_ops = {
	.id = STATE_ID('V', 'G', 'I', 'D'), .version = 1,
	.save = vmgenid_save_state, .load = vmgenid_load_state, .absent = vmgenid_absent,
};
