/* Least privilege with libcap. A daemon checks at start that it holds the capabilities it
 * needs (refusing with a message naming the missing ones), and once set up keeps only those:
 * effective, permitted and bounding sets are cut to the list, inheritable emptied. */
#pragma once
#include <sys/capability.h>
#include "err.h"

int caps_require(const cap_value_t *caps, int n, struct err *e);
int caps_keep_only(const cap_value_t *caps, int n, struct err *e);
/* The same, and `pass` kept in the permitted and bounding sets only (not effective): what a
 * process this one execs may have (ec2d's exec gets a container's capabilities). */
int caps_keep(const cap_value_t *caps, int n, const cap_value_t *pass, int m, struct err *e);
