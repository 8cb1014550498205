/* userfaultfd over guest memory: the guest's (and petrel's, and KVM's) first touch of a page
 * becomes an event another thread answers by copying the page in. Lazy snapshot restore (an
 * external page-fault handler, or petrel's own pager.c) and post-copy migration use it. */
#ifndef PETREL_MEMORY_UFFD_H
#define PETREL_MEMORY_UFFD_H

#include <stddef.h>
#include <stdint.h>

struct guest_mem;

/* A new userfaultfd (close-on-exec, non-blocking) with the API handshake done and
 * UFFD_FEATURE_EVENT_REMOVE asked for (pages the VMM gives back must read as zero later).
 * fd, or -errno. */
int uffd_open(void);
/* Register every region of mem for missing-page faults and mark them lazy (a snapshot then
 * reads each page instead of trusting which ones are present). */
int uffd_register(int uffd, struct guest_mem *mem);
/* Stop faulting on [hva, hva+len): pages still missing read as zero from then on. */
int uffd_unregister(int uffd, void *hva, uint64_t len);
/* Fill [dst, dst+len) (page-aligned, missing pages) from src and wake the waiters.
 * 0, -EEXIST if a page there is present already (*done: bytes copied before it), or -errno. */
int uffd_copy(int uffd, void *dst, const void *src, uint64_t len, uint64_t *done);
/* Map the zero page over [dst, dst+len) (missing pages); the same results. */
int uffd_zero(int uffd, void *dst, uint64_t len, uint64_t *done);
/* Wake threads waiting on [dst, dst+len) (after a page there appeared some other way). */
int uffd_wake(int uffd, void *dst, uint64_t len);
/* Answer a fault with the zero page (uffd_zero's results). Whatever kept a page from going in
 * (present already, or no longer registered: see uffd.c), the threads waiting on the pages not
 * filled are woken, to fault again: an event read is never left unanswered. */
int uffd_zero_wake(int uffd, void *dst, uint64_t len, uint64_t *done);

/* Firecracker's handshake with an external page-fault handler: connect to its Unix socket
 * and send, in one message, a JSON array describing each region (base_host_virt_addr, size,
 * offset in the memory file, page_size and its deprecated twin page_size_kib) with the
 * userfaultfd attached (SCM_RIGHTS). The connected socket (kept open while the VM lives),
 * or -errno with the reason in err. */
int uffd_send_to_handler(const char *sock_path, int uffd, const struct guest_mem *mem, char *err,
			 size_t errlen);

/* Lazy restore of a snapshot into mem (anonymous memory, any Diff pages already written):
 * register it, then hand the userfaultfd to Firecracker's kind of external handler at
 * sock_path, or to petrel's pager serving from the memory file fd (its own copy of fd is
 * kept). Undone by uffd_lazy_end, which guest_mem_free calls. */
int uffd_lazy_external(struct guest_mem *mem, const char *sock_path, char *err, size_t errlen);
int uffd_lazy_pager(struct guest_mem *mem, int fd, char *err, size_t errlen);
void uffd_lazy_end(struct guest_mem *mem);
/* petrel's pager of a lazy restore (NULL: none, or an external handler's). */
struct pager *uffd_lazy_pager_of(const struct guest_mem *mem);

#endif
