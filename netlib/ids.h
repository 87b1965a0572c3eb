/* Deterministic identifiers. A seeded splitmix64 stream gives AWS-shaped IDs (vpc-0123…, 17 hex
 * digits) and locally administered MACs; its position is part of the persisted state, so that
 * the same lab script run against a fresh state with the same --seed gives the same IDs. */
#pragma once
#include <stdint.h>

#define ID_MAX 48
#define MAC_STRLEN 18

struct idgen {
	uint64_t state;
};

uint64_t idgen_next(struct idgen *g);
/* "<kind>-" followed by 17 lowercase hex digits, the shape of current AWS IDs. */
void id_make(struct idgen *g, const char *kind, char buf[static ID_MAX]);
/* 02:xx:xx:xx:xx:xx, locally administered unicast. */
void mac_make(struct idgen *g, char buf[static MAC_STRLEN]);
/* The last 8 hex digits of an ID, used to name kernel objects within 15-character limits. */
const char *id_tail(const char *id);
/* Checks the "<kind>-<hex>" shape; returns 0 or -EINVAL. */
int id_check(const char *id, const char *kind);
/* The current time as EC2 prints it: 2026-11-23T22:10:18.000Z */
void time_iso(char buf[static 32]);
