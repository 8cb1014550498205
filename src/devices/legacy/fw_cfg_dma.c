/* fw_cfg's DMA interface: the guest writes the guest-physical address of an FWCfgDmaAccess
 * descriptor (be32 control, be32 length, be64 address) to the DMA address register; the device
 * selects, reads or skips as control says and writes control back: 0 when done, the error bit
 * when refused. The descriptor and the buffer must be guest RAM (guest_mem_ptr), nothing else
 * is touched; a descriptor that is not RAM is ignored (there is nowhere to report to). */
#include "devices/legacy/fw_cfg.h"
#include "devices/legacy/fw_cfg_int.h"
#include "memory/guest_mem.h"
#include "util/log.h"

#include <stdbool.h>
#include <string.h>

/* Read len bytes of the selected item into guest RAM at gpa, zeros past its end (as QEMU).
 * false if the buffer is not all guest RAM (nothing written then). */
static bool dma_read(struct fw_cfg *c, uint64_t gpa, uint32_t len)
{
	if (!len)
		return true;
	uint8_t *buf = guest_mem_ptr(c->mem, gpa, len);
	if (!buf) {
		log_limited(LOG_WARN, "fw_cfg: DMA read of %u bytes to 0x%llx is not guest RAM: refused", len,
			    (unsigned long long)gpa);
		return false;
	}
	pthread_mutex_lock(&c->lock);
	struct fw_cfg_item *it = fw_cfg_item(c, c->st.sel);
	uint32_t n = 0;
	if (it && c->st.off < it->len) {
		n = it->len - c->st.off < len ? it->len - c->st.off : len;
		memcpy(buf, it->data + c->st.off, n);
		c->st.off += n;
	}
	memset(buf + n, 0, len - n);
	pthread_mutex_unlock(&c->lock);
	guest_mem_mark_dirty(c->mem, gpa, len);
	return true;
}

/* Skip len bytes of the selected item (the offset stops at its end: past it, all reads are 0). */
static void dma_skip(struct fw_cfg *c, uint32_t len)
{
	pthread_mutex_lock(&c->lock);
	struct fw_cfg_item *it = fw_cfg_item(c, c->st.sel);
	if (it)
		c->st.off = it->len - c->st.off < len ? it->len : c->st.off + len;
	pthread_mutex_unlock(&c->lock);
}

void fw_cfg_dma_start(struct fw_cfg *c, uint32_t low)
{
	pthread_mutex_lock(&c->lock);
	uint64_t gpa = (uint64_t)c->st.dma_high << 32 | low;
	c->st.dma_high = 0; /* the register reads 0 after an operation */
	pthread_mutex_unlock(&c->lock);

	uint8_t *desc = guest_mem_ptr(c->mem, gpa, FW_CFG_DMA_SIZE);
	if (!desc) {
		log_limited(LOG_WARN, "fw_cfg: DMA descriptor at 0x%llx is not guest RAM: ignored",
			    (unsigned long long)gpa);
		return;
	}
	/* read once: the guest may change it while we work */
	uint8_t d[FW_CFG_DMA_SIZE];
	memcpy(d, desc, sizeof(d));
	__atomic_signal_fence(__ATOMIC_SEQ_CST); /* a compiler barrier: d is not read from desc again */
	uint32_t control = (uint32_t)fw_cfg_be_load(d, 4);
	uint32_t len = (uint32_t)fw_cfg_be_load(d + 4, 4);
	uint64_t addr = fw_cfg_be_load(d + 8, 8);

	bool ok = true;
	if (control & FW_CFG_DMA_CTL_SELECT)
		fw_cfg_select(c, (uint16_t)(control >> 16));
	if (control & FW_CFG_DMA_CTL_READ) {
		ok = dma_read(c, addr, len);
	} else if (control & FW_CFG_DMA_CTL_WRITE) {
		log_limited(LOG_WARN, "fw_cfg: DMA write of %u bytes refused: no item is writable", len);
		ok = false;
	} else if (control & FW_CFG_DMA_CTL_SKIP) {
		dma_skip(c, len);
	}

	/* the data before the status the guest polls */
	uint8_t done[4];
	fw_cfg_be_store(done, ok ? 0 : FW_CFG_DMA_CTL_ERROR, 4);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(desc, done, sizeof(done));
	guest_mem_mark_dirty(c->mem, gpa, sizeof(done));
}
