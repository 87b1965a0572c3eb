#!/usr/bin/env python3
"""End to end: public image names and IDs mapped to local images (ec2d serve --image-map,
--default-image; ec2d/catalog.c, docs/images.md). A script written for AWS finds "Amazon
Linux" with `aws ec2 describe-images --owners amazon --filters Name=name,Values=al2023-ami-*`
and launches it: here that is the mapped busybox image, and the instance keeps the public ID.
An AMI ID the map does not name is refused as AWS refuses it, until ec2d is restarted with
--default-image, which launches it as the default. A bad map stops `ec2d serve` with a message
naming the entry."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402

AL2023 = "ami-0a1b2c3d4e5f60718"
UNKNOWN = "ami-0123456789abcdef0"
tmp = tempfile.mkdtemp(prefix="vpclab-images-")
mapfile = os.path.join(tmp, "image-map.json")
with open(mapfile, "w") as f:
    json.dump({"Images": [{"ImageId": AL2023, "Name": "al2023-ami-2023.6.20241212.0-kernel-6.1-x86_64",
                           "Description": "Amazon Linux 2023 AMI (vpclab: busybox)", "Image": "busybox"}]}, f)
lab = t.Lab("198.18.72.0/22", default_vpc=True, ec2d_args=["--image-map", mapfile])
if not lab.image_ready("busybox", wait=5):
    t.skip_all("no busybox image (images/build busybox)")
ec2 = lab.client
local = lab.ami("busybox")

rc, out, err = lab.aws("describe-images", "--owners", "amazon", "--filters", "Name=name,Values=al2023-ami-*")
imgs = (out or {}).get("Images", [])
t.ok(rc == 0 and [i["ImageId"] for i in imgs] == [AL2023], "describe-images --owners amazon --filters name=al2023-ami-*: "
     "the mapped ID", err, imgs)
if imgs:
    t.ok(imgs[0]["OwnerId"] == "137112412989" and imgs[0]["Public"] is True and
         imgs[0]["Name"].startswith("al2023-ami-"), "it is Amazon's (137112412989), public, under its public name", imgs[0])
mine = [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]]
t.ok(local in mine and AL2023 not in mine, "--owners self: the lab's own images, not the mapped one", mine)

r = ec2.run_instances(ImageId=AL2023, MinCount=1, MaxCount=1, InstanceType="t3.micro")
i1 = r["Instances"][0]["InstanceId"]
t.is_(r["Instances"][0]["ImageId"], AL2023, "run-instances of the public ID: the instance's ImageId is that ID")
t.ok(t.retry(lambda: ec2.describe_instances(InstanceIds=[i1])["Reservations"][0]["Instances"][0]["State"]["Name"] == "running",
             timeout=60), "the instance runs")
rc, out, err = lab.exec(i1, "sh", "-c", "busybox | head -1")
t.like(out, r"BusyBox", "inside, it is the local busybox image", err)

rc, out, err = lab.aws("run-instances", "--image-id", UNKNOWN, "--instance-type", "t3.micro")
t.ok(rc == 254 and "InvalidAMIID.NotFound" in err, "an AMI ID the map does not name: InvalidAMIID.NotFound", err)
n = sum(len(x["Instances"]) for x in ec2.describe_instances()["Reservations"])
t.is_(n, 1, "and nothing was launched")

# A bad map: ec2d serve refuses to start and names the entry; nothing of the lab changes.
bad = os.path.join(tmp, "bad.json")
with open(bad, "w") as f:
    json.dump({"Images": [{"ImageId": AL2023, "Image": "busybox"}, {"ImageId": "ami-0ffffffffffffffff",
                                                                     "Image": "no-such-image"}]}, f)
p = subprocess.run([lab.ec2d_bin, "serve", "--prefix", "zz" + lab.prefix[:2], "--run-dir", os.path.join(tmp, "run"),
                    "--state-dir", os.path.join(tmp, "state"), "--images-dir", lab.images_dir, "--no-listen",
                    "--image-map", bad], capture_output=True, text=True, timeout=60)
t.ok(p.returncode != 0 and "entry 2" in p.stderr and "no-such-image" in p.stderr,
     "ec2d serve with a map naming a missing local image exits non-zero, naming entry 2", p.returncode, p.stderr[-500:])

# Restarted with --default-image, an unknown ID launches the default and keeps its ID.
lab.ec2d_proc.send_signal(signal.SIGTERM)
lab.ec2d_proc.wait(timeout=60)
lab.ec2d_proc = subprocess.Popen(
    [lab.ec2d_bin, "serve", "--prefix", lab.prefix, "--run-dir", lab.rundir, "--state-dir", lab.ec2state,
     "--images-dir", lab.images_dir, "--listen", lab.endpoint.split("//")[1], "--image-map", mapfile,
     "--default-image", "busybox"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(lab.ec2d_log, "ab"))
lab._wait_answer(lab.ec2d_bin, lab.ec2d_proc, lab.ec2d_log)
r = ec2.run_instances(ImageId=UNKNOWN, MinCount=1, MaxCount=1, InstanceType="t3.micro")
i2 = r["Instances"][0]["InstanceId"]
t.is_(r["Instances"][0]["ImageId"], UNKNOWN, "with --default-image busybox, the unknown ID launches, keeping its ID")
t.ok(t.retry(lambda: ec2.describe_instances(InstanceIds=[i2])["Reservations"][0]["Instances"][0]["State"]["Name"] == "running",
             timeout=60), "and runs")
rc, out, err = lab.exec(i2, "sh", "-c", "busybox | head -1")
t.like(out, r"BusyBox", "as the default image", err)
t.ok(UNKNOWN not in [i["ImageId"] for i in ec2.describe_images()["Images"]],
     "describe-images does not list the IDs the default stands in for")
t.is_(t.call_error(ec2.describe_images, ImageIds=[UNKNOWN])[0], "InvalidAMIID.NotFound",
      "and describe-images --image-ids of one is InvalidAMIID.NotFound, as in AWS")
rc, out, err = lab.aws("run-instances", "--image-id", "ami-xyz", "--instance-type", "t3.micro")
t.ok(rc == 254 and "InvalidAMIID.Malformed" in err, "a malformed ID is still InvalidAMIID.Malformed", err)
ec2.terminate_instances(InstanceIds=[i1, i2])
t.ok(t.retry(lambda: all(i["State"]["Name"] == "terminated" for x in ec2.describe_instances(InstanceIds=[i1, i2])["Reservations"]
                         for i in x["Instances"]), timeout=60), "both terminate")
shutil.rmtree(tmp, ignore_errors=True)
t.done()
