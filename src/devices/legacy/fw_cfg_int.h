/* Between fw_cfg's items and ports (fw_cfg.c) and its DMA interface (fw_cfg_dma.c). */
#ifndef PETREL_DEVICES_LEGACY_FW_CFG_INT_H
#define PETREL_DEVICES_LEGACY_FW_CFG_INT_H

#include "devices/legacy/fw_cfg.h"

/* The item key names (files by their place, numbered items by search), NULL for none. Lock held. */
struct fw_cfg_item *fw_cfg_item(struct fw_cfg *c, uint16_t key);
/* The guest selects key (bit 14 dropped; no such item: FW_CFG_INVALID), offset 0; then the
 * select hook runs, without the lock. Lock not held. */
void fw_cfg_select(struct fw_cfg *c, uint16_t key);
/* The guest wrote the DMA address's low half: run the transfer its descriptor asks for. Lock
 * not held. */
void fw_cfg_dma_start(struct fw_cfg *c, uint32_t low);

static inline uint64_t fw_cfg_be_load(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static inline void fw_cfg_be_store(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = n; i-- > 0; v >>= 8)
		p[i] = (uint8_t)v;
}

#endif
