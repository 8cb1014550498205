/* QEMU's firmware configuration device (fw_cfg, QEMU docs/specs/fw_cfg.rst) as SeaBIOS drives
 * it: named and numbered items (the memory map, the ACPI tables and their loader commands,
 * SMBIOS, the boot order, the CPU count) the firmware reads through a selector and a data port
 * or the DMA interface. docs/firmware.md#fw_cfg describes the guest's side.
 *
 * Ports (FW_CFG_PORT + offset): 0 selector (16-bit little-endian write; bit 14, the old write
 * channel, is dropped), 1 data (8-bit reads give the next byte of the selected item, 0 past its
 * end; writes are ignored), 4 and 8 the DMA address's big-endian halves (a 32-bit write at 4
 * latches the high half, one at 8 the low half and starts the transfer; reads give "QEMU CFG").
 *
 * The items are the machine's (trusted); everything the guest writes is not: a DMA descriptor
 * or buffer that is not guest RAM, a length past the item, a selector of no item, a write
 * request, odd-sized or overlapping port accesses are refused or answered with zeros, and the
 * device never touches memory outside guest RAM. */
#ifndef PETREL_DEVICES_LEGACY_FW_CFG_H
#define PETREL_DEVICES_LEGACY_FW_CFG_H

#include <pthread.h>
#include <stdint.h>

#define FW_CFG_PORT 0x510
#define FW_CFG_PORT_LEN 12      /* 0x510..0x51b: selector (2), data (+1), DMA address (+4, +8) */

/* Numbered items (keys). */
enum {
	FW_CFG_SIGNATURE = 0x00,  /* "QEMU" */
	FW_CFG_ID = 0x01,         /* le32 feature bits: FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA */
	FW_CFG_UUID = 0x02,
	FW_CFG_RAM_SIZE = 0x03,
	FW_CFG_NOGRAPHIC = 0x04,
	FW_CFG_NB_CPUS = 0x05,
	FW_CFG_BOOT_MENU = 0x0e,
	FW_CFG_MAX_CPUS = 0x0f,
	FW_CFG_FILE_DIR = 0x19,   /* the file directory: be32 count, then struct fw_cfg_dir_entry each */
	FW_CFG_FILE_FIRST = 0x20, /* files get FW_CFG_FILE_FIRST + their place in the directory */
};
#define FW_CFG_WRITE_CHANNEL 0x4000 /* selector bit 14: dropped (no item is writable) */
#define FW_CFG_ARCH_LOCAL 0x8000    /* selector bit 15: architecture-specific keys */
#define FW_CFG_INVALID 0xffff       /* the selector when the guest selected no item */

#define FW_CFG_ID_TRADITIONAL 0x1
#define FW_CFG_ID_DMA 0x2
#define FW_CFG_DMA_SIGNATURE "QEMU CFG" /* what the DMA address register reads, byte by byte */

/* FWCfgDmaAccess: be32 control, be32 length, be64 address; control's bits: */
#define FW_CFG_DMA_SIZE 16
#define FW_CFG_DMA_CTL_ERROR 0x01
#define FW_CFG_DMA_CTL_READ 0x02
#define FW_CFG_DMA_CTL_SKIP 0x04
#define FW_CFG_DMA_CTL_SELECT 0x08 /* the key in bits 16..31 */
#define FW_CFG_DMA_CTL_WRITE 0x10

#define FW_CFG_NAME_MAX 56   /* a file's name with its NUL: at most 55 characters */
#define FW_CFG_DIR_ENTRY 64  /* be32 size, be16 select, be16 reserved, char name[56] */
#define FW_CFG_MAX_FILES 64
#define FW_CFG_MAX_KEYS 32   /* numbered items, signature, ID and directory included */

struct fw_cfg_item {
	uint8_t *data;       /* len bytes (NULL if 0); the directory's is fw_cfg.dir */
	uint32_t len;
	uint16_t key;
	char name[FW_CFG_NAME_MAX]; /* files only, else "" */
};

/* The guest-visible state (section FWCF). */
struct fw_cfg_state {
	uint16_t sel;        /* the selected item's key (bit 14 dropped), FW_CFG_INVALID if none */
	uint32_t off;        /* the next byte to read of it, at most its length */
	uint32_t dma_high;   /* the DMA address's high half written at +4; 0 after each transfer */
};

struct guest_mem;

struct fw_cfg {
	pthread_mutex_t lock;  /* guards everything below but mem and the hook (set before the VM runs) */
	struct fw_cfg_state st;
	struct guest_mem *mem;
	struct fw_cfg_item keys[FW_CFG_MAX_KEYS];   /* numbered items in the order added */
	unsigned nkeys;
	struct fw_cfg_item files[FW_CFG_MAX_FILES]; /* sorted by name: key FW_CFG_FILE_FIRST + index */
	unsigned nfiles;
	uint8_t dir[4 + FW_CFG_DIR_ENTRY * FW_CFG_MAX_FILES]; /* FW_CFG_FILE_DIR's bytes */
	void (*hook)(void *opaque, uint16_t key, const char *name);
	void *hook_opaque;
};

/* Signature "QEMU", ID = traditional | DMA, an empty directory; selector 0. 0 or -errno. */
int  fw_cfg_init(struct fw_cfg *c, struct guest_mem *mem);
void fw_cfg_destroy(struct fw_cfg *c);
/* A numbered item (a copy of data): -EINVAL for a key in the files' range or with bit 14,
 * -EEXIST if it exists (signature, ID and directory always do), -ENOSPC, -ENOMEM. */
int  fw_cfg_add_key(struct fw_cfg *c, uint16_t key, const void *data, uint32_t len);
/* A named item (a copy of data), placed in the directory by name (the files after it move one
 * key up: add files before the guest runs). -EEXIST, -ENOSPC, -ENAMETOOLONG (more than 55
 * characters), -EINVAL (empty name), -ENOMEM. */
int  fw_cfg_add_file(struct fw_cfg *c, const char *name, const void *data, uint32_t len);
/* Replace a file's bytes (its size may change; the directory follows). -ENOENT, -ENOMEM. */
int  fw_cfg_set_file(struct fw_cfg *c, const char *name, const void *data, uint32_t len);
/* hook called (without the device lock) when the guest selects a key, before it reads: lets the
 * machine rebuild ACPI tables the way QEMU does (after the firmware programmed PMBA). name is
 * the file's name, NULL for a numbered item; not called for a key that names no item. The hook
 * may call fw_cfg_set_file. */
void fw_cfg_set_select_hook(struct fw_cfg *c, void (*hook)(void *opaque, uint16_t key, const char *name),
			    void *opaque);
/* On the pio bus at FW_CFG_PORT, FW_CFG_PORT_LEN ports. */
void fw_cfg_io_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
void fw_cfg_io_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);
/* The machine's reset: selector 0, offset 0, DMA latch 0. */
void fw_cfg_reset(struct fw_cfg *c);

/* Its saved state (section FWCF): devices/dev_state.h, docs/snapshots.md. */
struct dev_state_ops;
extern const struct dev_state_ops fw_cfg_state_ops;

#endif
