#!/usr/bin/env python3
"""Key pairs, checked against the tools people verify them with. CreateKeyPair's private key
must be one that ssh-keygen and openssl read, with the fingerprint AWS documents for it (SHA-1 of
the PKCS#8 DER for rsa, SHA-256 of the OpenSSH blob for ed25519); ImportKeyPair takes OpenSSH,
RFC 4716 and DER forms of keys made by ssh-keygen and gives the same fingerprint for each (MD5
of the DER public key for rsa). Filters, tags, bad input (the error code, no change of state),
deletion, a restart of ec2d, the aws CLI and ec2d's own CLI; and an instance launched with the
key reads it from the metadata service at public-keys/0/openssh-key, even after the key pair is
deleted, and `ssh -i KEY root@ELASTIC-IP` from the simulated internet gets a shell on it once the
security group opens port 22 (and not with another key).
"""
import base64
import hashlib
import os
import signal
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402

lab = t.Lab("198.19.144.0/21")
ec2 = lab.client
raw = lab.boto3_client(parameter_validation=False)
tmp = tempfile.mkdtemp(prefix="vpclab-keys-")


def sh(*cmd, input=None):
    p = subprocess.run(list(cmd), capture_output=True, input=input, timeout=60)
    if p.returncode != 0:
        t.bail("%s failed: %s" % (" ".join(cmd), p.stderr.decode(errors="replace")))
    return p.stdout


def write(name, data, mode=0o600):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(path, mode)
    return path


def colons(digest):
    return ":".join("%02x" % b for b in digest)


def keys():
    return sorted((k["KeyName"], k["KeyPairId"], k["KeyFingerprint"]) for k in ec2.describe_key_pairs()["KeyPairs"])


def refused(code, desc, fn, **kw):
    before = keys()
    got, msg, _ = t.call_error(fn, **kw)
    t.ok(got == code, "%s: %s" % (desc, code), "got %s: %s" % (got, msg))
    t.ok(keys() == before, "%s: no key pair changed" % desc)


# ------------------------------------------------------------------ CreateKeyPair, rsa
r = ec2.create_key_pair(KeyName="lab-rsa", TagSpecifications=[
    {"ResourceType": "key-pair", "Tags": [{"Key": "course", "Value": "net101"}]}])
RSA_ID = r["KeyPairId"]
t.like(RSA_ID, r"^key-[0-9a-f]{17}$", "CreateKeyPair: a key-… ID")
t.ok(r["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----\n"), "rsa: a PKCS#1 PEM private key",
     r["KeyMaterial"][:60])
t.is_(r.get("Tags"), [{"Key": "course", "Value": "net101"}], "rsa: the tags asked for")
pem = write("lab-rsa.pem", r["KeyMaterial"])
# AWS's own recipe: openssl pkcs8 -topk8 -nocrypt -outform DER | openssl sha1 -c
der = sh("openssl", "pkcs8", "-in", pem, "-inform", "PEM", "-outform", "DER", "-topk8", "-nocrypt")
t.is_(r["KeyFingerprint"], colons(hashlib.sha1(der).digest()),
      "rsa: the fingerprint is the SHA-1 of the PKCS#8 DER private key")
bits = sh("openssl", "rsa", "-in", pem, "-noout", "-text").decode().splitlines()[0]
t.like(bits, r"2048 bit", "rsa: 2048 bits (%s)" % bits.strip())
rsa_pub = sh("ssh-keygen", "-y", "-f", pem).decode().split()
d = ec2.describe_key_pairs(KeyNames=["lab-rsa"], IncludePublicKey=True)["KeyPairs"][0]
t.is_(d["PublicKey"].split()[:2], rsa_pub[:2], "rsa: PublicKey is the key ssh-keygen derives from the PEM")
t.is_((d["KeyType"], d["KeyPairId"], d["KeyFingerprint"]), ("rsa", RSA_ID, r["KeyFingerprint"]),
      "DescribeKeyPairs: type, ID and fingerprint")
t.ok("CreateTime" in d and "KeyMaterial" not in d, "DescribeKeyPairs: a CreateTime, never the private key")
t.ok("PublicKey" not in ec2.describe_key_pairs(KeyNames=["lab-rsa"])["KeyPairs"][0],
     "PublicKey only with IncludePublicKey")

# ------------------------------------------------------------------ CreateKeyPair, ed25519
r = ec2.create_key_pair(KeyName="lab-ed", KeyType="ed25519", KeyFormat="pem")
ED_ID = r["KeyPairId"]
t.ok(r["KeyMaterial"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----\n"), "ed25519: an OpenSSH private key")
edkey = write("lab-ed", r["KeyMaterial"])
ed_pub = sh("ssh-keygen", "-y", "-f", edkey).decode().split()
t.is_(ed_pub[0], "ssh-ed25519", "ed25519: ssh-keygen reads the private key")
blob = base64.b64decode(ed_pub[1])
t.is_(r["KeyFingerprint"], base64.b64encode(hashlib.sha256(blob).digest()).decode(),
      "ed25519: the fingerprint is the base64 SHA-256 of the public blob")
lf = sh("ssh-keygen", "-l", "-E", "sha256", "-f", edkey).decode().split()[1]
t.is_("SHA256:" + r["KeyFingerprint"].rstrip("="), lf, "ed25519: the fingerprint ssh-keygen -l prints")
# The key signs and the signature verifies under the public key EC2 holds.
pubfile = write("lab-ed-ec2.pub", ec2.describe_key_pairs(KeyPairIds=[ED_ID], IncludePublicKey=True)
                ["KeyPairs"][0]["PublicKey"] + "\n")
msg = write("msg", b"vpclab")
sh("ssh-keygen", "-Y", "sign", "-f", edkey, "-n", "file", msg)
allowed = write("allowed", "lab@vpclab " + open(pubfile).read())
p = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "lab@vpclab", "-n", "file", "-s",
                    msg + ".sig"], stdin=open(msg, "rb"), capture_output=True)
t.ok(p.returncode == 0, "ed25519: a signature by the private key verifies with EC2's public key", p.stderr)

# ------------------------------------------------------------------ ImportKeyPair
sh("ssh-keygen", "-q", "-t", "rsa", "-b", "3072", "-N", "", "-C", "me@host", "-f", os.path.join(tmp, "imp"))
sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me@host", "-f", os.path.join(tmp, "imped"))
imp_pub = open(os.path.join(tmp, "imp.pub"), "rb").read()
spki = sh("openssl", "pkey", "-pubin", "-outform", "DER", input=sh("ssh-keygen", "-e", "-m", "PKCS8", "-f",
                                                                    os.path.join(tmp, "imp.pub")))
want_md5 = colons(hashlib.md5(spki).digest())
forms = {
    "OpenSSH": imp_pub,
    "RFC 4716": sh("ssh-keygen", "-e", "-f", os.path.join(tmp, "imp.pub")),
    "DER": spki,
    "base64 DER": base64.b64encode(spki),
    "PEM": sh("ssh-keygen", "-e", "-m", "PKCS8", "-f", os.path.join(tmp, "imp.pub")),
    "PKCS#1 PEM": sh("ssh-keygen", "-e", "-m", "PEM", "-f", os.path.join(tmp, "imp.pub")),
}
for i, (form, material) in enumerate(forms.items()):
    r = ec2.import_key_pair(KeyName="imp-%d" % i, PublicKeyMaterial=material)
    t.is_(r["KeyFingerprint"], want_md5, "ImportKeyPair %s rsa 3072: the MD5 of the DER public key" % form)
d = ec2.describe_key_pairs(KeyNames=["imp-0", "imp-1"], IncludePublicKey=True)["KeyPairs"]
t.ok(all(k["PublicKey"].split()[:2] == imp_pub.decode().split()[:2] and k["KeyType"] == "rsa" for k in d),
     "the imported key is held as its OpenSSH line")
ed_imp = open(os.path.join(tmp, "imped.pub")).read()
r = ec2.import_key_pair(KeyName="imp-ed", PublicKeyMaterial=ed_imp.encode())
lf = sh("ssh-keygen", "-l", "-E", "sha256", "-f", os.path.join(tmp, "imped.pub")).decode().split()[1]
t.is_("SHA256:" + r["KeyFingerprint"].rstrip("="), lf, "ImportKeyPair ed25519: ssh-keygen's SHA-256 fingerprint")
r = ec2.import_key_pair(KeyName="imp-ed-4716", PublicKeyMaterial=sh("ssh-keygen", "-e", "-f",
                                                                      os.path.join(tmp, "imped.pub")))
t.is_("SHA256:" + r["KeyFingerprint"].rstrip("="), lf, "ImportKeyPair ed25519 as RFC 4716: the same fingerprint")

# ------------------------------------------------------------------ filters and tags
def names(**kw):
    return sorted(k["KeyName"] for k in ec2.describe_key_pairs(**kw)["KeyPairs"])


t.is_(names(Filters=[{"Name": "key-type", "Values": ["ed25519"]}]), ["imp-ed", "imp-ed-4716", "lab-ed"],
      "filter key-type=ed25519")
t.is_(names(Filters=[{"Name": "key-name", "Values": ["lab-*"]}]), ["lab-ed", "lab-rsa"], "filter key-name with a wildcard")
t.is_(names(Filters=[{"Name": "fingerprint", "Values": [want_md5]}]), ["imp-%d" % i for i in range(len(forms))],
      "filter fingerprint")
t.is_(names(Filters=[{"Name": "tag:course", "Values": ["net101"]}]), ["lab-rsa"], "filter tag:course")
ec2.create_tags(Resources=[ED_ID], Tags=[{"Key": "course", "Value": "net102"}])
t.is_(names(Filters=[{"Name": "tag-key", "Values": ["course"]}]), ["lab-ed", "lab-rsa"], "CreateTags on a key pair")
tg = ec2.describe_tags(Filters=[{"Name": "resource-type", "Values": ["key-pair"]}])["Tags"]
t.is_(sorted((x["ResourceId"], x["Value"]) for x in tg), sorted([(RSA_ID, "net101"), (ED_ID, "net102")]),
      "DescribeTags lists key-pair tags")
ec2.delete_tags(Resources=[ED_ID], Tags=[{"Key": "course"}])
t.is_(names(Filters=[{"Name": "tag-key", "Values": ["course"]}]), ["lab-rsa"], "DeleteTags on a key pair")
t.is_(names(KeyPairIds=[RSA_ID, ED_ID]), ["lab-ed", "lab-rsa"], "KeyPairIds")

# ------------------------------------------------------------------ bad input
refused("InvalidKeyPair.Duplicate", "CreateKeyPair with a name in use", ec2.create_key_pair, KeyName="lab-rsa")
refused("InvalidKeyPair.Duplicate", "ImportKeyPair with a name in use", ec2.import_key_pair, KeyName="lab-ed",
        PublicKeyMaterial=ed_imp.encode())
refused("InvalidKey.Format", "ImportKeyPair of text that is no key", ec2.import_key_pair, KeyName="x",
        PublicKeyMaterial=b"hello world")
refused("InvalidKey.Format", "ImportKeyPair of a truncated OpenSSH key", ec2.import_key_pair, KeyName="x",
        PublicKeyMaterial=imp_pub[:200])
refused("InvalidKey.Format", "ImportKeyPair of a private key", ec2.import_key_pair, KeyName="x",
        PublicKeyMaterial=open(pem, "rb").read())
sh("ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", os.path.join(tmp, "ec"))
refused("InvalidKey.Format", "ImportKeyPair of an ecdsa key", ec2.import_key_pair, KeyName="x",
        PublicKeyMaterial=open(os.path.join(tmp, "ec.pub"), "rb").read())
sh("ssh-keygen", "-q", "-t", "rsa", "-b", "1536", "-N", "", "-f", os.path.join(tmp, "odd"))
refused("InvalidKey.Format", "ImportKeyPair of a 1536-bit rsa key", ec2.import_key_pair, KeyName="x",
        PublicKeyMaterial=open(os.path.join(tmp, "odd.pub"), "rb").read())
refused("InvalidKey.Format", "ImportKeyPair whose type word and blob disagree", ec2.import_key_pair, KeyName="x",
        PublicKeyMaterial=b"ssh-ed25519 " + imp_pub.split()[1])
refused("MissingParameter", "CreateKeyPair without KeyName", raw.create_key_pair)
refused("MissingParameter", "ImportKeyPair without material", raw.import_key_pair, KeyName="x")
refused("InvalidParameterValue", "CreateKeyPair with KeyType dsa", raw.create_key_pair, KeyName="x", KeyType="dsa")
refused("InvalidParameterValue", "a 256-character key name", ec2.create_key_pair, KeyName="k" * 256)
refused("InvalidParameterValue", "a key name with a newline", ec2.create_key_pair, KeyName="a\nb")
refused("InvalidParameterValue", "CreateKeyPair with tags for an instance", ec2.create_key_pair, KeyName="x",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "a", "Value": "b"}]}])
refused("InvalidKeyPair.NotFound", "DescribeKeyPairs of a name that does not exist", ec2.describe_key_pairs,
        KeyNames=["lab-rsa", "nope"])
refused("InvalidKeyPair.NotFound", "DescribeKeyPairs of an ID that does not exist", ec2.describe_key_pairs,
        KeyPairIds=["key-0123456789abcdef0"])
refused("InvalidParameterValue", "DescribeKeyPairs with an unknown filter", ec2.describe_key_pairs,
        Filters=[{"Name": "colour", "Values": ["blue"]}])
refused("DryRunOperation", "CreateKeyPair --dry-run", ec2.create_key_pair, KeyName="dry", DryRun=True)
refused("InvalidKeyPair.NotFound", "DeleteKeyPair of an ID that does not exist", ec2.delete_key_pair,
        KeyPairId="key-0123456789abcdef0")
refused("MissingParameter", "DeleteKeyPair naming nothing", ec2.delete_key_pair)
refused("InvalidKeyPair.NotFound", "CreateTags on a key pair that does not exist", ec2.create_tags,
        Resources=["key-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}])
refused("InvalidKeyPair.NotFound", "RunInstances with a key that does not exist", ec2.run_instances,
        ImageId=lab.ami() or "ami-0123456789abcdef0", MinCount=1, MaxCount=1, KeyName="nope")
t.is_(lab.client.describe_instances()["Reservations"], [], "and no instance was launched")
other = lab.boto3_client(region="eu-west-1")
t.is_(other.describe_key_pairs()["KeyPairs"], [], "key pairs are regional: none in eu-west-1")
other.import_key_pair(KeyName="lab-rsa", PublicKeyMaterial=imp_pub)
t.ok(len(other.describe_key_pairs()["KeyPairs"]) == 1, "the same name in another region is another key pair")

# ------------------------------------------------------------------ the CLIs
rc, out, err = lab.aws("create-key-pair", "--key-name", "cli", "--query", "KeyMaterial", output="text")
clipem = write("cli.pem", out if isinstance(out, str) else "")
t.ok(rc == 0 and sh("ssh-keygen", "-y", "-f", clipem).startswith(b"ssh-rsa "),
     "aws ec2 create-key-pair --query KeyMaterial --output text > cli.pem: a key ssh-keygen reads", err)
rc, out, err = lab.aws("import-key-pair", "--key-name", "cli-imp", "--public-key-material",
                       "fileb://" + os.path.join(tmp, "imp.pub"))
t.ok(rc == 0 and out["KeyFingerprint"] == want_md5, "aws ec2 import-key-pair --public-key-material fileb://", err)
rc, out, err = lab.aws("import-key-pair", "--key-name", "cli-imp", "--public-key-material",
                       "fileb://" + os.path.join(tmp, "imp.pub"))
t.ok(rc == 254 and "(InvalidKeyPair.Duplicate)" in err, "aws CLI: the duplicate is refused with exit 254", err)
rc, out, err = lab.ec2d("import-key-pair", "--key-name", "ec2d-imp", "--public-key-material",
                        "file://" + os.path.join(tmp, "imped.pub"))
t.ok(rc == 0 and out["KeyName"] == "ec2d-imp", "ec2d import-key-pair --public-key-material file://", err)
rc, out, err = lab.ec2d("describe-key-pairs", "--key-names", "ec2d-imp", "--include-public-key")
t.ok(rc == 0 and out["KeyPairs"][0]["PublicKey"].split()[1] == ed_imp.split()[1],
     "ec2d describe-key-pairs --include-public-key", err)
rc, out, err = lab.ec2d("create-key-pair", "--key-name", "ec2d-ed", "--key-type", "ed25519")
t.ok(rc == 0 and out["KeyMaterial"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----"), "ec2d create-key-pair", err)
rc, out, err = lab.ec2d("delete-key-pair", "--key-name", "ec2d-ed")
t.ok(rc == 0 and out.get("Return") is True, "ec2d delete-key-pair", err)
rc, out, err = lab.ec2d("create-key-pair", "--key-name", "lab-ed")
t.ok(rc != 0 and "InvalidKeyPair.Duplicate" in err, "ec2d CLI: the duplicate is refused", err)

# ------------------------------------------------------------------ restart
before = keys()
lab.ec2d_proc.send_signal(signal.SIGKILL)
lab.ec2d_proc.wait()
lab.vpcd_proc.terminate()
lab.vpcd_proc.wait()
lab._start()
ec2 = lab.client
t.is_(keys(), before, "after kill -9 of ec2d and a restart: the same key pairs")

# ------------------------------------------------------------------ delete
# Debian's botocore (1.29) knows no output of DeleteKeyPair; newer ones read Return and KeyPairId.
knows = ec2.meta.service_model.operation_model("DeleteKeyPair").output_shape is not None
IMP1 = [k["KeyPairId"] for k in ec2.describe_key_pairs(KeyNames=["imp-1"])["KeyPairs"]][0]
r = ec2.delete_key_pair(KeyName="imp-1")
t.ok(not knows or (r["Return"] is True and r["KeyPairId"] == IMP1), "DeleteKeyPair by name: Return and the ID", r)
r = ec2.delete_key_pair(KeyPairId=[k for k in ec2.describe_key_pairs()["KeyPairs"] if k["KeyName"] == "imp-2"]
                        [0]["KeyPairId"])
t.ok(not knows or r["Return"] is True, "DeleteKeyPair by ID", r)
rc, out, err = lab.ec2d("delete-key-pair", "--key-name", "imp-3")
t.ok(rc == 0 and out == {"Return": True, "KeyPairId": out.get("KeyPairId")} and out["KeyPairId"].startswith("key-"),
     "ec2d delete-key-pair: Return and KeyPairId", out, err)
rc, out, err = lab.ec2d("delete-key-pair", "--key-name", "never-was")
t.ok(rc == 0 and out == {"Return": True}, "DeleteKeyPair of a name that does not exist: true, as EC2 answers", out, err)
t.ok(not {"imp-1", "imp-2", "imp-3"} & set(names()), "all three are gone")

# ------------------------------------------------------------------ an instance with the key
AMI = lab.ami()
if not AMI:
    t.skip("the metadata service serves the key", "no busybox image (images/build busybox)")
    t.done()
V = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
S = ec2.create_subnet(VpcId=V, CidrBlock="10.60.1.0/24")["Subnet"]["SubnetId"]
I = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=S, KeyName="lab-ed")["Instances"][0]
t.is_(I.get("KeyName"), "lab-ed", "RunInstances --key-name: the instance's KeyName")
I = I["InstanceId"]
if not lab.wait_ready(I):
    t.bail("instance %s is not ready" % I)
t.is_(lab.instance(I).get("KeyName"), "lab-ed", "DescribeInstances: KeyName")
t.is_(names(Filters=[{"Name": "key-name", "Values": ["lab-ed"]}]), ["lab-ed"], "(the key pair)")
ed_line = ec2.describe_key_pairs(KeyNames=["lab-ed"], IncludePublicKey=True)["KeyPairs"][0]["PublicKey"]
md = "http://169.254.169.254/latest/meta-data/"


def imds(path):
    rc, out, err = lab.exec(I, "wget", "-q", "-O", "-", md + path)
    return out.strip() if rc == 0 else "(failed: %s)" % err.strip()


t.ok("public-keys/" in imds("").split("\n"), "meta-data/ lists public-keys/")
t.is_(imds("public-keys/"), "0=lab-ed", "meta-data/public-keys/ is 0=lab-ed")
t.is_(imds("public-keys/0/"), "openssh-key", "meta-data/public-keys/0/ lists openssh-key")
t.is_(imds("public-keys/0/openssh-key"), ed_line, "public-keys/0/openssh-key is the key pair's public key")

# ssh from the simulated internet to the instance's elastic IP, through the internet gateway and
# the security group: refused without port 22 open, refused with another key, in with its own.
IGW = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
ec2.attach_internet_gateway(InternetGatewayId=IGW, VpcId=V)
MAIN = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [V]},
                                          {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]
ec2.create_route(RouteTableId=MAIN["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=IGW)
ALLOC = ec2.allocate_address(Domain="vpc")
ec2.associate_address(AllocationId=ALLOC["AllocationId"], InstanceId=I)
region = lab.lab_region() or {}
RNS, HOST = region.get("Namespace", "none"), region.get("InternetHost", {}).get("PublicIp", "")


def ssh(key, *cmd):
    return t.run(["ip", "netns", "exec", RNS, "ssh", "-b", HOST, "-i", key, "-o", "BatchMode=yes", "-o",
                  "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=3",
                  "-o", "LogLevel=ERROR", "root@" + ALLOC["PublicIp"]] + list(cmd), timeout=20)


rc, out, err = ssh(edkey, "true")
t.ok(rc == 255, "ssh to %s with port 22 closed by the security group: no connection" % ALLOC["PublicIp"], err)
SG = ec2.describe_instances(InstanceIds=[I])["Reservations"][0]["Instances"][0]["SecurityGroups"][0]["GroupId"]
ec2.authorize_security_group_ingress(GroupId=SG, IpPermissions=[
    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
got = t.retry(lambda: (lambda r: r[1].strip() if r[0] == 0 else None)(
    ssh(edkey, "wget", "-q", "-O", "-", md + "instance-id")), timeout=15)
t.is_(got, I, "ssh -i lab-ed root@%s from the internet host, port 22 open: a shell on the instance" % ALLOC["PublicIp"])
rc, out, err = ssh(pem, "true")
t.ok(rc == 255 and "denied" in err.lower(), "ssh with another key pair's key: Permission denied", err)
ec2.delete_key_pair(KeyName="lab-ed")
t.is_(imds("public-keys/0/openssh-key"), ed_line, "after DeleteKeyPair the instance still has its key")
rc, out, err = ssh(edkey, "cat", "/root/.ssh/authorized_keys")
t.ok(rc == 0 and out.strip() == ed_line, "and ssh with it still works (authorized_keys holds it)", err)
ec2.terminate_instances(InstanceIds=[I])
t.done()
