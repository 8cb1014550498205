/* A network's DHCP leases as dnsmasq writes them (its `dhcp-leasefile`): one IPv4 lease a line,
 * `EXPIRY MAC IP HOSTNAME CLIENTID`. The host names come from the guests' DHCP requests: the file
 * is read as untrusted input (fuzzed: tests/fuzz/fuzz_leases.c). */
#ifndef PETREL_MANAGER_NET_LEASES_H
#define PETREL_MANAGER_NET_LEASES_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

struct lease {
	int64_t expiry;          /* seconds since the epoch; 0: never expires */
	uint8_t mac[6];
	struct in_addr ip;
	char hostname[64];       /* 1..63 of [A-Za-z0-9-], or "" (none, or one that was not that) */
};

/* The most leases read from one file (the rest are left out) and the longest line read (a longer
 * one is skipped). */
#define LEASES_MAX 4096
#define LEASES_LINE_MAX 1024

/* Parse a lease file's text (len bytes; NULs are not special). Lines that are not an IPv4 lease on
 * Ethernet (dnsmasq's `duid` line and IPv6 leases, other hardware types, a damaged line) are
 * skipped; the first LEASES_MAX leases are kept. *out: a malloc'd array of *n leases (NULL when
 * none), freed by the caller. 0, or -ENOMEM. */
int leases_parse(const char *text, size_t len, struct lease **out, size_t *n, char *err, size_t errlen);

/* leases_parse of the file at path, of which at most LEASES_MAX * LEASES_LINE_MAX bytes (its
 * start) are read. A file that is not there has no leases (0). 0, or -errno with the reason. */
int leases_read_file(const char *path, struct lease **out, size_t *n, char *err, size_t errlen);

#endif
