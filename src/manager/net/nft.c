/* nftables through libnftables (nft.h). */
#include "manager/net/nft.h"

#include "util/error.h"

#include <errno.h>
#include <nftables/libnftables.h>
#include <stdbool.h>
#include <string.h>

/* A context that buffers nft's output and errors; NULL when libnftables cannot make one. */
static struct nft_ctx *nft_open(bool json)
{
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx)
		return NULL;
	if (nft_ctx_buffer_output(ctx) || nft_ctx_buffer_error(ctx)) {
		nft_ctx_free(ctx);
		return NULL;
	}
	if (json)
		nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON);
	return ctx;
}

/* nft's error text, its trailing newline and line breaks made readable on one line. */
static int nft_error(struct nft_ctx *ctx, int e, char *err, size_t errlen)
{
	const char *msg = nft_ctx_get_error_buffer(ctx);
	char one[512];
	size_t n = 0;
	for (const char *p = msg ? msg : ""; *p && n + 1 < sizeof(one); p++)
		one[n++] = *p == '\n' ? ' ' : *p;
	while (n && one[n - 1] == ' ')
		n--;
	one[n] = '\0';
	return error_set(err, errlen, e, "nftables: %s", n ? one : "the command failed");
}

int nft_run(const char *cmds, char *err, size_t errlen)
{
	struct nft_ctx *ctx = nft_open(false);
	if (!ctx)
		return error_set(err, errlen, -ENOMEM, "nftables: cannot make a libnftables context");
	int e = nft_run_cmd_from_buffer(ctx, cmds) ? nft_error(ctx, -EINVAL, err, errlen) : 0;
	nft_ctx_free(ctx);
	return e;
}

int nft_list_json(const char *cmd, json_t **out, char *err, size_t errlen)
{
	*out = NULL;
	struct nft_ctx *ctx = nft_open(true);
	if (!ctx)
		return error_set(err, errlen, -ENOMEM, "nftables: cannot make a libnftables context");
	int e = 0;
	if (nft_run_cmd_from_buffer(ctx, cmd)) {
		const char *msg = nft_ctx_get_error_buffer(ctx);
		e = nft_error(ctx, msg && strstr(msg, "No such file or directory") ? -ENOENT : -EINVAL, err, errlen);
	} else {
		json_error_t je;
		const char *text = nft_ctx_get_output_buffer(ctx);
		if (!(*out = json_loads(text ? text : "", 0, &je)))
			e = error_set(err, errlen, -EINVAL, "nftables: unreadable JSON output (%s)", je.text);
	}
	nft_ctx_free(ctx);
	return e;
}
