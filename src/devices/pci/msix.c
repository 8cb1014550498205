#include "devices/pci/msix.h"
#include "kvm/kvm_irq.h"
#include "util/error.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

int msix_init(struct msix *m, struct pci_device *pdev, unsigned nvec, int bar, uint32_t table_off,
	      uint32_t pba_off, struct kvm *kvm, struct kvm_routes *routes)
{
	memset(m, 0, sizeof(*m));
	for (unsigned i = 0; i < MSIX_MAX_VECTORS; i++)
		m->irqfd[i] = -1;
	if (nvec == 0 || nvec > MSIX_MAX_VECTORS)
		return -EINVAL;
	m->nvec = nvec;
	m->pdev = pdev;
	m->kvm = kvm;
	m->routes = routes;
	m->cap = pci_add_capability(pdev, PCI_CAP_ID_MSIX, 12);
	if (!m->cap)
		return -ENOSPC;
	uint8_t *c = pdev->st.cfg;
	pci_put(c, m->cap + 2, nvec - 1, 2);
	pci_put(c, m->cap + 4, table_off | (uint32_t)bar, 4);
	pci_put(c, m->cap + 8, pba_off | (uint32_t)bar, 4);
	pci_put(pdev->wmask, m->cap + 2, MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL, 2);
	for (unsigned i = 0; i < nvec; i++) {
		m->st.table[i].ctrl = MSIX_VECTOR_MASKED;
		if (!kvm)
			continue;
		int err = kvm_routes_alloc_msi(routes, &m->gsi[i]);
		if (err < 0)
			return err;
		m->irqfd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (m->irqfd[i] < 0)
			return -errno;
		err = kvm_irqfd(kvm, m->irqfd[i], m->gsi[i], true);
		if (err < 0)
			return err;
	}
	return 0;
}

void msix_destroy(struct msix *m)
{
	for (unsigned i = 0; i < MSIX_MAX_VECTORS; i++) {
		if (m->irqfd[i] < 0)
			continue;
		if (m->kvm)
			kvm_irqfd(m->kvm, m->irqfd[i], m->gsi[i], false);
		close(m->irqfd[i]);
		m->irqfd[i] = -1;
	}
}

bool msix_enabled(const struct msix *m)
{
	return m->st.enabled;
}

static bool vector_masked(const struct msix *m, unsigned v)
{
	return !m->st.enabled || m->st.masked || (m->st.table[v].ctrl & MSIX_VECTOR_MASKED);
}

static void fire(struct msix *m, unsigned v)
{
	m->fired++;
	if (m->irqfd[v] >= 0) {
		uint64_t one = 1;
		if (write(m->irqfd[v], &one, sizeof(one)) < 0)
			log_warn("%s: MSI-X vector %u: %s", m->pdev->name, v, strerror(errno));
	}
}

/* Point the vector's GSI at its current message while it can fire; deliver what is pending. */
static void sync_vector(struct msix *m, unsigned v)
{
	bool live = !vector_masked(m, v);
	if (live && m->routes) {
		int err = kvm_routes_set_msi(m->routes, m->gsi[v], true, m->st.table[v].addr_lo,
					     m->st.table[v].addr_hi, m->st.table[v].data);
		m->routed[v] = err == 0;
	}
	if (live && (m->st.pba & (1ull << v))) {
		m->st.pba &= ~(1ull << v);
		fire(m, v);
	}
}

int msix_restore(struct msix *m, const struct msix_state *st, char *err, size_t errlen)
{
	/* a masked byte of 8 was undefined behaviour at the first vector_masked (fuzz_device_state):
	 * optimised code may take it as true in msix_enabled and as false in vector_masked */
	if (!saved_bool_ok(&st->enabled) || !saved_bool_ok(&st->masked))
		return error_set(err, errlen, -EINVAL, "%s: saved MSI-X enable or function mask flag is neither 0 nor 1",
			 m->pdev->name);
	/* the two bits are also in the control word of the configuration space restored just
	 * before: apart, the guest would read MSI-X on while the device raised INTx, or back */
	uint16_t ctrl = (uint16_t)pci_get(m->pdev->st.cfg, m->cap + 2u, 2);
	if (st->enabled != !!(ctrl & MSIX_CTRL_ENABLE) || st->masked != !!(ctrl & MSIX_CTRL_MASKALL))
		return error_set(err, errlen, -EINVAL, "%s: saved MSI-X state and configuration space disagree on enable or mask",
			 m->pdev->name);
	uint64_t have = m->nvec >= 64 ? ~0ull : (1ull << m->nvec) - 1;
	if (st->pba & ~have)
		return error_set(err, errlen, -EINVAL, "%s: saved MSI-X state has pending vectors beyond its %u", m->pdev->name,
			 m->nvec);
	for (unsigned v = m->nvec; v < MSIX_MAX_VECTORS; v++)
		if (st->table[v].addr_lo || st->table[v].addr_hi || st->table[v].data || st->table[v].ctrl)
			return error_set(err, errlen, -EINVAL, "%s: saved MSI-X table has vector %u of %u", m->pdev->name, v, m->nvec);
	m->st = *st;
	for (unsigned v = 0; v < m->nvec; v++) {
		m->st.table[v].ctrl &= MSIX_VECTOR_MASKED;
		m->routed[v] = false;
		sync_vector(m, v);
	}
	return 0;
}

void msix_reset(struct msix *m)
{
	memset(&m->st, 0, sizeof(m->st));
	for (unsigned v = 0; v < m->nvec; v++) {
		m->st.table[v].ctrl = MSIX_VECTOR_MASKED;
		m->routed[v] = false;
	}
}

void msix_notify(struct msix *m, unsigned v)
{
	if (v >= m->nvec)
		return;
	if (vector_masked(m, v)) {
		m->st.pba |= 1ull << v;
		m->latched++;
		return;
	}
	if (!m->routed[v])
		sync_vector(m, v);
	fire(m, v);
}

void msix_table_read(struct msix *m, uint64_t off, uint8_t *data, uint32_t len)
{
	uint8_t buf[MSIX_MAX_VECTORS * MSIX_ENTRY_SIZE];
	for (unsigned i = 0; i < m->nvec; i++) {
		pci_put(buf, i * 16, m->st.table[i].addr_lo, 4);
		pci_put(buf, i * 16 + 4, m->st.table[i].addr_hi, 4);
		pci_put(buf, i * 16 + 8, m->st.table[i].data, 4);
		pci_put(buf, i * 16 + 12, m->st.table[i].ctrl, 4);
	}
	uint64_t size = (uint64_t)m->nvec * MSIX_ENTRY_SIZE;
	for (uint32_t i = 0; i < len; i++)
		data[i] = off + i < size ? buf[off + i] : 0;
}

void msix_table_write(struct msix *m, uint64_t off, const uint8_t *data, uint32_t len)
{
	uint64_t size = (uint64_t)m->nvec * MSIX_ENTRY_SIZE;
	if (off >= size || len > size - off || (len != 4 && len != 8))
		return;
	for (uint32_t done = 0; done < len; done += 4) {
		uint64_t o = off + done;
		unsigned v = (unsigned)(o / 16), field = (unsigned)(o % 16) / 4;
		uint32_t val = pci_get(data, done, 4);
		bool was_masked = vector_masked(m, v);
		switch (field) {
		case 0: m->st.table[v].addr_lo = val; break;
		case 1: m->st.table[v].addr_hi = val; break;
		case 2: m->st.table[v].data = val; break;
		case 3: m->st.table[v].ctrl = val & MSIX_VECTOR_MASKED; break;
		}
		/* A new message for a live vector, or a vector just unmasked: update the route. */
		if (!vector_masked(m, v) && (field < 3 || was_masked))
			sync_vector(m, v);
		else if (field < 3)
			m->routed[v] = false;
	}
}

void msix_pba_read(struct msix *m, uint64_t off, uint8_t *data, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		data[i] = off + i < 8 ? (uint8_t)(m->st.pba >> (8 * (off + i))) : 0;
}

void msix_config_written(struct msix *m, uint32_t off, uint32_t len)
{
	uint32_t ctrl_off = m->cap + 2u;
	if (off + len <= ctrl_off || off >= ctrl_off + 2)
		return;
	uint16_t ctrl = (uint16_t)pci_get(m->pdev->st.cfg, ctrl_off, 2);
	bool was_enabled = m->st.enabled, was_masked = m->st.masked;
	m->st.enabled = ctrl & MSIX_CTRL_ENABLE;
	m->st.masked = ctrl & MSIX_CTRL_MASKALL;
	if (m->st.enabled != was_enabled || m->st.masked != was_masked)
		for (unsigned v = 0; v < m->nvec; v++)
			sync_vector(m, v);
}
