/* vpcd internals. The mapping from the AWS model to kernel objects is described once, in
 * docs/architecture.md; the names below follow it. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "cidr.h"
#include "err.h"
#include "filter.h"
#include "jsonx.h"
#include "ids.h"
#include "nl.h"
#include "store.h"
#include "flowlog.h"
#include "insights.h"
#include "logs.h"

#define OWNER_ID "123456789012"
#define LAB_PREFIX_MAX 4

struct region_def {
	char name[32];
	char zones[8][40];
	int nzones;
};

struct vpcd {
	char prefix[LAB_PREFIX_MAX + 1];
	char state_dir[256];
	char run_dir[256];
	char config_path[256];
	bool default_vpc;
	struct cidr public_pool; /* regions' pools are carved from it, in table order */
	int region_pool_len;     /* the prefix length of each region's pool (default 20) */
	char sock_group[64]; /* peers in this group may use the socket; empty: root only */
	struct region_def *regions;
	int nregions;
	struct store *store;
	struct idgen ids;
	json_t *ns_cache; /* name -> pointer (json_integer) to struct nsh */
	json_t *nft_applied; /* vpc id -> last ruleset text applied */
	json_t *by_vpc;      /* vpc id -> type -> {id: true}: the objects that name the VPC (index) */
	json_t *tails;       /* last 8 hex digits of every ID -> true (index) */
	json_t *by_type;     /* type -> {id: true} (index) */
	json_t *addr_owner;  /* "scope address" -> id holding it (index; scope: subnet ID or region:R) */
	json_t *addr_held;   /* id -> {"scope address": true} (index) */
	json_t *addr_hint;   /* scope -> no free address below this one */
};

extern struct vpcd *V;

/* A request in progress. Every change to the model goes through the txn, which remembers the
 * value each touched object had, so that a failed request is rolled back whole. */
struct txn {
	json_t *undo; /* id -> previous object, or null if it did not exist */
	json_t *dirty_vpcs; /* vpc id -> true: kernel state to converge before commit */
	json_t *dirty_regions; /* region -> true: likewise, after the VPCs */
	json_t *gone_vpcs;  /* vpc ns names to delete after commit */
	bool ids_used;
	uint64_t ids_before;
};

struct req {
	const char *action;
	const char *region;
	json_t *params;
	struct txn txn;
};

typedef int (*handler_fn)(struct req *rq, json_t **ret, struct err *e);

/* model.c */
json_t *obj_get(const char *id);
json_t *obj_get_type(const char *id, const char *type); /* NULL if absent or another type */
json_t *obj_edit(struct txn *t, const char *id);          /* live object, undo recorded */
void obj_put(struct txn *t, const char *id, json_t *obj); /* steals obj */
void obj_del(struct txn *t, const char *id);
void txn_touch_vpc(struct txn *t, const char *vpc_id);
void txn_touch_region(struct txn *t, const char *region);
int txn_commit(struct txn *t, struct err *e);
void txn_rollback(struct txn *t);
void new_id(struct txn *t, const char *kind, char buf[static ID_MAX]);
#define OBJ_CAT_(a, b) a##b
#define OBJ_CAT(a, b) OBJ_CAT_(a, b)
/* Addresses held in a scope (a subnet ID, or "region:R" for a region's public pool), through
 * the index, this request's changes included. */
bool addr_in_use(struct txn *t, const char *scope, uint32_t ip);
/* The lowest free address in [lo, hi] of the scope; -ENOSPC if there is none. */
int addr_pick(struct txn *t, const char *scope, uint32_t lo, uint32_t hi, uint32_t *ret);
/* Iteration over the objects of one type in one region (region NULL: all), through the index. */
#define obj_foreach(type, region, id, o) obj_foreach_(type, region, id, o, __LINE__)
#define obj_foreach_(type, region, id, o, n)                                                       \
	for (json_t *OBJ_CAT(_tx, n) = json_object_get(V->by_type, (type)), *OBJ_CAT(_tv, n) = NULL;  \
	     OBJ_CAT(_tx, n); OBJ_CAT(_tx, n) = NULL)                                                 \
		json_object_foreach(OBJ_CAT(_tx, n), id, OBJ_CAT(_tv, n))                               \
			if (((o) = obj_get(id)) &&                                                     \
			    (!(region) || strcmp(jstr(o, "_region"), (region) ? (region) : "") == 0))
/* Iteration over the objects of one type that belong to one VPC, through the index. */
#define obj_foreach_vpc(type, vpc_id, id, o) obj_foreach_vpc_(type, vpc_id, id, o, __LINE__)
#define obj_foreach_vpc_(type, vpc_id, id, o, n)                                                   \
	for (json_t *OBJ_CAT(_ix, n) = json_object_get(json_object_get(V->by_vpc, (vpc_id)), (type)),  \
		    *OBJ_CAT(_iv, n) = NULL;                                                             \
	     OBJ_CAT(_ix, n); OBJ_CAT(_ix, n) = NULL)                                                 \
		json_object_foreach(OBJ_CAT(_ix, n), id, OBJ_CAT(_iv, n))                               \
			if (((o) = obj_get(id)) && !strcmp(jstr((o), "_type"), (type)))
/* Builds the indexes from the store (at start-up). */
void model_index_all(void);
void model_index_free(void);
/* Output: the object without internal keys, Tags dropped when empty (as AWS prints them).
 * Its members are shared with the stored object: replace them, do not change them in place. */
json_t *obj_public(json_t *o);

/* The kinds of objects: ID prefix, model type, tag resource type, EC2's NotFound error. */
struct kind {
	const char *prefix, *type, *resource_type, *notfound, *noun;
};
const struct kind *kind_of_id(const char *id);
const struct kind *kind_of_type(const char *type);
int kind_notfound(const struct kind *k, const char *id, struct err *e);
/* The object `id` of `type` in the request's region, or NULL with its NotFound error. */
json_t *obj_find(struct req *rq, const char *id, const char *type, struct err *e);
/* A required ID parameter `name` naming an object of `type` in the region, or NULL with the
 * MissingParameter or NotFound error. */
json_t *param_obj(struct req *rq, const char *name, const char *type, struct err *e);

/* params.c: typed access to request parameters, with EC2 errors. */
int param_str(struct req *rq, const char *name, bool required, const char **ret, struct err *e);
int param_bool(struct req *rq, const char *name, int *ret); /* -1 absent, 0, 1 */
int param_int(struct req *rq, const char *name, long long dflt, long long *ret, struct err *e);
/* A list member: accepts a JSON array or one scalar; returns a new reference (empty array if
 * absent). */
json_t *param_list(json_t *params, const char *name);
int param_cidr(struct req *rq, const char *name, struct cidr *ret, const char **ret_text,
	       struct err *e);
/* Tags from --tag-specifications for a resource type; validates the shape. */
int param_tags(struct req *rq, const char *resource_type, json_t **ret, struct err *e);
int tags_validate(json_t *tags, struct err *e);

/* filters.c */
/* Describes objects of `type`: applies the ids list (`ids_param`, NotFound code) and the
 * Filters, MaxResults and NextToken, decorates each with `decorate`, and returns them as a
 * new array in *ret. */
/* describe() over VPCs, answered as {"Vpcs": [...], "NextToken"} (paged: MaxResults honoured). */
int vpc_describe(struct req *rq, const struct filter_map *filters, void (*decorate)(json_t *pub, json_t *o),
		 bool paged, json_t **ret, struct err *e);
int describe(struct req *rq, const char *type, const char *ids_param, const char *id_key,
	     const char *notfound_code, const char *notfound_name, const struct filter_map *map,
	     void (*decorate)(json_t *pub, json_t *o), json_t **ret, json_t **ret_token,
	     struct err *e);

/* region.c */
const struct region_def *region_find(const char *name);
int region_ensure(struct req *rq, struct err *e);
int regions_load_config(const char *path, struct err *e);
const char *zone_id(const char *zone, char buf[static 16]);

/* kernel names: sync.c */
void name_vpc_ns(const char *vpc_id, char buf[static 64]);
void name_region_ns(const char *region, char buf[static 64]);
void name_bridge(const char *subnet_id, char buf[static 16]);
void name_port(const char *eni_id, char buf[static 16]);
int nsh_get(const char *ns, bool with_nft, struct nsh **ret, struct err *e);
void nsh_forget(const char *ns);
/* Converges a VPC's namespace with the model. `full` re-checks objects that exist. */
/* `changed`: the request's undo record (id -> old value), or NULL to converge everything. */
int sync_vpc(const char *vpc_id, bool full, json_t *changed, struct err *e);
/* The policy rules and routes a VPC's namespace must hold (the audit compares them; malloc'd). */
struct nl_rule;
struct nl_route;
void routing_want(struct nsh *h, json_t *vpc, struct nl_rule **rules, size_t *nrules, struct nl_route **routes,
		  size_t *nroutes);
bool rule_eq(const struct nl_rule *a, const struct nl_rule *b);
/* The ENIs of `changed` in the VPC (any VPC if NULL), if ENIs and elastic IPs are all it
 * holds, each with its old value (null if new); otherwise NULL. */
json_t *changed_enis(json_t *changed, const char *vpc_id);
/* internet.c: a region's namespace, its internet segment and test host, the backbone between
 * regions and the host's link to it. */
int sync_region(const char *region, json_t *changed, struct err *e);
int region_pool(const char *region, struct cidr *ret);
#define POOL_RESERVED 16 /* of a region's pool: .0 network, .1 region router, .10 internet host, room to grow */
#define MAX_GROUPS_PER_ENI 5 /* security groups per ENI (firewall.c has as many slots) */
uint32_t region_internet_host(const struct cidr *pool);
int ns_prepare(const char *ns, bool *created, struct err *e);
int ns_init(struct nsh *h, bool router, struct err *e);
/* internet_host.c: the test host's services (HTTP "checkip" on 80, TCP echo on 7) on
 * sockets the core binds inside the region namespace, served by the unprivileged inet front
 * (`vpcd front inet`, inet_front_main), started by inet_front_start. */
int inet_front_start(const char *run_dir, struct err *e);
pid_t inet_front_pid(void);
int inet_front_main(int argc, char **argv);
int inet_host_start(const char *region, int ns_fd, uint32_t ip, struct err *e);
void inet_host_stop_all(void);
/* Startup: rebuild what is missing, remove strays carrying the prefix. */
int reconcile(struct err *e);
int teardown_prefix(const char *prefix, struct err *e);
/* firewall.c: the nftables ruleset text of a VPC (also used by the golden-file tests), and
 * applying it: a whole table when its structure changed, else set-element differences, one
 * transaction either way. */
char *vpc_ruleset(const char *vpc_id);
/* `only`: the ENIs to converge ({id: true}), or NULL for every ENI of the VPC. */
int firewall_sync(struct nsh *h, const char *vpc_id, bool full, json_t *only, struct err *e);

/* security_group.c, network_acl.c */
json_t *vpc_default_sg(const char *vpc_id);
void sg_create_default(struct txn *t, const char *region, const char *vpc_id);
int sg_eni_groups(struct req *rq, const char *vpc_id, json_t *ids, json_t **ret, struct err *e);
void acl_create_default(struct txn *t, const char *region, const char *vpc_id);
json_t *vpc_default_acl(const char *vpc_id);
json_t *subnet_acl(const char *subnet_id);
void acl_associate_default(struct txn *t, const char *vpc_id, const char *subnet_id);
void acl_disassociate(struct txn *t, const char *subnet_id);
void acl_sort(json_t *acl);
/* gateway.c */
const char *igw_vpc(json_t *igw);
json_t *vpc_igw(const char *vpc_id);
/* A new internet gateway with `tags` (borrowed, may be NULL), attached to `vpc_id` if given. */
void igw_create_obj(struct req *rq, json_t *tags, const char *vpc_id, char ret_id[ID_MAX]);
int eni_assign_public(struct req *rq, json_t *eni, struct err *e);
void eni_release_public(struct req *rq, json_t *eni);
/* nat_gateway.c */
void name_nat_ns(const char *nat_id, char buf[static 64]);
int natgw_sync(json_t *nat, struct err *e);
/* eni.c: makes an ENI's veth pair, the peer directly inside `target_ns` as eth0 with the
 * ENI's MAC, address and a default route via the subnet router. Leaves nothing on failure. */
int eni_attach(struct nsh *vns, json_t *eni, const char *target_ns, struct err *e);
/* dns.c: one dnsmasq per VPC namespace for DHCP and AmazonProvidedDNS. */
#define IMDS_ADDR 0xa9fea9feu /* 169.254.169.254, answered by ec2d in every VPC namespace */
const char *dns_domain(const char *region, char buf[static 64]);
/* `only`: the ENIs whose names and leases changed (id -> old value), or NULL to write
 * everything. */
/* The pidfds of the running dnsmasqs (for the loop's poll), and what to do when one is
 * readable: that dnsmasq died, and it is started again. */
struct pollfd;
size_t dns_watch_fds(struct pollfd *pfd, size_t max);
void dns_died(int pidfd);
bool dns_running(const char *vpc_id, struct nsh *h);
/* audit.c: AuditLab, the kernel against the model (--repair reconciles). */
int h_audit_lab(struct req *rq, json_t **ret, struct err *e);
int dns_sync(struct nsh *h, const char *vpc_id, json_t *only, struct err *e);
void dns_stop(const char *vpc_id, int ns_fd); /* ns_fd < 0: the namespace is going anyway */
/* fault.c: network faults for fault injection (ApplyFault, ClearFaults, DescribeFaults):
 * model objects of type "fault", each a chain in the VPC namespace's tables
 * `bridge vpclab_fault` / `inet vpclab_fault`, or a tbf qdisc on an ENI's port. */
int h_apply_fault(struct req *, json_t **, struct err *);
int h_clear_faults(struct req *, json_t **, struct err *);
int h_describe_faults(struct req *, json_t **, struct err *);
/* Makes the VPC's fault tables and qdiscs what its faults say (`full`: also when the cache of
 * what was applied says they already are). */
int fault_sync(struct nsh *h, const char *vpc_id, bool full, struct err *e);
void fault_forget(const char *vpc_id); /* the VPC's namespace is gone */
/* The backbone's table of partitions between regions (`full`: remade even if unchanged). */
int fault_backbone_sync(struct nsh *bb, bool full, struct err *e);
/* The audit of the backbone's partitions (see fault_audit). */
void fault_backbone_audit(struct nsh *bb, json_t *drifts, size_t *checked);
/* internet.c: the backbone's end of a region's link; -1 for no such region. */
int region_backbone_link(const char *region, char buf[static 16]);
/* Whether every object of a request's undo record (`changed`) is a fault. */
bool faults_only(json_t *changed);
/* Clears, in the request's transaction, the faults whose target is `target_id` (a subnet or
 * an ENI being deleted: its faults go with it). */
void fault_clear_target(struct txn *t, const char *target_id);
/* Appends to `drifts` (strings) what differs between the VPC's faults and its kernel, given
 * the output of `list tables` in its namespace. */
void fault_audit(struct nsh *h, const char *vpc_id, const char *tables, json_t *drifts, size_t *checked);
/* peering.c */
bool pcx_link(json_t *pcx, const char *vpc_id, char link[static 16], uint32_t *ret_peer_ip, uint32_t *ret_own_ip);
int pcx_sync(struct nsh *h, const char *vpc_id, json_t *wanted, struct err *e);

/* handlers */
int vpc_create_obj(struct req *rq, const char *cidr_text, bool is_default, json_t *tags,
		   char ret_id[static ID_MAX], struct err *e);
int subnet_create_obj(struct req *rq, const char *vpc_id, const char *cidr_text, const char *az,
		      bool is_default, json_t *tags, char ret_id[static ID_MAX], struct err *e);
/* The route table associated with a subnet (explicitly, or the VPC's main one). */
json_t *subnet_route_table(const char *subnet_id, const char *vpc_id);
json_t *vpc_main_route_table(const char *vpc_id);
json_t *rtb_new(struct txn *t, const char *region, const char *vpc_id, const char *vpc_cidr,
		json_t *tags, char id[static ID_MAX]);
/* A route's target ID and the key it is under; "" if none. */
const char *route_target(json_t *route, const char **ret_key);
/* A route is active while its target exists; otherwise it is a blackhole. */
bool route_active(json_t *route, const char *vpc_id);
int eni_used_ips(const char *subnet_id, uint32_t **ret, size_t *n);

int h_describe_regions(struct req *, json_t **, struct err *);
int h_describe_availability_zones(struct req *, json_t **, struct err *);
int h_create_vpc(struct req *, json_t **, struct err *);
int h_describe_vpcs(struct req *, json_t **, struct err *);
int h_delete_vpc(struct req *, json_t **, struct err *);
int h_describe_vpc_attribute(struct req *, json_t **, struct err *);
int h_modify_vpc_attribute(struct req *, json_t **, struct err *);
bool vpc_dns_support(const json_t *vpc);
bool vpc_dns_hostnames(const json_t *vpc);
/* account.c: answers for account-level and retired calls */
int h_describe_vpc_classic_link(struct req *, json_t **, struct err *);
int h_describe_vpc_classic_link_dns_support(struct req *, json_t **, struct err *);
int h_describe_account_attributes(struct req *, json_t **, struct err *);
int h_create_subnet(struct req *, json_t **, struct err *);
int h_describe_subnets(struct req *, json_t **, struct err *);
int h_delete_subnet(struct req *, json_t **, struct err *);
int h_modify_subnet_attribute(struct req *, json_t **, struct err *);
int h_create_route_table(struct req *, json_t **, struct err *);
int h_describe_route_tables(struct req *, json_t **, struct err *);
int h_delete_route_table(struct req *, json_t **, struct err *);
int h_associate_route_table(struct req *, json_t **, struct err *);
int h_disassociate_route_table(struct req *, json_t **, struct err *);
int h_replace_route_table_association(struct req *, json_t **, struct err *);
int h_create_route(struct req *, json_t **, struct err *);
int h_replace_route(struct req *, json_t **, struct err *);
int h_delete_route(struct req *, json_t **, struct err *);
int h_create_network_interface(struct req *, json_t **, struct err *);
int h_describe_network_interfaces(struct req *, json_t **, struct err *);
int h_delete_network_interface(struct req *, json_t **, struct err *);
int h_modify_network_interface_attribute(struct req *, json_t **, struct err *);
int h_plug_network_interface(struct req *, json_t **, struct err *);
int h_unplug_network_interface(struct req *, json_t **, struct err *);
int h_attach_network_interface(struct req *, json_t **, struct err *);
int h_detach_network_interface(struct req *, json_t **, struct err *);
int h_adopt_network_interface_link(struct req *, json_t **, struct err *);
int h_create_tags(struct req *, json_t **, struct err *);
int h_delete_tags(struct req *, json_t **, struct err *);
int h_describe_tags(struct req *, json_t **, struct err *);
int h_describe_lab(struct req *, json_t **, struct err *);
int h_create_security_group(struct req *, json_t **, struct err *);
int h_delete_security_group(struct req *, json_t **, struct err *);
int h_describe_security_groups(struct req *, json_t **, struct err *);
int h_describe_security_group_rules(struct req *, json_t **, struct err *);
int h_authorize_security_group_ingress(struct req *, json_t **, struct err *);
int h_authorize_security_group_egress(struct req *, json_t **, struct err *);
int h_revoke_security_group_ingress(struct req *, json_t **, struct err *);
int h_revoke_security_group_egress(struct req *, json_t **, struct err *);
/* api_breadth (docs/api_breadth.md) */
int h_modify_security_group_rules(struct req *, json_t **, struct err *);
int h_update_security_group_rule_descriptions_ingress(struct req *, json_t **, struct err *);
int h_update_security_group_rule_descriptions_egress(struct req *, json_t **, struct err *);
int h_create_dhcp_options(struct req *, json_t **, struct err *);
int h_create_default_vpc(struct req *, json_t **, struct err *);
int h_create_default_subnet(struct req *, json_t **, struct err *);
int h_describe_dhcp_options(struct req *, json_t **, struct err *);
int h_delete_dhcp_options(struct req *, json_t **, struct err *);
int h_associate_dhcp_options(struct req *, json_t **, struct err *);
int h_create_network_acl(struct req *, json_t **, struct err *);
int h_delete_network_acl(struct req *, json_t **, struct err *);
int h_describe_network_acls(struct req *, json_t **, struct err *);
int h_create_network_acl_entry(struct req *, json_t **, struct err *);
int h_replace_network_acl_entry(struct req *, json_t **, struct err *);
int h_delete_network_acl_entry(struct req *, json_t **, struct err *);
int h_replace_network_acl_association(struct req *, json_t **, struct err *);
int h_create_internet_gateway(struct req *, json_t **, struct err *);
int h_create_vpc_peering_connection(struct req *, json_t **, struct err *);
int h_accept_vpc_peering_connection(struct req *, json_t **, struct err *);
int h_reject_vpc_peering_connection(struct req *, json_t **, struct err *);
int h_delete_vpc_peering_connection(struct req *, json_t **, struct err *);
int h_describe_vpc_peering_connections(struct req *, json_t **, struct err *);
int h_create_nat_gateway(struct req *, json_t **, struct err *);
int h_describe_nat_gateways(struct req *, json_t **, struct err *);
int h_delete_nat_gateway(struct req *, json_t **, struct err *);
int h_describe_internet_gateways(struct req *, json_t **, struct err *);
int h_attach_internet_gateway(struct req *, json_t **, struct err *);
int h_detach_internet_gateway(struct req *, json_t **, struct err *);
int h_delete_internet_gateway(struct req *, json_t **, struct err *);
int h_allocate_address(struct req *, json_t **, struct err *);
int h_describe_addresses(struct req *, json_t **, struct err *);
int h_associate_address(struct req *, json_t **, struct err *);
int h_disassociate_address(struct req *, json_t **, struct err *);
int h_release_address(struct req *, json_t **, struct err *);

/* IPv6 in the model: ipv6.c */
void region_ipv6_pool(const char *region, struct cidr6 *ret);
int vpc_add_ipv6_block(struct req *rq, json_t *vpc, json_t **ret_assoc, struct err *e);
int subnet_ipv6_validate(const char *vpc_id, const char *text, struct err *e);
json_t *subnet_add_ipv6_block(struct txn *t, json_t *subnet, const char *text);
bool subnet_ipv6_block(const json_t *subnet, struct cidr6 *ret);
int eni_ipv6_choose(json_t *subnet, json_t *eni, long long count, json_t *given, json_t **ret, struct err *e);
void eni_ipv6_add(json_t *eni, json_t *addrs);
int h_associate_vpc_cidr_block(struct req *, json_t **, struct err *);
int h_disassociate_vpc_cidr_block(struct req *, json_t **, struct err *);
int h_associate_subnet_cidr_block(struct req *, json_t **, struct err *);
int h_disassociate_subnet_cidr_block(struct req *, json_t **, struct err *);
int h_assign_ipv6_addresses(struct req *, json_t **, struct err *);
int h_unassign_ipv6_addresses(struct req *, json_t **, struct err *);
json_t *vpc_eigw(const char *vpc_id);
int h_create_egress_only_internet_gateway(struct req *, json_t **, struct err *);
int h_describe_egress_only_internet_gateways(struct req *, json_t **, struct err *);
int h_delete_egress_only_internet_gateway(struct req *, json_t **, struct err *);
