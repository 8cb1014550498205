/* The CFI flash's command state machine, its reads and its saved state (cfi_flash.h says what
 * the guest sees). Written from Intel's command set 0001 as QEMU's pflash_cfi01 models it and
 * OVMF's QemuFlashFvbServicesRuntimeDxe drives it.
 *
 * The state: cmd and wcycle. wcycle 0: no sequence is pending and cmd is what reads return
 * (0x00 the array, 0x70 the status, 0x90 the identifier, 0x98 the CFI table). wcycle 1: cmd
 * (0x10/0x40 program, 0x20 erase, 0x60 lock setup, 0xE8 write to buffer) waits for its second
 * write (the data, the confirm, the lock operation, the count). wcycle 2: write to buffer
 * takes its data; wcycle 3: it waits for its confirm. While a sequence is pending reads return
 * the status. Every guest write does at most one block's work (an erase: 4 KiB), whatever the
 * sequence, so a storm of writes costs the guest's own vCPU time only. */
#include "devices/flash/cfi_flash.h"

#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>

enum {
	CMD_READ_ARRAY = 0x00,
	CMD_PROGRAM = 0x10,
	CMD_ERASE = 0x20,
	CMD_PROGRAM_ALT = 0x40,
	CMD_CLEAR_STATUS = 0x50,
	CMD_LOCK_SETUP = 0x60,
	CMD_READ_STATUS = 0x70,
	CMD_READ_ID = 0x90,
	CMD_CFI_QUERY = 0x98,
	CMD_SUSPEND = 0xb0,
	CMD_CONFIRM = 0xd0,
	CMD_WRITE_BUFFER = 0xe8,
	CMD_AMD_RESET = 0xf0,        /* an AMD-style probe's reset: read array, as QEMU */
	CMD_READ_ARRAY_FF = 0xff,
	LOCK_BLOCK = 0x01,
	LOCK_DOWN = 0x2f,
};

enum {
	ST_PROGRAM_ERR = 0x10,
	ST_ERASE_ERR = 0x20,
	ST_SEQUENCE_ERR = ST_PROGRAM_ERR | ST_ERASE_ERR,
	ST_READY = 0x80,
	ST_ERRORS = ST_SEQUENCE_ERR, /* the error bits this flash ever sets (no Vpp or lock errors) */
};

#define FLASH_MANUFACTURER 0x89 /* Intel */
#define FLASH_DEVICE 0x18
#define FLASH_MAX_BLOCKS 65536u /* the CFI table's erase region counts blocks in 16 bits */
#define WRITE_BUFFER_LOG2 8     /* CFI_FLASH_BUFFER = 1 << 8 */

_Static_assert(CFI_FLASH_BUFFER == 1u << WRITE_BUFFER_LOG2, "the CFI table's buffer size");
_Static_assert(CFI_FLASH_BLOCK % CFI_FLASH_BUFFER == 0, "a write buffer's window stays inside a block");

/* ---- the tables a guest can read ---- */

static uint8_t log2_ceil(uint64_t v)
{
	uint8_t n = 0;
	while (n < 63 && (1ull << n) < v)
		n++;
	return n;
}

/* Byte i of the CFI query table (offsets as an 8-bit device answers them). */
static uint8_t cfi_query_byte(const struct cfi_flash *f, uint8_t i)
{
	uint32_t blocks_1 = (uint32_t)(f->size / CFI_FLASH_BLOCK) - 1;
	switch (i) {
	case 0x10: return 'Q';
	case 0x11: return 'R';
	case 0x12: return 'Y';
	case 0x13: return 0x01;     /* primary command set: Intel/Sharp extended (0001) */
	case 0x15: return 0x31;     /* its extended table at 0x31 */
	case 0x1b: return 0x45;     /* Vcc min 4.5 V */
	case 0x1c: return 0x55;     /* Vcc max 5.5 V */
	case 0x1f: return 0x04;     /* typical byte program: 2^4 us */
	case 0x20: return 0x08;     /* typical buffer program: 2^8 us */
	case 0x21: return 0x0a;     /* typical block erase: 2^10 ms */
	case 0x23: return 0x02;     /* maxima: 2^2 times the typical */
	case 0x24: return 0x02;
	case 0x25: return 0x02;
	case 0x27: return log2_ceil(f->size);      /* device size: 2^n bytes (rounded up) */
	case 0x2a: return WRITE_BUFFER_LOG2;       /* write buffer: 2^n bytes (0x28-0x29: x8 only, 0) */
	case 0x2c: return 1;                       /* one erase block region */
	case 0x2d: return (uint8_t)blocks_1;       /* its blocks - 1 */
	case 0x2e: return (uint8_t)(blocks_1 >> 8);
	case 0x2f: return (uint8_t)(CFI_FLASH_BLOCK / 256);       /* its block size / 256 */
	case 0x30: return (uint8_t)(CFI_FLASH_BLOCK / 256 >> 8);
	case 0x31: return 'P';                     /* the extended table: "PRI" 1.0, no options */
	case 0x32: return 'R';
	case 0x33: return 'I';
	case 0x34: return '1';
	case 0x35: return '0';
	default: return 0;
	}
}

/* Byte i of the identifier space: manufacturer, device, then block lock status (unlocked). */
static uint8_t ident_byte(uint8_t i)
{
	return i == 0 ? FLASH_MANUFACTURER : i == 1 ? FLASH_DEVICE : 0;
}

/* ---- the state machine (under f->lock) ---- */

static void buffer_clear(struct cfi_flash *f)
{
	f->buf_count = f->buf_len = 0;
	f->buf_addr = 0;
	memset(f->buf, 0, sizeof(f->buf));
	memset(f->buf_mask, 0, sizeof(f->buf_mask));
}

static void enter(struct cfi_flash *f, uint8_t mode)
{
	f->cmd = mode;
	f->wcycle = 0;
	if (f->buf_len || f->buf_count)
		buffer_clear(f);
}

/* A command completed: ready, reads show the status. */
static void done(struct cfi_flash *f)
{
	f->status |= ST_READY;
	enter(f, CMD_READ_STATUS);
}

/* A wrong sequence or an address outside the device: error bits, nothing written. */
static void refuse(struct cfi_flash *f, uint8_t bits, uint64_t off, uint8_t value)
{
	log_limited(LOG_WARN, "vars flash: the guest's write of 0x%02x at offset 0x%llx refused (%s; command 0x%02x, "
		    "cycle %u): nothing written", value, (unsigned long long)off,
		    bits == ST_SEQUENCE_ERR ? "a wrong command sequence" : bits == ST_PROGRAM_ERR ? "program" : "erase",
		    f->cmd, f->wcycle);
	f->status |= bits | ST_READY;
	__atomic_add_fetch(&f->refused, 1, __ATOMIC_RELAXED);
	enter(f, CMD_READ_STATUS);
}

static void first_cycle(struct cfi_flash *f, uint64_t off, uint8_t v)
{
	switch (v) {
	case CMD_READ_ARRAY: case CMD_AMD_RESET: case CMD_READ_ARRAY_FF:
		enter(f, CMD_READ_ARRAY);
		return;
	case CMD_CLEAR_STATUS:
		f->status = 0;
		enter(f, CMD_READ_ARRAY);
		return;
	case CMD_READ_STATUS: case CMD_READ_ID: case CMD_CFI_QUERY:
		enter(f, v);
		return;
	case CMD_SUSPEND: case CMD_CONFIRM:
		done(f);
		return;
	case CMD_WRITE_BUFFER:
		f->status |= ST_READY; /* the buffer is free (what an extended status read would say) */
		/* fall through */
	case CMD_PROGRAM: case CMD_PROGRAM_ALT: case CMD_ERASE: case CMD_LOCK_SETUP:
		f->cmd = v;
		f->wcycle = 1;
		return;
	default:
		refuse(f, ST_SEQUENCE_ERR, off, v);
	}
}

static void program(struct cfi_flash *f, uint64_t off, const uint8_t *data, uint32_t len)
{
	if (off >= f->size) {
		refuse(f, ST_PROGRAM_ERR, off, data[0]);
		return;
	}
	size_t n = len < f->size - off ? len : (size_t)(f->size - off);
	memcpy(f->mem + off, data, n);
	__atomic_add_fetch(&f->programs, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&f->bytes_written, n, __ATOMIC_RELAXED);
	done(f);
}

static void erase(struct cfi_flash *f, uint64_t off, uint8_t v)
{
	if (v == CMD_READ_ARRAY_FF) {
		enter(f, CMD_READ_ARRAY);
	} else if (v != CMD_CONFIRM) {
		refuse(f, ST_SEQUENCE_ERR, off, v);
	} else if (off >= f->size) {
		refuse(f, ST_ERASE_ERR, off, v);
	} else {
		memset(f->mem + (off & ~(uint64_t)(CFI_FLASH_BLOCK - 1)), 0xff, CFI_FLASH_BLOCK);
		__atomic_add_fetch(&f->erases, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&f->bytes_written, CFI_FLASH_BLOCK, __ATOMIC_RELAXED);
		done(f);
	}
}

static void lock_setup(struct cfi_flash *f, uint64_t off, uint8_t v)
{
	if (v == CMD_READ_ARRAY_FF)
		enter(f, CMD_READ_ARRAY);
	else if (v == LOCK_BLOCK || v == LOCK_DOWN || v == CMD_CONFIRM)
		done(f);   /* acknowledged: no block is ever locked */
	else
		refuse(f, ST_SEQUENCE_ERR, off, v);
}

static void second_cycle(struct cfi_flash *f, uint64_t off, const uint8_t *data, uint32_t len)
{
	switch (f->cmd) {
	case CMD_PROGRAM: case CMD_PROGRAM_ALT:
		program(f, off, data, len);
		break;
	case CMD_ERASE:
		erase(f, off, data[0]);
		break;
	case CMD_LOCK_SETUP:
		lock_setup(f, off, data[0]);
		break;
	default: /* CMD_WRITE_BUFFER: the count, in bytes less one (8 bits: at most the buffer) */
		f->buf_count = (uint32_t)data[0] + 1;
		f->wcycle = 2;
	}
}

static void buffer_data(struct cfi_flash *f, uint64_t off, const uint8_t *data, uint32_t len)
{
	uint64_t window = f->buf_len ? f->buf_addr : off & ~(uint64_t)(CFI_FLASH_BUFFER - 1);
	if (off >= f->size || len > f->buf_count || off < window || off - window > CFI_FLASH_BUFFER - len) {
		refuse(f, ST_PROGRAM_ERR, off, data[0]);
		return;
	}
	f->buf_addr = window;
	for (uint32_t i = 0, at = (uint32_t)(off - window); i < len; i++, at++) {
		f->buf[at] = data[i];
		f->buf_mask[at / 8] |= (uint8_t)(1u << at % 8);
	}
	f->buf_len += len;
	f->buf_count -= len;
	if (!f->buf_count)
		f->wcycle = 3;
}

static void buffer_confirm(struct cfi_flash *f, uint64_t off, uint8_t v)
{
	if (v != CMD_CONFIRM) {
		refuse(f, ST_SEQUENCE_ERR, off, v);
		return;
	}
	uint32_t n = 0;
	for (uint32_t i = 0; i < CFI_FLASH_BUFFER; i++)
		if (f->buf_mask[i / 8] & 1u << i % 8) {
			f->mem[f->buf_addr + i] = f->buf[i];
			n++;
		}
	__atomic_add_fetch(&f->programs, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&f->bytes_written, n, __ATOMIC_RELAXED);
	done(f);
}

static void write_locked(struct cfi_flash *f, uint64_t off, const uint8_t *data, uint32_t len)
{
	if (f->wcycle == 0)
		first_cycle(f, off, data[0]);
	else if (f->wcycle == 1)
		second_cycle(f, off, data, len);
	else if (f->wcycle == 2)
		buffer_data(f, off, data, len);
	else
		buffer_confirm(f, off, data[0]);
}

static uint8_t read_byte(const struct cfi_flash *f, uint64_t off, uint32_t i)
{
	if (f->wcycle)
		return f->status;
	switch (f->cmd) {
	case CMD_READ_ARRAY:
		return off < f->size && i < f->size - off ? f->mem[off + i] : 0xff;
	case CMD_READ_ID:
		return ident_byte((uint8_t)(off + i));
	case CMD_CFI_QUERY:
		return cfi_query_byte(f, (uint8_t)(off + i));
	default:
		return f->status;
	}
}

/* ---- the verbs ---- */

/* Release f->lock after a change of state, telling the machine if read-array mode was entered
 * or left (the order: cfi_flash.h). */
static void unlock_notify(struct cfi_flash *f)
{
	bool on = f->cmd == CMD_READ_ARRAY && f->wcycle == 0;
	if (on == f->array) {
		pthread_mutex_unlock(&f->lock);
		return;
	}
	f->array = on;
	pthread_mutex_lock(&f->notify_lock);
	pthread_mutex_unlock(&f->lock);
	if (f->array_mode)
		f->array_mode(f->opaque, on);
	pthread_mutex_unlock(&f->notify_lock);
}

int cfi_flash_init(struct cfi_flash *f, uint8_t *mem, size_t size, void (*array_mode)(void *, bool), void *opaque)
{
	if (!mem || !size || size % CFI_FLASH_BLOCK || size / CFI_FLASH_BLOCK > FLASH_MAX_BLOCKS)
		return -EINVAL;
	int e = pthread_mutex_init(&f->lock, NULL);
	if (e)
		return -e;
	if ((e = pthread_mutex_init(&f->notify_lock, NULL))) {
		pthread_mutex_destroy(&f->lock);
		return -e;
	}
	f->mem = mem;
	f->size = size;
	f->array_mode = array_mode;
	f->opaque = opaque;
	f->cmd = CMD_READ_ARRAY;
	f->wcycle = 0;
	f->array = true;
	f->status = ST_READY;
	buffer_clear(f);
	f->programs = f->erases = f->refused = f->bytes_written = 0;
	return 0;
}

void cfi_flash_counts(struct cfi_flash *f, struct cfi_flash_counts *out)
{
	out->programs = __atomic_load_n(&f->programs, __ATOMIC_RELAXED);
	out->erases = __atomic_load_n(&f->erases, __ATOMIC_RELAXED);
	out->bytes_written = __atomic_load_n(&f->bytes_written, __ATOMIC_RELAXED);
	out->refused = __atomic_load_n(&f->refused, __ATOMIC_RELAXED);
}

void cfi_flash_destroy(struct cfi_flash *f)
{
	if (!f->mem)
		return;
	pthread_mutex_destroy(&f->notify_lock);
	pthread_mutex_destroy(&f->lock);
	f->mem = NULL;
}

void cfi_flash_reset(struct cfi_flash *f)
{
	pthread_mutex_lock(&f->lock);
	f->status = ST_READY;
	enter(f, CMD_READ_ARRAY);
	unlock_notify(f);
}

bool cfi_flash_in_array_mode(struct cfi_flash *f)
{
	pthread_mutex_lock(&f->lock);
	bool on = f->array;
	pthread_mutex_unlock(&f->lock);
	return on;
}

void cfi_flash_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct cfi_flash *f = opaque;
	pthread_mutex_lock(&f->lock);
	for (uint32_t i = 0; i < len; i++)
		data[i] = read_byte(f, off, i);
	pthread_mutex_unlock(&f->lock);
}

void cfi_flash_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct cfi_flash *f = opaque;
	if (!len)
		return;
	pthread_mutex_lock(&f->lock);
	write_locked(f, off, data, len);
	unlock_notify(f);
}

/* ---- saved state (section FLSH, docs/snapshots.md) ---- */

struct flash_saved {
	uint64_t size;
	uint8_t cmd, status, wcycle;
	uint32_t buf_count, buf_len;
	uint64_t buf_addr;
	uint8_t buf[CFI_FLASH_BUFFER], buf_mask[CFI_FLASH_BUFFER / 8];
};

static void flash_save(void *dev, struct enc *e)
{
	struct cfi_flash *f = dev;
	pthread_mutex_lock(&f->lock);
	put_u64(e, f->size);
	put_u8(e, f->cmd);
	put_u8(e, f->status);
	put_u8(e, f->wcycle);
	put_u32(e, f->buf_count);
	put_u32(e, f->buf_len);
	put_u64(e, f->buf_addr);
	put_bytes(e, f->buf, sizeof(f->buf));
	put_bytes(e, f->buf_mask, sizeof(f->buf_mask));
	put_bytes(e, f->mem, f->size);
	pthread_mutex_unlock(&f->lock);
}

static bool mask_empty(const uint8_t *mask)
{
	for (unsigned i = 0; i < CFI_FLASH_BUFFER / 8; i++)
		if (mask[i])
			return false;
	return true;
}

/* Whether (cmd, wcycle) and the write buffer are a state the machine above can reach. */
static const char *saved_state_bad(const struct cfi_flash *f, const struct flash_saved *s)
{
	if (s->status & ~(ST_READY | ST_ERRORS))
		return "status bits the device has not";
	bool buffering = s->cmd == CMD_WRITE_BUFFER && s->wcycle >= 2;
	switch (s->wcycle) {
	case 0:
		if (s->cmd != CMD_READ_ARRAY && s->cmd != CMD_READ_STATUS && s->cmd != CMD_READ_ID &&
		    s->cmd != CMD_CFI_QUERY)
			return "an unknown read mode";
		break;
	case 1:
		if (s->cmd != CMD_PROGRAM && s->cmd != CMD_PROGRAM_ALT && s->cmd != CMD_ERASE &&
		    s->cmd != CMD_LOCK_SETUP && s->cmd != CMD_WRITE_BUFFER)
			return "an unknown command awaiting its second write";
		break;
	case 2: case 3:
		if (!buffering)
			return "a write-buffer cycle without a write to buffer";
		break;
	default:
		return "a write cycle past 3";
	}
	if (!buffering)
		return s->buf_count || s->buf_len || s->buf_addr || !mask_empty(s->buf_mask) ? "a write buffer outside a write to buffer" : NULL;
	if (s->buf_count > CFI_FLASH_BUFFER || s->buf_len > CFI_FLASH_BUFFER - s->buf_count)
		return "more buffered bytes than the buffer holds";
	if ((s->wcycle == 2) != (s->buf_count > 0))
		return "a byte count that does not match the cycle";
	if ((s->buf_len > 0) == mask_empty(s->buf_mask))
		return "a buffer mask that does not match its byte count";
	if (s->buf_addr % CFI_FLASH_BUFFER || s->buf_addr >= f->size || (!s->buf_len && s->buf_addr))
		return "a buffer window outside the device";
	return NULL;
}

static int flash_load(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	struct cfi_flash *f = dev;
	struct flash_saved s;
	s.size = get_u64(d);
	s.cmd = get_u8(d);
	s.status = get_u8(d);
	s.wcycle = get_u8(d);
	s.buf_count = get_u32(d);
	s.buf_len = get_u32(d);
	s.buf_addr = get_u64(d);
	get_bytes(d, s.buf, sizeof(s.buf));
	get_bytes(d, s.buf_mask, sizeof(s.buf_mask));
	if (!d->err && s.size != f->size)
		return error_set(err, errlen, -EINVAL, "FLSH: saved flash of %llu bytes, this one has %zu",
				 (unsigned long long)s.size, f->size);
	/* the contents are read in place: they are copied only once everything was checked */
	const uint8_t *contents = dec_left(d) >= f->size ? d->p + d->off : NULL;
	if (contents)
		d->off += f->size;
	else if (!d->err)
		d->err = -EINVAL;
	int e = dec_end(d, "FLSH", err, errlen);
	if (e < 0)
		return e;
	const char *bad = saved_state_bad(f, &s);
	if (bad)
		return error_set(err, errlen, -EINVAL, "FLSH: %s (command 0x%02x, cycle %u)", bad, s.cmd, s.wcycle);
	pthread_mutex_lock(&f->lock);
	f->cmd = s.cmd;
	f->status = s.status;
	f->wcycle = s.wcycle;
	f->buf_count = s.buf_count;
	f->buf_len = s.buf_len;
	f->buf_addr = s.buf_addr;
	memcpy(f->buf, s.buf, sizeof(f->buf));
	memcpy(f->buf_mask, s.buf_mask, sizeof(f->buf_mask));
	memcpy(f->mem, contents, f->size);
	unlock_notify(f);
	return 0;
}

const struct dev_state_ops cfi_flash_state_ops = {
	.id = STATE_ID('F', 'L', 'S', 'H'), .version = 1,
	.save = flash_save, .load = flash_load,
};
