/* Volumes: CreateVolume, DescribeVolumes, AttachVolume, DetachVolume, DeleteVolume. A volume is
 * a record of type "volume" in ec2d's store (journaled) and a directory
 * <state-dir>/volumes/<vol-id>; attached to a container it is mounted at /mnt/<device name>
 * (/dev/sdf: /mnt/sdf) in the container's mount namespace, a bind mount made from outside
 * (open_tree + move_mount), at once when the container runs and again at every start, so its
 * files survive stop/start and move with the volume to another instance. Why a directory and
 * not an ext4 image: docs/volumes.md. Volumes of VMs are not done (UnsupportedOperation). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <libvirt/libvirt-lxc.h>
#include "cleanup.h"
#include "ec2d.h"
#include "filter.h"
#include "log.h"

static json_t *volume_get(const char *region, const char *id)
{
	json_t *o = json_object_get(store_objects(E->store), id);
	if (strcmp(jstr(o, "_type"), "volume") || strcmp(jstr(o, "_region"), region))
		return NULL;
	return o;
}

static void volume_dir(const char *id, char buf[static 512])
{
	snprintf(buf, 512, "%s/volumes/%s", E->state_dir, id);
}

static json_t *volume_public(json_t *v)
{
	json_t *pub = json_object(), *x;
	const char *k;
	json_object_foreach(v, k, x) if (k[0] != '_') json_object_set(pub, k, x);
	return pub;
}

static int commit_volume(const char *id, json_t *v, struct err *e)
{
	_cleanup_json_ json_t *ch = json_object();
	json_object_set(ch, id, v ? v : json_null());
	return state_commit(ch, e);
}

#define DRY_RUN(e) err_set(e, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")

static int find(struct ereq *rq, const char *id, json_t **ret, struct err *e)
{
	if (!*id)
		return err_set(e, "MissingParameter", "The request must contain the parameter VolumeId");
	if (id_check(id, "vol") < 0)
		return err_set(e, "InvalidParameterValue", "Invalid id: \"%s\" (expecting \"vol-...\")", id);
	if (!(*ret = volume_get(rq->region, id)))
		return err_set(e, "InvalidVolume.NotFound", "The volume '%s' does not exist.", id);
	return 0;
}

/* --- the mount in a container ------------------------------------------------------------------ */

/* Runs in a forked child of a threaded process: system calls only. Mounts `src` (a host
 * directory) at `target` in the namespace `mnt`, or (src NULL) detaches what is there. */
static int child_mount(int mnt, const char *src, const char *target)
{
	int tree = -1;
	if (src) {
		tree = (int)syscall(SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
		if (tree < 0)
			return 10;
	}
	if (setns(mnt, CLONE_NEWNS) < 0)
		return 11;
	if (!src)
		return umount2(target, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT ? 12 : 0;
	if (mkdir("/mnt", 0755) < 0 && errno != EEXIST)
		return 13;
	if (mkdir(target, 0755) < 0 && errno != EEXIST)
		return 13;
	if (syscall(SYS_move_mount, tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return 14;
	return 0;
}

/* In the running container `inst`: mount (src) or unmount (src NULL) at /mnt/<dev>. */
static int container_mount(json_t *inst, const char *src, const char *device, struct err *e)
{
	char name[64], target[80];
	const char *base = strrchr(device, '/');
	snprintf(target, sizeof(target), "/mnt/%s", base ? base + 1 : device);
	domain_name(jstr(inst, "InstanceId"), name);
	virConnectPtr c = domain_conn("lxc", e);
	if (!c)
		return -ENOTCONN;
	virDomainPtr d = virDomainLookupByName(c, name);
	int *fds = NULL, nfds = d ? virDomainLxcOpenNamespace(d, &fds, 0) : -1;
	if (d)
		virDomainFree(d);
	if (nfds <= 0)
		return err_set(e, "IncorrectInstanceState", "The instance '%s' is not running", jstr(inst, "InstanceId"));
	int mnt = -1;
	for (int i = 0; i < nfds; i++) {
		char path[64], link[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fds[i]);
		ssize_t l = readlink(path, link, sizeof(link) - 1);
		if (l > 0 && (link[l] = 0, strncmp(link, "mnt:", 4) == 0))
			mnt = fds[i];
	}
	int status = -1;
	pid_t pid = mnt >= 0 ? fork() : -1;
	if (pid == 0)
		_exit(child_mount(mnt, src, target));
	if (pid > 0)
		waitpid(pid, &status, 0);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	free(fds);
	if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		return err_set(e, "InternalError", "cannot %s '%s' in the container of '%s' (step %d)",
			       src ? "mount the volume at" : "unmount", target, jstr(inst, "InstanceId"),
			       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}

/* domain.c, after a container started: its attached volumes again. */
void volumes_mount(json_t *inst)
{
	const char *id, *iid = jstr(inst, "InstanceId");
	json_t *o;
	json_object_foreach(store_objects(E->store), id, o)
	{
		json_t *att = json_array_get(json_object_get(o, "Attachments"), 0);
		if (strcmp(jstr(o, "_type"), "volume") || strcmp(jstr(att, "InstanceId"), iid))
			continue;
		char dir[512];
		struct err e = {0};
		volume_dir(id, dir);
		if (container_mount(inst, dir, jstr(att, "Device"), &e) < 0)
			log_warn("volume %s on %s: %s", id, iid, e.msg);
	}
}

/* instance.c, when an instance is terminated: its volumes are detached (DeleteOnTermination
 * is false for volumes attached by AttachVolume, as in EC2). */
void volumes_release(const char *instance_id)
{
	const char *id;
	json_t *o;
	json_object_foreach(store_objects(E->store), id, o)
	{
		json_t *att = json_array_get(json_object_get(o, "Attachments"), 0);
		if (strcmp(jstr(o, "_type"), "volume") || strcmp(jstr(att, "InstanceId"), instance_id))
			continue;
		_cleanup_json_ json_t *nv = json_deep_copy(o);
		json_object_set_new(nv, "Attachments", json_array());
		json_object_set_new(nv, "State", json_string("available"));
		struct err e = {0};
		if (commit_volume(id, nv, &e) < 0)
			log_warn("volume %s: %s", id, e.msg);
	}
}

/* --- the actions -------------------------------------------------------------------------------- */

int h_create_volume(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *P = rq->params;
	const char *az = jstr(P, "AvailabilityZone"), *type = *jstr(P, "VolumeType") ? jstr(P, "VolumeType") : "gp2";
	json_t *size = json_object_get(P, "Size");
	long long gib = json_is_integer(size) ? json_integer_value(size) : json_is_string(size) ? atoll(json_string_value(size)) : 0;
	if (!*az)
		return err_set(e, "MissingParameter", "The request must contain the parameter AvailabilityZone");
	if (*jstr(P, "SnapshotId"))
		return err_set(e, "UnsupportedOperation", "vpclab has no snapshots: a volume is made empty ('%s')",
			       jstr(P, "SnapshotId"));
	if (!size)
		return err_set(e, "MissingParameter", "The request must contain the parameter size or snapshotId");
	static const char *const types[] = {"gp2", "gp3", "io1", "io2", "st1", "sc1", "standard", NULL};
	bool known = false;
	for (const char *const *t = types; *t; t++)
		known |= !strcmp(*t, type);
	if (!known)
		return err_set(e, "InvalidParameterValue", "Value (%s) for parameter volumeType is invalid.", type);
	long long lo = !strcmp(type, "st1") || !strcmp(type, "sc1") ? 125 : !strcmp(type, "io1") || !strcmp(type, "io2") ? 4 : 1;
	long long hi = !strcmp(type, "standard") ? 1024 : !strcmp(type, "io2") ? 65536 : 16384;
	if (gib < lo || gib > hi)
		return err_set(e, "InvalidParameterValue",
			       "Volume of %lld GiB is too %s; %s volumes are %lld to %lld GiB.", gib, gib < lo ? "small" : "large",
			       type, lo, hi);
	json_t *zres = NULL;
	struct err ze = {0};
	int r = vpc_call(rq->region, "DescribeAvailabilityZones", json_pack("{s:[s]}", "ZoneNames", az), &zres, &ze);
	json_decref(zres);
	if (r < 0)
		return err_set(e, "InvalidParameterValue", "Invalid availability zone: [%s]", az);
	json_t *tags = NULL;
	if ((r = tag_specs_of(P, "volume", &tags, e)) < 0)
		return r;
	if (json_is_true(json_object_get(P, "DryRun"))) {
		json_decref(tags);
		return DRY_RUN(e);
	}
	char id[ID_MAX], when[32], dir[512], parent[512];
	id_make(&E->ids, "vol", id);
	time_iso(when);
	snprintf(parent, sizeof(parent), "%s/volumes", E->state_dir);
	mkdir(parent, 0700);
	volume_dir(id, dir);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		json_decref(tags);
		return err_setr(e, -errno, "InternalError", "cannot make '%s': %m", dir);
	}
	long long iops = !strcmp(type, "gp3") ? 3000 : !strcmp(type, "gp2") ? (gib * 3 < 100 ? 100 : gib * 3 > 16000 ? 16000 : gib * 3) : 0;
	_cleanup_json_ json_t *v = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:[], s:b, s:s, s:b, s:o}", "_type", "volume",
					     "_region", rq->region, "VolumeId", id, "Size", (json_int_t)gib, "AvailabilityZone", az,
					     "VolumeType", type, "CreateTime", when, "Attachments", "Encrypted", 0, "State",
					     "available", "MultiAttachEnabled", 0, "Tags", tags);
	if (iops)
		json_object_set_new(v, "Iops", json_integer(iops));
	if (!strcmp(type, "gp3"))
		json_object_set_new(v, "Throughput", json_integer(125));
	if ((r = commit_volume(id, v, e)) < 0) {
		rmdir(dir);
		return r;
	}
	/* As EC2 answers: the volume is being made (it is available by the next describe). */
	json_t *pub = volume_public(v);
	json_object_set_new(pub, "State", json_string("creating"));
	*ret = pub;
	return 0;
}

static const struct filter_map volume_filters[] = {{"volume-id", "VolumeId"},
						   {"status", "State"},
						   {"size", "Size"},
						   {"availability-zone", "AvailabilityZone"},
						   {"volume-type", "VolumeType"},
						   {"create-time", "CreateTime"},
						   {"encrypted", "Encrypted"},
						   {"attachment.instance-id", "Attachments.InstanceId"},
						   {"attachment.device", "Attachments.Device"},
						   {"attachment.status", "Attachments.State"},
						   {NULL, NULL}};

int h_describe_volumes(struct ereq *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *ids = jlist(rq->params, "VolumeIds");
	_cleanup_json_ json_t *filters = jlist(rq->params, "Filters");
	size_t i;
	json_t *v, *o;
	int r;
	if ((r = filters_check(filters, volume_filters, e)) < 0)
		return r;
	json_array_foreach(ids, i, v)
	{
		if ((r = find(rq, json_string_value(v) ?: "", &o, e)) < 0)
			return r;
	}
	if (json_is_true(json_object_get(rq->params, "DryRun")))
		return DRY_RUN(e);
	json_t *out = json_array();
	const char *id;
	json_object_foreach(store_objects(E->store), id, o)
	{
		if (strcmp(jstr(o, "_type"), "volume") || strcmp(jstr(o, "_region"), rq->region) ||
		    (json_array_size(ids) && !jlist_has(ids, id)))
			continue;
		json_t *pub = volume_public(o);
		if (filters_match(pub, filters, volume_filters))
			json_array_append(out, pub);
		json_decref(pub);
	}
	*ret = json_pack("{s:o}", "Volumes", out);
	return 0;
}

/* /dev/sd[f-p], /dev/sd[f-p][1-6], /dev/xvd[b-z]: the names EC2 takes for Linux data volumes. */
static bool device_ok(const char *d)
{
	if (!strncmp(d, "/dev/sd", 7) && d[7] >= 'f' && d[7] <= 'p')
		return !d[8] || (d[8] >= '1' && d[8] <= '6' && !d[9]);
	if (!strncmp(d, "/dev/xvd", 8) && d[8] >= 'b' && d[8] <= 'z')
		return !d[9];
	return false;
}

int h_attach_volume(struct ereq *rq, json_t **ret, struct err *e)
{
	const char *vid = jstr(rq->params, "VolumeId"), *iid = jstr(rq->params, "InstanceId"),
		   *dev = jstr(rq->params, "Device");
	json_t *v, *o;
	int r;
	if (!*dev)
		return err_set(e, "MissingParameter", "The request must contain the parameter device");
	if (!*iid)
		return err_set(e, "MissingParameter", "The request must contain the parameter InstanceId");
	if ((r = find(rq, vid, &v, e)) < 0)
		return r;
	json_t *inst = instance_get(iid);
	if (!inst || strcmp(jstr(inst, "_region"), rq->region))
		return err_set(e, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", iid);
	if (!device_ok(dev))
		return err_set(e, "InvalidParameterValue", "Value (%s) for parameter device is invalid. %s is not a valid EBS device name.",
			       dev, dev);
	if (json_array_size(json_object_get(v, "Attachments")))
		return err_set(e, "VolumeInUse", "%s is already attached to an instance", vid);
	if (strcmp(jstr(v, "State"), "available"))
		return err_set(e, "IncorrectState", "The volume '%s' is not 'available'.", vid);
	const char *st = jstr(json_object_get(inst, "State"), "Name");
	if (strcmp(st, "running") && strcmp(st, "stopped"))
		return err_set(e, "IncorrectInstanceState", "Instance '%s' is not 'running'.", iid);
	if (strcmp(jstr(json_object_get(inst, "Placement"), "AvailabilityZone"), jstr(v, "AvailabilityZone")))
		return err_set(e, "InvalidVolume.ZoneMismatch",
			       "The volume '%s' is not in the same availability zone as instance '%s'", vid, iid);
	const char *k;
	json_object_foreach(store_objects(E->store), k, o)
	{
		json_t *att = json_array_get(json_object_get(o, "Attachments"), 0);
		if (!strcmp(jstr(o, "_type"), "volume") && !strcmp(jstr(att, "InstanceId"), iid) &&
		    !strcmp(jstr(att, "Device"), dev))
			return err_set(e, "InvalidParameterValue", "Attachment point %s is already in use", dev);
	}
	if (strcmp(jstr(inst, "_kind"), "lxc"))
		return err_set(e, "UnsupportedOperation", "vpclab attaches volumes to containers only, not to the VM '%s'", iid);
	if (json_is_true(json_object_get(rq->params, "DryRun")))
		return DRY_RUN(e);
	char dir[512], when[32];
	volume_dir(vid, dir);
	if (!strcmp(st, "running") && (r = container_mount(inst, dir, dev, e)) < 0)
		return r;
	time_iso(when);
	_cleanup_json_ json_t *nv = json_deep_copy(v);
	json_t *att = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "AttachTime", when, "Device", dev, "InstanceId", iid, "State",
				"attached", "VolumeId", vid, "DeleteOnTermination", 0);
	json_object_set_new(nv, "Attachments", json_pack("[o]", att));
	json_object_set_new(nv, "State", json_string("in-use"));
	if ((r = commit_volume(vid, nv, e)) < 0)
		return r;
	json_t *out = json_deep_copy(att);
	json_object_set_new(out, "State", json_string("attaching"));
	*ret = out;
	return 0;
}

int h_detach_volume(struct ereq *rq, json_t **ret, struct err *e)
{
	const char *vid = jstr(rq->params, "VolumeId"), *iid = jstr(rq->params, "InstanceId");
	json_t *v;
	int r;
	if ((r = find(rq, vid, &v, e)) < 0)
		return r;
	json_t *att = json_array_get(json_object_get(v, "Attachments"), 0);
	if (!att)
		return err_set(e, "IncorrectState", "Volume '%s' is in the '%s' state.", vid, jstr(v, "State"));
	if (*iid && strcmp(iid, jstr(att, "InstanceId")))
		return err_set(e, "InvalidAttachment.NotFound", "The volume '%s' is not attached to instance '%s'", vid, iid);
	if (*jstr(rq->params, "Device") && strcmp(jstr(rq->params, "Device"), jstr(att, "Device")))
		return err_set(e, "InvalidAttachment.NotFound", "The volume '%s' is not attached at '%s'", vid,
			       jstr(rq->params, "Device"));
	if (json_is_true(json_object_get(rq->params, "DryRun")))
		return DRY_RUN(e);
	json_t *inst = instance_get(jstr(att, "InstanceId"));
	if (inst && !strcmp(jstr(json_object_get(inst, "State"), "Name"), "running") &&
	    (r = container_mount(inst, NULL, jstr(att, "Device"), e)) < 0)
		return r;
	json_t *out = json_deep_copy(att);
	json_object_set_new(out, "State", json_string("detaching"));
	_cleanup_json_ json_t *nv = json_deep_copy(v);
	json_object_set_new(nv, "Attachments", json_array());
	json_object_set_new(nv, "State", json_string("available"));
	if ((r = commit_volume(vid, nv, e)) < 0) {
		json_decref(out);
		return r;
	}
	*ret = out;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(path) < 0 ? -1 : 0;
}

int h_delete_volume(struct ereq *rq, json_t **ret, struct err *e)
{
	const char *vid = jstr(rq->params, "VolumeId");
	json_t *v;
	int r;
	if ((r = find(rq, vid, &v, e)) < 0)
		return r;
	if (json_array_size(json_object_get(v, "Attachments")))
		return err_set(e, "VolumeInUse", "Volume %s is currently attached to %s", vid,
			       jstr(json_array_get(json_object_get(v, "Attachments"), 0), "InstanceId"));
	if (json_is_true(json_object_get(rq->params, "DryRun")))
		return DRY_RUN(e);
	char dir[512];
	volume_dir(vid, dir);
	if ((r = commit_volume(vid, NULL, e)) < 0)
		return r;
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	*ret = json_object();
	return 0;
}
