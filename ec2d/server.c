/* ec2d's control socket: one thread per client, one request per connection (as rpc.h). ec2d's
 * own actions run under the lock; exec runs outside it; every other action is vpcd's and is
 * passed on to vpcd's socket, so that one socket (and one CLI) covers the EC2 surface. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "cfn.h"
#include "check.h"
#include "cleanup.h"
#include "ec2d.h"
#include "log.h"
#include "rpc.h"
#include "topology.h"

int state_commit(json_t *changes, struct err *e)
{
	_cleanup_json_ json_t *meta = json_deep_copy(store_meta(E->store));
	char hex[32];
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)E->ids.state);
	json_object_set_new(meta, "ids", json_string(hex));
	return store_commit(E->store, changes, meta, e);
}

int vpc_call(const char *region, const char *action, json_t *params, json_t **ret, struct err *e)
{
	char sock[512];
	snprintf(sock, sizeof(sock), "%s/vpcd.sock", E->run_dir);
	_cleanup_json_ json_t *req = json_pack("{s:s, s:s, s:o}", "Action", action, "Region", region,
					       "Params", params);
	int r = rpc_call_stream(sock, req, NULL, NULL, ret, e);
	if (r == -ECONNREFUSED || r == -ENOENT)
		err_set(e, "ServiceUnavailable", "vpcd is not running (its socket is '%s')", sock);
	return r;
}

static const struct action {
	const char *name;
	ehandler_fn fn;
	bool unlocked;
} actions[] = {
	{"RunInstances", h_run_instances, false},
	{"DescribeInstances", h_describe_instances, false},
	{"DescribeInstanceStatus", h_describe_instance_status, false},
	{"DescribeInstanceAttribute", h_describe_instance_attribute, false},
	{"ModifyInstanceAttribute", h_modify_instance_attribute, false},
	{"StopInstances", h_stop_instances, false},
	{"StartInstances", h_start_instances, false},
	{"RebootInstances", h_reboot_instances, false},
	{"TerminateInstances", h_terminate_instances, false},
	{"GetConsoleOutput", h_get_console_output, false},
	{"DescribeImages", h_describe_images, false},
	{"DescribeInstanceTypes", h_describe_instance_types, false},
	{"DescribeLab", h_describe_lab, false},
	{"AuditLab", h_audit_lab, false},
	{"Exec", h_exec, true},
	{"ImdsGet", h_imds_get, true},
	{"ImdsToken", h_imds_token, true},
	{"AttachNetworkInterface", h_attach_network_interface, false},
	{"DetachNetworkInterface", h_detach_network_interface, false},
	{"CreateTags", h_create_tags, false},
	{"DeleteTags", h_delete_tags, false},
	{"DescribeTags", h_describe_tags, false},
	{"CreateKeyPair", h_create_key_pair, false},
	{"ImportKeyPair", h_import_key_pair, false},
	{"DescribeKeyPairs", h_describe_key_pairs, false},
	{"DeleteKeyPair", h_delete_key_pair, false},
	{"CreateVolume", h_create_volume, false},
	{"DescribeVolumes", h_describe_volumes, false},
	{"AttachVolume", h_attach_volume, false},
	{"DetachVolume", h_detach_volume, false},
	{"DeleteVolume", h_delete_volume, false},
	{"CreateLaunchTemplate", h_create_launch_template, false},
	{"DescribeLaunchTemplates", h_describe_launch_templates, false},
	{"ModifyLaunchTemplate", h_modify_launch_template, false},
	{"DeleteLaunchTemplate", h_delete_launch_template, false},
	{"CreateLaunchTemplateVersion", h_create_launch_template_version, false},
	{"DescribeLaunchTemplateVersions", h_describe_launch_template_versions, false},
	{"DeleteLaunchTemplateVersions", h_delete_launch_template_versions, false},
	/* FIS (fis.c), on the same socket: its names do not collide with EC2's. */
	{"CreateExperimentTemplate", h_create_experiment_template, false},
	{"GetExperimentTemplate", h_get_experiment_template, false},
	{"UpdateExperimentTemplate", h_update_experiment_template, false},
	{"DeleteExperimentTemplate", h_delete_experiment_template, false},
	{"ListExperimentTemplates", h_list_experiment_templates, false},
	{"StartExperiment", h_start_experiment, false},
	{"GetExperiment", h_get_experiment, false},
	{"StopExperiment", h_stop_experiment, false},
	{"ListExperiments", h_list_experiments, false},
	{"ListActions", h_list_actions, false},
	{"GetAction", h_get_action, false},
	{"ListTargetResourceTypes", h_list_target_resource_types, false},
	{"GetTargetResourceType", h_get_target_resource_type, false},
	{"TagResource", h_tag_resource, false},
	{"UntagResource", h_untag_resource, false},
	{"ListTagsForResource", h_list_tags_for_resource, false},
	/* vpclab's own: probes and the experiment's report (probe.c, report.c). */
	{"CreateProbe", h_create_probe, false},
	{"DescribeProbes", h_describe_probes, false},
	{"DeleteProbe", h_delete_probe, false},
	{"GetExperimentReport", h_get_experiment_report, false},
	/* ec2d check's packets (check.c): unlocked, it takes the lock only to find the source. */
	{"CheckReach", h_check_reach, true},
	/* The lab's topology and its live page's calls (topology.c). */
	{"DescribeTopology", h_describe_topology, true},
	{"TopologyRelay", h_topology_relay, true},
	/* CloudFormation (cfn.c): unlocked, since a stack's engine calls ec2d_dispatch; the
	 * handlers take the lock themselves. */
	{"CreateStack", h_cfn_create_stack, true},
	{"UpdateStack", h_cfn_update_stack, true},
	{"DeleteStack", h_cfn_delete_stack, true},
	{"DescribeStacks", h_cfn_describe_stacks, true},
	{"DescribeStackEvents", h_cfn_describe_stack_events, true},
	{"DescribeStackResources", h_cfn_describe_stack_resources, true},
	{"DescribeStackResource", h_cfn_describe_stack_resource, true},
	{"ListStacks", h_cfn_list_stacks, true},
	{"ListStackResources", h_cfn_list_stack_resources, true},
	{"GetTemplate", h_cfn_get_template, true},
	{"GetTemplateSummary", h_cfn_get_template_summary, true},
	{"ValidateTemplate", h_cfn_validate_template, true},
	{"CreateChangeSet", h_cfn_create_change_set, true},
	{"DescribeChangeSet", h_cfn_describe_change_set, true},
	{"ExecuteChangeSet", h_cfn_execute_change_set, true},
	{"DeleteChangeSet", h_cfn_delete_change_set, true},
	{"ListChangeSets", h_cfn_list_change_sets, true},
	{"ListExports", h_cfn_list_exports, true},
};

/* Network verbs that name an instance (associate-address --instance-id, create-route
 * --instance-id) mean its network interface: vpcd only knows ENIs. */
static int instance_to_eni(const char *action, const char *region, json_t *params, struct err *e)
{
	const char *id = json_string_value(json_object_get(params, "InstanceId"));
	if (!id || (strcmp(action, "AssociateAddress") && strcmp(action, "CreateRoute") &&
		    strcmp(action, "ReplaceRoute")))
		return 0;
	pthread_mutex_lock(&E->lock);
	json_t *inst = instance_get(id);
	int r = 0;
	if (!inst || strcmp(jstr(inst, "_region"), region) != 0)
		r = err_set(e, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id);
	else if (!*jstr(inst, "_eni"))
		r = err_set(e, "IncorrectInstanceState", "The instance '%s' is terminated", id);
	else
		json_object_set_new(params, "NetworkInterfaceId", json_string(jstr(inst, "_eni")));
	pthread_mutex_unlock(&E->lock);
	if (r == 0)
		json_object_del(params, "InstanceId");
	return r;
}

static const struct action *action_of(const char *name)
{
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (strcmp(actions[i].name, name) == 0)
			return &actions[i];
	return NULL;
}

/* vpcd's action, to be passed on unchanged (no instance named where vpcd wants an ENI). */
static bool forwarded(const char *action, json_t *params)
{
	return !action_of(action) && !json_object_get(params, "InstanceId");
}

int ec2d_dispatch(const char *action, const char *region, json_t *params, int fd, json_t **ret,
		  struct err *e)
{
	const struct action *a = action_of(action);
	if (!a) {
		int r = instance_to_eni(action, region, params, e);
		return r < 0 ? r : vpc_call(region, action, json_incref(params), ret, e);
	}
	/* Reads are checked for permission only, as EC2 does. */
	if (json_is_true(json_object_get(params, "DryRun")) &&
	    (strncmp(action, "Describe", 8) == 0 || strcmp(action, "GetConsoleOutput") == 0))
		return err_set(e, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.");
	struct ereq rq = {.action = action, .region = region, .params = params, .fd = fd};
	if (a->unlocked)
		return a->fn(&rq, ret, e);
	pthread_mutex_lock(&E->lock);
	int r = a->fn(&rq, ret, e);
	pthread_mutex_unlock(&E->lock);
	return r;
}

/* A request ec2d only forwards goes to vpcd as it came, and vpcd's lines (its events, then
 * its answer) come back as they are: no JSON round in between (a large describe is most of
 * its cost in parsing and printing). 0 once the answer line is passed on. */
static int vpc_pass(int cfd, json_t *doc, bool *ret_failed, struct err *e)
{
	char sock[512];
	snprintf(sock, sizeof(sock), "%s/vpcd.sock", E->run_dir);
	_cleanup_free_ char *line = json_dumps(doc, JSON_COMPACT);
	if (!line)
		return err_set(e, "InternalError", "out of memory");
	int fd = rpc_connect(sock, e), r = 0;
	if (fd < 0) {
		if (fd == -ECONNREFUSED || fd == -ENOENT)
			err_set(e, "ServiceUnavailable", "vpcd is not running (its socket is '%s')", sock);
		return fd;
	}
	size_t n = strlen(line);
	line[n] = '\n'; /* json_dumps' terminator: the line is sent with its newline */
	if ((r = rpc_send_all(fd, line, n + 1)) < 0) {
		err_setr(e, r, "ServiceUnavailable", "cannot send to vpcd: %s", strerror(-r));
		goto out;
	}
	line[n] = 0;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	bool answered = false;
	while (!answered) {
		if (len + 65536 > cap) {
			char *nb = cap < 2 * RPC_MAX_LINE ? realloc(buf, cap = cap ? cap * 2 : 131072) : NULL;
			if (!nb)
				break;
			buf = nb;
		}
		ssize_t got = recv(fd, buf + len, cap - len, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
		/* Whole lines out; the answer is the line that is no event. */
		size_t done = 0;
		char *nl;
		while (!answered && (nl = memchr(buf + done, '\n', len - done))) {
			size_t ll = (size_t)(nl - (buf + done)) + 1;
			answered = !strncmp(buf + done, "{\"Result\"", 9) || !strncmp(buf + done, "{\"Error\"", 8);
			*ret_failed = !strncmp(buf + done, "{\"Error\"", 8);
			if (rpc_send_all(cfd, buf + done, ll) < 0)
				answered = true; /* the client went: nothing more to pass */
			done += ll;
		}
		memmove(buf, buf + done, len - done);
		len -= done;
	}
	free(buf);
	if (!answered)
		r = err_set(e, "ServiceUnavailable", "vpcd ended the connection without an answer");
out:
	close(fd);
	return r;
}

/* A connection: from the control socket (root or ec2d's own uid), or from a front's socket
 * (the front user only, and only the actions that front serves). */
struct conn {
	int fd;
	bool front;
	enum front_role role;
	uid_t uid;
};

static void *client(void *arg)
{
	struct conn cn = *(struct conn *)arg;
	free(arg);
	int fd = cn.fd;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	struct err e = {0};
	json_t *result = NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	struct rpc_request rq = {0};

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
	    (cn.front ? cred.uid != cn.uid : cred.uid != 0 && cred.uid != getuid()))
		goto out;
	for (;;) {
		if (len + 4096 > cap) {
			if (cap >= RPC_MAX_LINE)
				goto out;
			cap = cap ? cap * 2 : 65536;
			char *nb = realloc(buf, cap);
			if (!nb)
				goto out;
			buf = nb;
		}
		ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		len += (size_t)n;
		if (memchr(buf + len - n, '\n', (size_t)n))
			break;
	}
	char *nl = memchr(buf, '\n', len);
	if (rpc_parse_request(buf, (size_t)(nl - buf), &rq, &e) == 0) {
		if (cn.front && !front_may(cn.role, rq.action))
			err_set(&e, "InvalidAction", "The action %s is not valid for this web service.", rq.action);
		else if (cn.role != FRONT_IMDS && fis_api_fault(rq.action, NULL, &e) < 0)
			; /* an experiment's injected error */
		else if (forwarded(rq.action, rq.params)) {
			bool failed = false;
			if (vpc_pass(fd, rq.doc, &failed, &e) == 0) {
				fis_api_record(rq.action, failed ? "Error" : NULL);
				goto out;
			}
		} else
			ec2d_dispatch(rq.action, rq.region, rq.params, cn.front ? -1 : fd, &result, &e);
		if (!(cn.front && cn.role == FRONT_IMDS) && strcmp(rq.action, "DescribeLab") &&
		    strcmp(rq.action, "TopologyRelay"))
			fis_api_record(rq.action, err_isset(&e) ? e.code : NULL);
	}
	(void)rpc_send_response(fd, err_isset(&e) ? NULL : result, &e);
	json_decref(result);
out:
	rpc_request_done(&rq);
	free(buf);
	close(fd);
	return NULL;
}

int server_listen(const char *path, struct err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(e, "InvalidParameterValue", "socket path '%s' is too long", path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0660) < 0 ||
	    listen(fd, 128) < 0) {
		int r = -errno;
		if (fd >= 0)
			close(fd);
		return err_setr(e, r, "InternalError", "cannot listen on '%s': %s", path, strerror(-r));
	}
	return fd;
}

static void accept_loop(int lfd, const struct conn *proto)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			log_error("accept: %m");
			nanosleep(&(struct timespec){0, 100000000}, NULL);
			continue;
		}
		pthread_t t;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		struct conn *cn = malloc(sizeof(*cn));
		if (cn)
			*cn = *proto, cn->fd = fd;
		if (!cn || pthread_create(&t, &at, client, cn) != 0)
			close(fd), free(cn);
		pthread_attr_destroy(&at);
	}
}

void server_run(int lfd)
{
	accept_loop(lfd, &(struct conn){.front = false});
}

static void *front_accept(void *arg)
{
	struct conn *proto = arg;
	accept_loop(proto->fd, proto);
	return NULL;
}

void server_start_front(int lfd, enum front_role role, uid_t uid)
{
	struct conn *proto = malloc(sizeof(*proto));
	*proto = (struct conn){.fd = lfd, .front = true, .role = role, .uid = uid};
	pthread_t t;
	if (pthread_create(&t, NULL, front_accept, proto) == 0)
		pthread_detach(t);
}

/* --- domains that stopped: from libvirt's event thread to a worker that takes the lock ---- */

static pthread_mutex_t died_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t died_cond = PTHREAD_COND_INITIALIZER;
static json_t *died;

void died_enqueue(const char *name)
{
	pthread_mutex_lock(&died_lock);
	if (!died)
		died = json_array();
	json_array_append_new(died, json_string(name));
	pthread_cond_signal(&died_cond);
	pthread_mutex_unlock(&died_lock);
}

static void *died_worker(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&died_lock);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 2;
		while (json_array_size(died) == 0 &&
		       pthread_cond_timedwait(&died_cond, &died_lock, &ts) != ETIMEDOUT)
			;
		json_t *batch = died;
		died = NULL;
		pthread_mutex_unlock(&died_lock);
		pthread_mutex_lock(&E->lock);
		size_t i;
		json_t *v;
		json_array_foreach(batch, i, v) instance_died(json_string_value(v));
		/* After a libvirtd restart the connections and console streams are gone: find
		 * the instances again. */
		instances_refresh();
		pthread_mutex_unlock(&E->lock);
		json_decref(batch);
	}
	return NULL;
}

void died_worker_start(void)
{
	pthread_t t;
	pthread_create(&t, NULL, died_worker, NULL);
	pthread_detach(t);
}
