/* nftables through libnftables, in the namespace of an nsh handle. A buffer is one
 * transaction: it applies whole or not at all. */
#pragma once
#include "err.h"
#include "nl.h"

/* Runs `cmds`; on failure the error carries nft's own message. */
int nft_apply(struct nsh *h, const char *cmds, struct err *e);
/* Runs a listing command and returns its output (malloc'd) in *ret. */
int nft_list(struct nsh *h, const char *cmd, char **ret, struct err *e);
