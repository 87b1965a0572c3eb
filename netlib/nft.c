#include "nft.h"
#include <errno.h>
#include <nftables/libnftables.h>
#include <stdlib.h>
#include <string.h>
#include "netns.h"

static int nft_fail(struct nsh *h, struct nft_ctx *nft, struct err *e)
{
	const char *msg = nft_ctx_get_error_buffer(nft);
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

/* A context for one call, made inside the namespace (libnftables opens its netlink socket
 * there). Not kept: each holds a ruleset cache (a megabyte per VPC in a big lab) and a socket
 * that must stay below FD_SETSIZE. */
static struct nft_ctx *ctx_open(struct nsh *h, struct err *e)
{
	if (!h->with_nft) {
		err_setr(e, -EINVAL, "InternalError", "no nftables context for '%s'", h->name);
		return NULL;
	}
	int saved = netns_enter(h->fd);
	if (saved < 0) {
		err_setr(e, saved, "InternalError", "cannot enter namespace '%s'", h->name);
		return NULL;
	}
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
	netns_leave(saved);
	if (!nft) {
		err_setr(e, -ENOMEM, "InternalError", "cannot open nftables in '%s'", h->name);
		return NULL;
	}
	nft_ctx_buffer_error(nft), nft_ctx_buffer_output(nft);
	return nft;
}

int nft_apply(struct nsh *h, const char *cmds, struct err *e)
{
	struct nft_ctx *nft = ctx_open(h, e);
	if (!nft)
		return -EINVAL;
	int r = nft_run_cmd_from_buffer(nft, cmds) != 0 ? nft_fail(h, nft, e) : 0;
	nft_ctx_free(nft);
	return r;
}

int nft_list(struct nsh *h, const char *cmd, char **ret, struct err *e)
{
	struct nft_ctx *nft = ctx_open(h, e);
	if (!nft)
		return -EINVAL;
	int r = 0;
	if (nft_run_cmd_from_buffer(nft, cmd) != 0) {
		r = nft_fail(h, nft, e);
	} else {
		const char *out = nft_ctx_get_output_buffer(nft);
		*ret = strdup(out ? out : "");
		r = *ret ? 0 : -ENOMEM;
	}
	nft_ctx_free(nft);
	return r;
}
