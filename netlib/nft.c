#include "nft.h"
#include <errno.h>
#include <nftables/libnftables.h>
#include <stdlib.h>
#include <string.h>

static int nft_fail(struct nsh *h, struct err *e)
{
	const char *msg = nft_ctx_get_error_buffer(h->nft);
	char first[600] = "";
	/* nft's message repeats the input with carets; the first line says what is wrong. */
	if (msg) {
		size_t n = strcspn(msg, "\n");
		if (n >= sizeof(first))
			n = sizeof(first) - 1;
		memcpy(first, msg, n);
		first[n] = 0;
	}
	return err_setr(e, -EIO, "InternalError", "nftables in '%s': %s", h->name,
			first[0] ? first : "failed");
}

int nft_apply(struct nsh *h, const char *cmds, struct err *e)
{
	if (!h->nft)
		return err_setr(e, -EINVAL, "InternalError", "no nftables context for '%s'", h->name);
	int r = nft_run_cmd_from_buffer(h->nft, cmds);
	/* Drain both buffers so that the next call starts clean. */
	(void)nft_ctx_get_output_buffer(h->nft);
	if (r != 0)
		return nft_fail(h, e);
	(void)nft_ctx_get_error_buffer(h->nft);
	return 0;
}

int nft_list(struct nsh *h, const char *cmd, char **ret, struct err *e)
{
	if (!h->nft)
		return err_setr(e, -EINVAL, "InternalError", "no nftables context for '%s'", h->name);
	if (nft_run_cmd_from_buffer(h->nft, cmd) != 0)
		return nft_fail(h, e);
	const char *out = nft_ctx_get_output_buffer(h->nft);
	*ret = strdup(out ? out : "");
	return *ret ? 0 : -ENOMEM;
}
