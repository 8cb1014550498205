#ifndef PETREL_API_VERSION_H
#define PETREL_API_VERSION_H

/* The version of Firecracker's API petrel implements: the `info.version` of the contract,
 * /work/shared/reference/firecracker-api.yaml (docs/api.md#version). */
#define FC_API_VERSION "1.17.0-dev"

/* What petrel reports where Firecracker reports its own version (`--version`'s first line,
 * GET /version's firecracker_version, GET /'s vmm_version, the first log line): the API
 * version, a semantic version Firecracker's clients parse and compare, with petrel's own
 * version as its build metadata (semver ignores it in comparisons). */
#define FC_COMPAT_VERSION FC_API_VERSION "+petrel." PETREL_VERSION

#endif
