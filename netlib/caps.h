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
/* In a fork child before exec (async-signal-safe: raw syscalls): drops `caps` from the
 * bounding set, raising CAP_SETPCAP from the permitted set to do it, so that what is exec'd
 * gets none of them (vpcd's dnsmasq must hold no capability vpcd does not hold in its effective
 * set, or vpcd may not read its /proc entries). */
void caps_child_bound_drop(const cap_value_t *caps, int n);
