/* libFuzzer target: the virtqueue parser (virtq_pop and friends) over guest memory the fuzzer
 * writes. Input: byte 0 = feature flags (bit 0 indirect, bit 1 event idx, bit 2 dirty logging:
 * virtq_push walks the chain again to mark it; bit 3 the guest rewrites the descriptor table
 * between each pop and its push, as a hostile driver may), byte 1 = queue
 * size exponent, bytes 2.. = guest RAM from address 0 (descriptor table at 0, avail ring at
 * 0x1000, used ring at 0x2000, buffers anywhere). Every chain virtq_pop returns must lie
 * inside guest RAM and respect the documented limits; nothing may crash or hang. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "devices/virtio/virtq.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

#define RAM (1u << 16)

static struct virtq_chain chain;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guest_mem *mem = fuzz_guest_mem(RAM);
	uint8_t *ram = mem->regions[0].hva;
	if (size < 2)
		return 0;
	memset(ram, 0, RAM);
	memcpy(ram, data + 2, size - 2 < RAM ? size - 2 : RAM);

	struct virtq_state st = { 0 };
	st.max_size = 256;
	st.size = (uint16_t)(1u << (data[1] % 9));
	st.desc_gpa = 0;
	st.avail_gpa = 0x1000;
	st.used_gpa = 0x2000;
	st.indirect = data[0] & 1;
	st.event_idx = data[0] & 2;
	static uint64_t dirty[(RAM / 4096 + 63) / 64];
	memset(dirty, 0, sizeof(dirty));
	mem->dirty_log = data[0] & 4;
	mem->regions[0].dirty = dirty;
	struct virtq q;
	if (virtq_enable(&q, &st, mem) < 0)
		return 0;
	for (int n = 0; n < 300; n++) {
		enum virtq_error e;
		int r = virtq_pop(&q, &chain, &e);
		FUZZ_CHECK(r == 0 || r == 1 || (r == -EINVAL && e != VIRTQ_OK));
		if (r <= 0)
			break;
		FUZZ_CHECK(chain.head < st.size);
		FUZZ_CHECK(chain.n_out + chain.n_in <= VIRTQ_MAX_CHAIN);
		uint64_t total = 0;
		for (unsigned i = 0; i < chain.n_out + chain.n_in; i++) {
			const struct iovec *v = &chain.iov[i];
			total += v->iov_len;
			if (!v->iov_len)
				continue;
			FUZZ_CHECK((uint8_t *)v->iov_base >= ram);
			FUZZ_CHECK((uint8_t *)v->iov_base + v->iov_len <= ram + RAM);
		}
		FUZZ_CHECK(total == chain.out_len + chain.in_len && total <= UINT32_MAX);
		uint8_t tmp[64];
		virtq_chain_read(&chain, 0, tmp, sizeof(tmp));
		virtq_chain_write(&chain, chain.in_len > 8 ? chain.in_len - 8 : 0, tmp, 8);
		if (data[0] & 8) /* the chain changes under the device: every field, any value */
			for (unsigned i = 0; i < 16u * st.size; i++)
				ram[i] = (uint8_t)(ram[i] * 31 + n + 7);
		virtq_push(&q, chain.head, (uint32_t)chain.in_len);
		virtq_should_notify(&q);
	}
	virtq_enable_notify(&q);
	mem->dirty_log = false;
	return 0;
}
