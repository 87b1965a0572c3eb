/* Images (AMIs) and instance types. An image is a directory made by images/build, holding
 * image.json; its AMI ID derives from the content digest, so the same image built anywhere has
 * the same ID. Scripts written for AWS name public images (an Amazon Linux AMI ID, or a name
 * they look up with describe-images --owners amazon): `ec2d serve --image-map FILE` lists such
 * IDs and names, each standing for a local image, and `--default-image NAME` makes every other
 * well-formed AMI ID launch NAME (off by default: AWS refuses an unknown ID, and so does
 * vpclab). docs/images.md. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "ec2d.h"
#include "filter.h"

/* A local image by its AMI ID, its name or its directory's name (not an entry of the map). */
static json_t *local_image(json_t *images, const char *name)
{
	const char *id;
	json_t *img;
	json_object_foreach(images, id, img) if (!*jstr(img, "_alias_of") &&
						 (!strcmp(id, name) || !strcmp(jstr(img, "Name"), name) ||
						  !strcmp(jstr(img, "_dirname"), name))) return img;
	return NULL;
}

/* The image map: {"Images": [{"ImageId": "ami-...", "Name": "...", "OwnerId": "...", "Image":
 * "<local image>"}, ...]}; each entry is an image of its own ID, name and owner (Amazon's,
 * 137112412989, unless given) whose content is the local image's. Any fault refuses the whole
 * file, naming the entry. */
static int image_map_load(json_t *images, struct err *e)
{
	if (*E->default_image && !local_image(images, E->default_image))
		return err_set(e, "InvalidParameterValue", "--default-image: no local image '%s' in %s", E->default_image,
			       E->images_dir);
	if (!*E->image_map)
		return 0;
	json_error_t je;
	_cleanup_json_ json_t *m = json_load_file(E->image_map, 0, &je);
	if (!m)
		return err_set(e, "InvalidParameterValue", "--image-map %s: %s (line %d)", E->image_map, je.text, je.line);
	json_t *list = json_object_get(m, "Images"), *x;
	size_t i;
	if (!json_is_array(list))
		return err_set(e, "InvalidParameterValue", "--image-map %s: no \"Images\" list", E->image_map);
	json_array_foreach(list, i, x)
	{
		const char *id = jstr(x, "ImageId"), *local = jstr(x, "Image"), *owner = jstr(x, "OwnerId");
		if (id_check(id, "ami") < 0)
			return err_set(e, "InvalidParameterValue", "--image-map %s: entry %zu: ImageId '%s' is not an AMI ID",
				       E->image_map, i + 1, id);
		if (json_object_get(images, id))
			return err_set(e, "InvalidParameterValue", "--image-map %s: entry %zu: %s is already an image",
				       E->image_map, i + 1, id);
		json_t *img = local_image(images, local);
		if (!img)
			return err_set(e, "InvalidParameterValue", "--image-map %s: entry %zu: no local image '%s' in %s",
				       E->image_map, i + 1, local, E->images_dir);
		if (*owner && (strlen(owner) != 12 || strspn(owner, "0123456789") != 12))
			return err_set(e, "InvalidParameterValue", "--image-map %s: entry %zu: OwnerId '%s' is not an account ID",
				       E->image_map, i + 1, owner);
		json_t *alias = json_deep_copy(img);
		json_object_set_new(alias, "ImageId", json_string(id));
		if (*jstr(x, "Name"))
			json_object_set_new(alias, "Name", json_string(jstr(x, "Name")));
		if (*jstr(x, "Description"))
			json_object_set_new(alias, "Description", json_string(jstr(x, "Description")));
		json_object_set_new(alias, "OwnerId", json_string(*owner ? owner : AMAZON_OWNER_ID));
		json_object_set_new(alias, "_alias_of", json_string(jstr(img, "ImageId")));
		json_object_set_new(images, id, alias);
	}
	return 0;
}

int images_load(struct err *e)
{
	json_t *images = json_object();
	DIR *d = opendir(E->images_dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char path[768], id[32];
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/image.json", E->images_dir, de->d_name);
		json_t *img = json_load_file(path, 0, NULL);
		const char *digest = jstr(img, "Digest"), *kind = jstr(img, "Kind");
		if (!img || strlen(digest) < 17 || (strcmp(kind, "lxc") && strcmp(kind, "qemu"))) {
			json_decref(img);
			continue;
		}
		snprintf(id, sizeof(id), "ami-%.17s", digest);
		snprintf(path, sizeof(path), "%s/%s", E->images_dir, de->d_name);
		json_object_set_new(img, "ImageId", json_string(id));
		json_object_set_new(img, "_dir", json_string(path));
		json_object_set_new(img, "_dirname", json_string(de->d_name));
		json_object_set_new(images, id, img);
	}
	if (d)
		closedir(d);
	int r = image_map_load(images, e);
	if (r < 0) {
		json_decref(images);
		return r;
	}
	json_decref(E->images);
	E->images = images;
	return 0;
}

json_t *image_get(const char *image_id)
{
	json_t *img = json_object_get(E->images, image_id);
	if (!img && *E->default_image && id_check(image_id, "ami") == 0)
		img = local_image(E->images, E->default_image);
	return img;
}

static const char *image_owner(json_t *img) { return *jstr(img, "OwnerId") ? jstr(img, "OwnerId") : OWNER_ID; }

static json_t *image_public(json_t *img)
{
	bool vm = strcmp(jstr(img, "Kind"), "qemu") == 0;
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[], s:[{s:s, s:s}]}",
			 "ImageId", jstr(img, "ImageId"), "ImageLocation",
			 jstr(img, "_dir"), "State", "available", "OwnerId", image_owner(img), "CreationDate",
			 *jstr(img, "CreationDate") ? jstr(img, "CreationDate") : "2026-01-01T00:00:00.000Z",
			 "Public", *jstr(img, "_alias_of") != 0, "Architecture", *jstr(img, "Architecture") ? jstr(img, "Architecture") : "x86_64",
			 "ImageType", "machine", "Name", jstr(img, "Name"), "Description",
			 jstr(img, "Description"), "RootDeviceType", "ebs", "RootDeviceName", "/dev/xvda",
			 "VirtualizationType", "hvm", "Hypervisor", "xen", "PlatformDetails", "Linux/UNIX",
			 "BlockDeviceMappings", "Tags", "Key", "vpclab:kind", "Value", vm ? "vm" : "container");
}

static const struct filter_map image_filters[] = {
	{"image-id", "ImageId"},	 {"name", "Name"},	   {"description", "Description"},
	{"architecture", "Architecture"}, {"state", "State"},     {"owner-id", "OwnerId"},
	{"image-type", "ImageType"},	 {"is-public", "Public"}, {"root-device-type", "RootDeviceType"},
	{"virtualization-type", "VirtualizationType"}, {"hypervisor", "Hypervisor"},
	{NULL, NULL}};

int h_describe_images(struct ereq *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *ids = jlist(rq->params, "ImageIds");
	_cleanup_json_ json_t *filters = jlist(rq->params, "Filters");
	_cleanup_json_ json_t *owners = jlist(rq->params, "Owners");
	json_t *out = json_array(), *v, *img;
	const char *id;
	size_t i;
	int r;

	/* The catalog follows images/build without a restart. */
	if ((r = images_load(e)) < 0 || (r = filters_check(filters, image_filters, e)) < 0) {
		json_decref(out);
		return r;
	}
	json_array_foreach(ids, i, v)
	{
		const char *want = json_string_value(v) ?: "";
		if (id_check(want, "ami") < 0) {
			json_decref(out);
			return err_set(e, "InvalidAMIID.Malformed", "Invalid id: \"%s\" (expecting \"ami-...\")", want);
		}
		if (!json_object_get(E->images, want)) { /* not image_get: the default image stands in only at launch */
			json_decref(out);
			return err_set(e, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist", want);
		}
	}
	json_object_foreach(E->images, id, img)
	{
		bool want = !json_array_size(ids) || jlist_has(ids, id);
		/* Owners: self (the lab's account), amazon, or account IDs; the map's images are
		 * the only ones anybody else publishes in a lab. */
		bool owned = json_array_size(owners) == 0;
		json_array_foreach(owners, i, v)
		{
			const char *o = json_string_value(v) ?: "";
			o = !strcmp(o, "self") ? OWNER_ID : !strcmp(o, "amazon") ? AMAZON_OWNER_ID : o;
			owned |= !strcmp(o, image_owner(img));
		}
		if (!want || !owned)
			continue;
		json_t *pub = image_public(img);
		if (filters_match(pub, filters, image_filters))
			json_array_append(out, pub);
		json_decref(pub);
	}
	*ret = json_pack("{s:o}", "Images", out);
	return 0;
}

/* Instance types: vCPUs and memory become the domain's <vcpu> and <memory>. */
static const struct {
	const char *name;
	int vcpus;
	int mib;
	const char *net;
	bool burst;
} types[] = {
	{"t2.nano", 1, 512, "Low to Moderate", true},
	{"t2.micro", 1, 1024, "Low to Moderate", true},
	{"t2.small", 1, 2048, "Low to Moderate", true},
	{"t3.nano", 2, 512, "Up to 5 Gigabit", true},
	{"t3.micro", 2, 1024, "Up to 5 Gigabit", true},
	{"t3.small", 2, 2048, "Up to 5 Gigabit", true},
	{"t3.medium", 2, 4096, "Up to 5 Gigabit", true},
	{"t3.large", 2, 8192, "Up to 5 Gigabit", true},
	{"t3.xlarge", 4, 16384, "Up to 5 Gigabit", true},
	{"m5.large", 2, 8192, "Up to 10 Gigabit", false},
	{"m5.xlarge", 4, 16384, "Up to 10 Gigabit", false},
	{"c5.large", 2, 4096, "Up to 10 Gigabit", false},
	{"c5.xlarge", 4, 8192, "Up to 10 Gigabit", false},
	{"r5.large", 2, 16384, "Up to 10 Gigabit", false},
};

static json_t *type_json(size_t i)
{
	return json_pack("{s:s, s:b, s:b, s:[s], s:[s], s:[s], s:b, s:s, s:{s:[s], s:f}, s:{s:i, s:i, s:i}, s:{s:I}, s:b, s:{s:s, s:i, s:i}, s:b}",
			 "InstanceType", types[i].name, "CurrentGeneration", 1, "FreeTierEligible",
			 strcmp(types[i].name, "t2.micro") == 0 || strcmp(types[i].name, "t3.micro") == 0,
			 "SupportedUsageClasses", "on-demand", "SupportedRootDeviceTypes", "ebs",
			 "SupportedVirtualizationTypes", "hvm", "BareMetal", 0, "Hypervisor", "nitro",
			 "ProcessorInfo", "SupportedArchitectures", "x86_64", "SustainedClockSpeedInGhz", 3.1,
			 "VCpuInfo", "DefaultVCpus", types[i].vcpus, "DefaultCores",
			 types[i].vcpus > 1 ? types[i].vcpus / 2 : 1, "DefaultThreadsPerCore",
			 types[i].vcpus > 1 ? 2 : 1, "MemoryInfo", "SizeInMiB", (json_int_t)types[i].mib,
			 "InstanceStorageSupported", 0, "NetworkInfo", "NetworkPerformance", types[i].net,
			 "MaximumNetworkInterfaces", 1, "Ipv4AddressesPerInterface", 1,
			 "BurstablePerformanceSupported", types[i].burst);
}

const json_t *instance_type_get(const char *name)
{
	static json_t *all;
	if (!all) {
		all = json_object();
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			json_object_set_new(all, types[i].name, type_json(i));
	}
	return name ? json_object_get(all, name) : all;
}

static const struct filter_map type_filters[] = {
	{"instance-type", "InstanceType"},
	{"current-generation", "CurrentGeneration"},
	{"free-tier-eligible", "FreeTierEligible"},
	{"vcpu-info.default-vcpus", "VCpuInfo.DefaultVCpus"},
	{"memory-info.size-in-mib", "MemoryInfo.SizeInMiB"},
	{"processor-info.supported-architecture", "ProcessorInfo.SupportedArchitectures"},
	{"burstable-performance-supported", "BurstablePerformanceSupported"},
	{"hypervisor", "Hypervisor"},
	{NULL, NULL}};

int h_describe_instance_types(struct ereq *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *names = jlist(rq->params, "InstanceTypes");
	_cleanup_json_ json_t *filters = jlist(rq->params, "Filters");
	const json_t *all = instance_type_get(NULL);
	json_t *out = json_array(), *v;
	size_t i;
	int r;
	if ((r = filters_check(filters, type_filters, e)) < 0) {
		json_decref(out);
		return r;
	}
	json_array_foreach(names, i, v) if (!json_object_get(all, json_string_value(v) ?: ""))
	{
		json_decref(out);
		return err_set(e, "InvalidInstanceType",
			       "The following supplied instance types do not exist: [%s]",
			       json_string_value(v) ?: "");
	}
	for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
		json_t *t = json_object_get(all, types[k].name);
		bool want = json_array_size(names) == 0;
		json_array_foreach(names, i, v) want |= strcmp(json_string_value(v), types[k].name) == 0;
		if (want && filters_match(t, filters, type_filters))
			json_array_append(out, t);
	}
	*ret = json_pack("{s:o}", "InstanceTypes", out);
	return 0;
}
