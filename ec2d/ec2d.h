/* ec2d internals. How instances map onto libvirt and the VPC's kernel objects is written once,
 * in docs/architecture.md ("Instances"). */
#pragma once
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <libvirt/libvirt.h>
#include "err.h"
#include "ids.h"
#include "jsonx.h"
#include "store.h"

#define OWNER_ID "123456789012"
/* The owner of Amazon's public images (describe-images --owners amazon). */
#define AMAZON_OWNER_ID "137112412989"

struct ec2d {
	char prefix[8];
	char state_dir[256];
	char run_dir[256];
	char images_dir[256];
	char image_map[256];	  /* --image-map: public AMI IDs and names -> local images (catalog.c) */
	char default_image[128]; /* --default-image: what an unknown AMI ID launches; "" refuses it */
	char lxc_uri[128];
	char qemu_uri[128];
	struct store *store;
	struct idgen ids;
	/* One lock for the model and the libvirt calls that change it; exec streams and the
	 * metadata service take it only to read. */
	pthread_mutex_t lock;
	virConnectPtr lxc, qemu;
	int kvm; /* -1 not probed, 0 TCG, 1 KVM runs guests */
	json_t *images; /* ImageId -> image (image.json plus ImageId, _dir) */
	json_t *consoles; /* instance id -> console drain (pointer as integer) */
	json_t *imds; /* vpc id -> the metadata service's listening socket (fd), the front's copy */
	json_t *tokens; /* IMDSv2 token -> {instance, expires} */
};

extern struct ec2d *E;

/* A request: the action, its region, its parameters, and (for streaming verbs) the client's
 * socket for event lines. */
struct ereq {
	const char *action;
	const char *region;
	json_t *params;
	int fd;
};

typedef int (*ehandler_fn)(struct ereq *rq, json_t **ret, struct err *e);

/* Small helpers */
/* Commits changed instances ({id: obj or null}) to the journal. */
int state_commit(json_t *changes, struct err *e);
json_t *instance_get(const char *id);

/* vpcd, through its socket. */
int vpc_call(const char *region, const char *action, json_t *params, json_t **ret, struct err *e);

/* catalog.c: images and instance types */
int images_load(struct err *e);
json_t *image_get(const char *image_id);
const json_t *instance_type_get(const char *name);
int h_describe_images(struct ereq *, json_t **, struct err *);
int h_describe_instance_types(struct ereq *, json_t **, struct err *);

/* domain.c: the libvirt domain of an instance. The XML is a pure function of its inputs
 * (golden-file tested). */
struct domain_spec {
	const char *name;   /* <prefix>-<instance id> */
	const char *kind;   /* "lxc" or "qemu" */
	const char *uuid;   /* derived from the instance ID, stable across restarts */
	int vcpus;
	long long memory_mib;
	const char *mac;
	const char *link;   /* host-side link name: the ENI's port name */
	const char *root;   /* lxc: the instance's root directory */
	const char *init;   /* lxc: init path inside the root */
	const char *kernel, *initrd, *cmdline; /* qemu */
	const char *console_log; /* qemu: serial log file */
	const char *exec_sock;   /* qemu: the exec channel's unix socket */
	bool kvm;
};
char *domain_xml(const struct domain_spec *s);
/* The capabilities a container does not get (exec drops them too). */
extern const char *const domain_dropped_caps[];
void domain_name(const char *instance_id, char buf[static 64]);
int domain_start(json_t *inst, struct err *e);
int domain_stop(json_t *inst, bool graceful, struct err *e);
/* 1 running, 0 not, <0 error reaching libvirt. */
int domain_active(json_t *inst);
virConnectPtr domain_conn(const char *kind, struct err *e);
int kvm_probe(void);

/* The line ec2d writes to an instance's console log before each start. */
#define CONSOLE_START_MARK "-- vpclab: instance started "

/* guest.c: the console drain (containers) and exec */
void console_attach(json_t *inst);
void console_detach(const char *instance_id);
int console_read(json_t *inst, char **ret, size_t *ret_n);
int guest_exec(json_t *inst, json_t *argv, int client_fd, int *ret_status, struct err *e);
void events_start(void);

/* instance.c */
int h_run_instances(struct ereq *, json_t **, struct err *);
int h_describe_instances(struct ereq *, json_t **, struct err *);
int h_describe_instance_status(struct ereq *, json_t **, struct err *);
int h_stop_instances(struct ereq *, json_t **, struct err *);
int h_start_instances(struct ereq *, json_t **, struct err *);
int h_reboot_instances(struct ereq *, json_t **, struct err *);
int h_terminate_instances(struct ereq *, json_t **, struct err *);
int h_get_console_output(struct ereq *, json_t **, struct err *);
int h_exec(struct ereq *, json_t **, struct err *);
int h_attach_network_interface(struct ereq *, json_t **, struct err *);
int h_detach_network_interface(struct ereq *, json_t **, struct err *);
int h_describe_instance_attribute(struct ereq *, json_t **, struct err *);
int h_modify_instance_attribute(struct ereq *, json_t **, struct err *);
/* keypair.c: key pairs, records of type "key-pair" in the store. */
int h_create_key_pair(struct ereq *, json_t **, struct err *);
int h_import_key_pair(struct ereq *, json_t **, struct err *);
int h_describe_key_pairs(struct ereq *, json_t **, struct err *);
int h_delete_key_pair(struct ereq *, json_t **, struct err *);
json_t *keypair_get(const char *id);
json_t *keypair_by_name(const char *region, const char *name);
/* launch_template.c: launch templates, records of type "launch-template" in the store. */
int h_create_launch_template(struct ereq *, json_t **, struct err *);
int h_describe_launch_templates(struct ereq *, json_t **, struct err *);
int h_modify_launch_template(struct ereq *, json_t **, struct err *);
int h_delete_launch_template(struct ereq *, json_t **, struct err *);
int h_create_launch_template_version(struct ereq *, json_t **, struct err *);
int h_describe_launch_template_versions(struct ereq *, json_t **, struct err *);
int h_delete_launch_template_versions(struct ereq *, json_t **, struct err *);
/* RunInstances' parameters with its LaunchTemplate's data under them (*ret: a new object). */
int launch_template_params(const char *region, json_t *params, json_t **ret, struct err *e);
/* volume.c: volumes, records of type "volume" and a directory each, mounted in containers. */
int h_create_volume(struct ereq *, json_t **, struct err *);
int h_describe_volumes(struct ereq *, json_t **, struct err *);
int h_attach_volume(struct ereq *, json_t **, struct err *);
int h_detach_volume(struct ereq *, json_t **, struct err *);
int h_delete_volume(struct ereq *, json_t **, struct err *);
/* After a container started: its volumes mounted again. */
void volumes_mount(json_t *inst);
/* An instance terminated: its volumes become available. */
void volumes_release(const char *instance_id);
/* tags.c */
int h_create_tags(struct ereq *, json_t **, struct err *);
/* The TagSpecifications of a Create call that tags one resource TYPE: their tags (a new array)
 * in *ret; another type, an empty or aws: key, or more than 50 tags are refused as EC2 does. */
int tag_specs_of(json_t *params, const char *type, json_t **ret, struct err *e);
int h_delete_tags(struct ereq *, json_t **, struct err *);
int h_describe_tags(struct ereq *, json_t **, struct err *);
int h_describe_lab(struct ereq *, json_t **, struct err *);
/* audit.c: AuditLab, libvirt's domains against the instances (--repair converges). */
int h_audit_lab(struct ereq *, json_t **, struct err *);
/* A transient domain shut off yet still listed (left by a libvirtd killed mid-shutdown) goes. */
void domain_drop_ghost(virDomainPtr d);
void domains_drop_ghosts(void);
int instances_reconcile(struct err *e);
void instance_died(const char *domain_name);
/* server.c: the event thread queues a stopped domain; a worker handles it under the lock. */
void died_enqueue(const char *domain_name);
void instance_dir(const char *id, char buf[static 512]);

/* imds.c: the metadata service at 169.254.169.254 in every VPC with instances. The core
 * half makes each VPC's socket and answers the front's two questions; the front half
 * (imds_front_main) serves HTTP on the sockets it is given. */
int imds_ensure(const char *vpc_id, struct err *e);
void imds_release_unused(void);
void imds_stop_all(void);
int h_imds_get(struct ereq *, json_t **, struct err *);
int h_imds_token(struct ereq *, json_t **, struct err *);
int imds_front_main(int argc, char **argv);

/* fronts.c: the unprivileged fronts (netlib/front.h), and what each may ask the core. */
enum front_role { FRONT_API, FRONT_IMDS };
bool front_may(enum front_role role, const char *action);
int imds_front_start(struct err *e);
/* Hands the VPC's listening socket to the metadata front (fd -1: it closes the VPC's). */
void imds_front_listen(const char *vpc, int fd);
json_t *fronts_describe(void);

/* server.c */
int ec2d_dispatch(const char *action, const char *region, json_t *params, int fd, json_t **ret,
		  struct err *e);
int server_listen(const char *path, struct err *e);
void server_run(int lfd);
/* Serves a front's core socket from a thread: only `uid`, only what front_may() lets `role` ask. */
void server_start_front(int lfd, enum front_role role, uid_t uid);
void died_worker_start(void);
/* instance.c: after libvirtd restarted, reconnect and find the running instances again. */
void instances_refresh(void);
extern bool domain_lost;

/* fronts.c: the EC2 Query API on `listen` (ADDR:PORT), served by the api front (http.c);
 * credentials from the file, or generated into <run-dir>/credentials. A connection idle for
 * `timeout` seconds is closed. */
int http_start(const char *listen, const char *creds_path, unsigned timeout, struct err *e);
extern char http_endpoint[96], http_credentials[600]; /* "" when not listening */
/* http.c: the api front's main (`ec2d front api`). */
int http_front_main(int argc, char **argv);
/* identity.c: STS and IAM for the caller of an access key (in `profile` of the credentials),
 * in the api front; `created` is the credentials file's time, the user's CreateDate. */
int identity_call(const char *service, const char *action, const char *access_key, const char *profile,
		  long long created, json_t *params, json_t **ret, struct err *e);

/* teardown */
int ec2d_teardown(const char *prefix, const char *state_dir, struct err *e);

/* fis.c: AWS Fault Injection Service: templates, experiments, the engine. */
int h_create_experiment_template(struct ereq *, json_t **, struct err *);
int h_get_experiment_template(struct ereq *, json_t **, struct err *);
int h_update_experiment_template(struct ereq *, json_t **, struct err *);
int h_delete_experiment_template(struct ereq *, json_t **, struct err *);
int h_list_experiment_templates(struct ereq *, json_t **, struct err *);
int h_start_experiment(struct ereq *, json_t **, struct err *);
int h_get_experiment(struct ereq *, json_t **, struct err *);
int h_stop_experiment(struct ereq *, json_t **, struct err *);
int h_list_experiments(struct ereq *, json_t **, struct err *);
int h_list_actions(struct ereq *, json_t **, struct err *);
int h_get_action(struct ereq *, json_t **, struct err *);
int h_list_target_resource_types(struct ereq *, json_t **, struct err *);
int h_get_target_resource_type(struct ereq *, json_t **, struct err *);
int h_tag_resource(struct ereq *, json_t **, struct err *);
int h_untag_resource(struct ereq *, json_t **, struct err *);
int h_list_tags_for_resource(struct ereq *, json_t **, struct err *);
/* An injected API error for `action` (az NULL), or for a launch into `az` (RunInstances):
 * <0 with e set when a running experiment makes this call fail. */
int fis_api_fault(const char *action, const char *az, struct err *e);
/* At start: every experiment a previous ec2d left running is stopped and its faults undone. */
void fis_recover(void);
/* ISO 8601 duration in ms, -1 if not one. */
long long fis_duration_ms(const char *s);
/* instance.c: a crash (the domain destroyed, no shutdown; the instance stopped) and a freeze. */
int instance_crash(json_t *inst, struct err *e);
int instance_pause(json_t *inst, bool pause, struct err *e);
/* domain.c */
int domain_suspend(json_t *inst, bool suspend, struct err *e);
/* probe.c: probes (records) and their runs during an experiment. */
int h_create_probe(struct ereq *, json_t **, struct err *);
int h_describe_probes(struct ereq *, json_t **, struct err *);
int h_delete_probe(struct ereq *, json_t **, struct err *);
int instance_netns(const char *region, const char *iid, const char *what, int *ret, struct err *e);
struct probe_run;
/* Starts the probes named in `names` (comma-separated; under the lock). */
int probes_start(const char *region, const char *names, uint64_t seed, struct probe_run **ret, struct err *e);
const char *probes_alarmed(struct probe_run *pr);
void probes_stop(struct probe_run *pr);
void probes_free(struct probe_run *pr);
json_t *probes_summary(struct probe_run *pr, long long t0_ms);
json_t *probe_get(const char *region, const char *name);
/* report.c: an experiment's report (JSON and a timeline in SVG), and the CLI's run/compare. */
int h_get_experiment_report(struct ereq *, json_t **, struct err *);
/* fis.c: the workload's API calls during running experiments. */
void fis_api_record(const char *action, const char *code);
int cmd_run_experiment(int argc, char **argv);
int cmd_compare_reports(int argc, char **argv);

/* vpc_api.c: the EC2 API inside every VPC with instances, at VPC_API_IP:80 in its namespace
 * (vpcd puts the address on lo; ec2.<region>.amazonaws.com resolves to it there: vpcd/dns.c),
 * served by the api front with the host endpoint's handler. A VPC's socket lives as its
 * metadata socket does: imds_front_listen (fronts.c) opens and closes both. */
#define VPC_API_IP "169.254.169.249"
struct front;
/* Called with the lock held. */
int vpc_api_ensure(const char *vpc_id, struct err *e);
void vpc_api_release(const char *vpc_id);
/* Every socket again to an api front that has just started; takes the lock. */
void vpc_api_resend(struct front *f);
/* fronts.c: hands a VPC's API socket to the api front (fd -1: it closes the VPC's). */
void api_front_listen(const char *vpc, int fd);
