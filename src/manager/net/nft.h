/* nftables through libnftables (Debian's libnftables1): petreld's networks (their NAT and
 * isolation, net/) and the guards on VMs' taps (guards.c) hand the kernel whole rulesets in
 * nft's language, built from values their parsers checked, and read counters back as JSON. One
 * libnftables context per call: callers may run on any thread. */
#ifndef PETREL_MANAGER_NET_NFT_H
#define PETREL_MANAGER_NET_NFT_H

#include <jansson.h>
#include <stddef.h>

/* Run nft commands (one or more lines, applied as one transaction: all or nothing). 0, or
 * -EINVAL with nft's own message in err (which names the failing line). */
int nft_run(const char *cmds, char *err, size_t errlen);

/* Run a listing command (e.g. "list table bridge petrel-guard-tap0") and give its JSON output
 * (owned by the caller). -ENOENT when the object does not exist, -EINVAL on another error. */
int nft_list_json(const char *cmd, json_t **out, char *err, size_t errlen);

#endif
