#!/usr/bin/env python3
"""api_xml_response and api_xml_error read back by botocore's EC2QueryParser (TAP).

Each result object is written to XML by `api_tool xml ACTION` and parsed with the parser
and operation model the aws CLI and boto3 use; what comes back must be the object we
started from (timestamps as botocore's datetimes, compared as instants). Hand-written
results cover the common answers (DescribeVpcs, CreateVpc, DescribeSecurityGroups with
IpPermissions, DescribeInstances, RunInstances ...); then every action of the model gets
results generated at random from its output shape.
"""
import datetime
import json
import random
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import apitest  # noqa: E402
from apitest import ok  # noqa: E402

apitest.need_botocore()
import botocore.parsers  # noqa: E402
import botocore.session  # noqa: E402

SERVICE = botocore.session.get_session().get_service_model(apitest.SERVICE_NAME)
SERVICE_PROTOCOL = SERVICE.metadata["protocol"]
EC2 = apitest.SERVICE_NAME == "ec2"
PARSER = botocore.parsers.create_parser(SERVICE_PROTOCOL)
MODEL = apitest.our_model()
OURS = MODEL["shapes"]
T0 = "2026-11-23T10:20:30.000Z"


def parse_ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)


def same(parsed, want, path="$"):
    """Where parsed (botocore's) and want (ours) differ, or None."""
    if isinstance(parsed, datetime.datetime):
        if not isinstance(want, str) or parsed != parse_ts(want):
            return "%s: %r != %r" % (path, parsed, want)
        return None
    if isinstance(want, dict):
        if not isinstance(parsed, dict) or set(parsed) != set(want):
            return "%s: keys %s != %s" % (path, sorted(parsed) if isinstance(parsed, dict)
                                          else parsed, sorted(want))
        for k in want:
            d = same(parsed[k], want[k], "%s.%s" % (path, k))
            if d:
                return d
        return None
    if isinstance(want, list):
        if not isinstance(parsed, list) or len(parsed) != len(want):
            return "%s: %r != %r" % (path, parsed, want)
        for i, (p, w) in enumerate(zip(parsed, want)):
            d = same(p, w, "%s[%d]" % (path, i))
            if d:
                return d
        return None
    if parsed != want or type(parsed) is not type(want) and not (
            isinstance(want, (int, float)) and isinstance(parsed, (int, float))):
        return "%s: %r != %r" % (path, parsed, want)
    return None


def roundtrip(action, result, desc, request_id="req-1", want=None):
    rc, xml = apitest.tool("xml", action, request_id, stdin=json.dumps(result).encode())
    if not ok(rc == 0, "%s: %s: written" % (action, desc), xml):
        return
    op = SERVICE.operation_model(action)
    parsed = PARSER.parse({"body": xml.encode(), "headers": {}, "status_code": 200},
                          op.output_shape)
    meta = parsed.pop("ResponseMetadata", {})
    diff = same(parsed, result if want is None else want)
    ok(diff is None and meta.get("RequestId") == request_id,
       "%s: %s: botocore reads back what was written" % (action, desc),
       diff or "RequestId %r" % meta.get("RequestId"), xml[:2000])


TAGS = [{"Key": "Name", "Value": "web & db <1>"}, {"Key": "empty", "Value": ""},
        {"Key": "unicode", "Value": "caf\u00e9 \u20ac \U0001f600 \"quoted\" 'single'"}]

HAND = [
    ("DescribeVpcs", "VPCs with tags, CIDR associations and a NextToken", {
        "Vpcs": [{"VpcId": "vpc-0a1b2c3d", "CidrBlock": "10.0.0.0/16", "State": "available",
                  "DhcpOptionsId": "default", "InstanceTenancy": "default", "IsDefault": False,
                  "OwnerId": "123456789012", "Tags": TAGS,
                  "CidrBlockAssociationSet": [{"AssociationId": "vpc-cidr-assoc-1",
                                               "CidrBlock": "10.0.0.0/16",
                                               "CidrBlockState": {"State": "associated"}}]},
                 {"VpcId": "vpc-2", "CidrBlock": "172.31.0.0/16", "IsDefault": True,
                  "Tags": []}],
        "NextToken": "tok/+="}),
    ("DescribeVpcs", "no VPCs", {"Vpcs": []}),
    ("CreateVpc", "one VPC", {"Vpc": {"VpcId": "vpc-1", "CidrBlock": "10.1.0.0/16",
                                      "State": "pending", "IsDefault": False, "Tags": TAGS[:1]}}),
    ("DescribeSecurityGroups", "IpPermissions and egress", {
        "SecurityGroups": [{
            "GroupId": "sg-1", "GroupName": "web", "Description": "http only",
            "VpcId": "vpc-1", "OwnerId": "123456789012",
            "IpPermissions": [
                {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
                 "IpRanges": [{"CidrIp": "10.0.0.0/16", "Description": "lan"},
                              {"CidrIp": "0.0.0.0/0"}],
                 "Ipv6Ranges": [], "PrefixListIds": [],
                 "UserIdGroupPairs": [{"GroupId": "sg-2", "UserId": "123456789012"}]},
                {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [],
                 "UserIdGroupPairs": []}],
            "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                                     "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}],
            "Tags": TAGS}]}),
    ("DescribeInstances", "reservations and instances", {
        "Reservations": [{
            "ReservationId": "r-1", "OwnerId": "123456789012", "Groups": [],
            "Instances": [{
                "InstanceId": "i-1", "ImageId": "ami-1", "InstanceType": "t3.micro",
                "LaunchTime": T0, "State": {"Code": 16, "Name": "running"},
                "PrivateIpAddress": "10.0.1.4", "PublicIpAddress": "198.51.100.7",
                "SubnetId": "subnet-1", "VpcId": "vpc-1", "Architecture": "x86_64",
                "Placement": {"AvailabilityZone": "us-east-1a", "Tenancy": "default"},
                "SecurityGroups": [{"GroupId": "sg-1", "GroupName": "web"}],
                "Tags": TAGS, "EbsOptimized": False, "AmiLaunchIndex": 0,
                "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {
                    "VolumeId": "vol-1", "Status": "attached", "AttachTime": T0,
                    "DeleteOnTermination": True}}],
                "NetworkInterfaces": [{
                    "NetworkInterfaceId": "eni-1", "SubnetId": "subnet-1", "VpcId": "vpc-1",
                    "MacAddress": "02:00:00:00:00:01", "PrivateIpAddress": "10.0.1.4",
                    "SourceDestCheck": True, "Status": "in-use",
                    "Attachment": {"AttachmentId": "eni-attach-1", "DeviceIndex": 0,
                                   "Status": "attached", "AttachTime": T0,
                                   "DeleteOnTermination": True},
                    "Groups": [{"GroupId": "sg-1", "GroupName": "web"}],
                    "PrivateIpAddresses": [{"PrivateIpAddress": "10.0.1.4", "Primary": True}]}],
            }]}]}),
    ("RunInstances", "a reservation", {
        "ReservationId": "r-2", "OwnerId": "123456789012",
        "Groups": [{"GroupId": "sg-1", "GroupName": "web"}],
        "Instances": [{"InstanceId": "i-2", "ImageId": "ami-1", "InstanceType": "t3.micro",
                       "LaunchTime": T0, "State": {"Code": 0, "Name": "pending"},
                       "SubnetId": "subnet-1", "VpcId": "vpc-1"}]}),
    ("DescribeInstanceTypes", "doubles and longs", {
        "InstanceTypes": [{"InstanceType": "t3.micro", "CurrentGeneration": True,
                           "MemoryInfo": {"SizeInMiB": 1024},
                           "ProcessorInfo": {"SupportedArchitectures": ["x86_64", "i386"],
                                             "SustainedClockSpeedInGhz": 2.5},
                           "VCpuInfo": {"DefaultVCpus": 2}}]}),
    ("GetConsoleOutput", "timestamp and text", {"InstanceId": "i-1", "Timestamp": T0,
                                                "Output": "bG9naW46IA=="}),
    ("AuthorizeSecurityGroupIngress", "Return and rules", {
        "Return": True, "SecurityGroupRules": [{"SecurityGroupRuleId": "sgr-1", "GroupId": "sg-1",
                                                "IsEgress": False, "IpProtocol": "tcp",
                                                "FromPort": 22, "ToPort": 22,
                                                "CidrIpv4": "10.0.0.0/8"}]}),
    ("AllocateAddress", "an elastic IP", {"PublicIp": "198.51.100.7", "AllocationId": "eipalloc-1",
                                          "Domain": "vpc", "PublicIpv4Pool": "amazon"}),
    ("DescribeRegions", "regions", {"Regions": [{"RegionName": "us-east-1",
                                                 "Endpoint": "ec2.us-east-1.amazonaws.com",
                                                 "OptInStatus": "opt-in-not-required"}]}),
    ("StopInstances", "state changes", {"StoppingInstances": [{
        "InstanceId": "i-1", "CurrentState": {"Code": 64, "Name": "stopping"},
        "PreviousState": {"Code": 16, "Name": "running"}}]}),
    ("DeleteVpc", "no output shape", {}),
    ("CreateTags", "no output shape", {}),
    ("DescribeTags", "text with whitespace and line breaks", {"Tags": [
        {"Key": " lead and trail ", "ResourceId": "vpc-1", "ResourceType": "vpc",
         "Value": "line1\nline2\ttab\r\ncrlf"}]}),
]


def no_output(action, result):
    """What botocore reads from <return>true</return>: nothing, unless its model is newer than
    ours and has given the action an output with a Return member (DeleteSecurityGroup)."""
    if "output" in MODEL["operations"][action]:
        return None
    shape = SERVICE.operation_model(action).output_shape
    return {"Return": True} if shape is not None and "Return" in shape.members else result


def gen(shape, ours, rnd, depth=0):
    """A random value of botocore `shape`, limited to members our model has too."""
    t = shape.type_name
    if t == "structure":
        out = {}
        for name, sub in shape.members.items():
            if name not in ours.get("members", {}) or depth > 6 or rnd.random() < 0.3:
                continue
            out[name] = gen(sub, OURS[ours["members"][name]["shape"]], rnd, depth + 1)
        return out
    if t == "list":
        return [gen(shape.member, OURS[ours["member"]["shape"]], rnd, depth + 1)
                for _ in range(rnd.randint(0, 2 if depth < 4 else 1))]
    if t == "boolean":
        return rnd.random() < 0.5
    if t in ("integer", "long"):
        return rnd.choice([0, 1, -1, 65535, 2 ** 31 - 1, -2 ** 31] +
                          ([2 ** 40, -2 ** 53] if t == "long" else []))
    if t in ("float", "double"):
        return rnd.choice([0.0, 1.5, 0.1, 2.5e-7, 123456.789, -3.25])
    if t == "timestamp":
        return "2026-%02d-%02dT%02d:%02d:%02d.%03dZ" % (rnd.randint(1, 12), rnd.randint(1, 28),
                                                      rnd.randint(0, 23), rnd.randint(0, 59),
                                                      rnd.randint(0, 59), rnd.randint(0, 999))
    if shape.enum:
        return rnd.choice(shape.enum)
    return rnd.choice(["x", "", "a b", "<&>\"'", "caf\u00e9", "\U0001f600", "10.0.0.0/16",
                       "  spaced  ", "multi\nline", "%41+="])


def main():
    for action, desc, result in HAND if EC2 else []:
        roundtrip(action, result, desc, want=no_output(action, result))

    # Every action, results generated from its output shape.
    rnd = random.Random(20261123)
    _, actions = apitest.tool("actions")
    actions = actions.split()
    ok(len(actions) >= (70 if EC2 else 1), "the %s model has %d actions" % (apitest.SERVICE_NAME, len(actions)))
    for action in actions:
        op = SERVICE.operation_model(action)
        if "output" not in MODEL["operations"][action]:
            roundtrip(action, {}, "no output shape", want=no_output(action, {}))
            continue
        ours = OURS[MODEL["operations"][action]["output"]["shape"]]
        for i in range(3):
            roundtrip(action, gen(op.output_shape, ours, rnd), "generated result %d" % (i + 1))

    # Errors: the service's document (EC2's, or the query protocol's with its Type), status codes.
    errors = [("InvalidVpcID.NotFound", "The vpc ID 'vpc-1' does not exist"),
              ("UnknownParameter", "The parameter 'Foo & <bar>' is not recognized"),
              ("DryRunOperation", "Request would have succeeded, but DryRun flag is set."),
              ("AuthFailure", "AWS was not able to validate the provided access credentials")] if EC2 else [
              ("InvalidClientTokenId", "The security token included in the request is invalid."),
              ("NoSuchEntity", "The user with name <b&b> cannot be found."),
              ("InvalidAction", "Could not find operation Foo"),
              ("InternalFailure", "it broke")]
    for code, msg in errors:
        _, xml = apitest.tool("error", code, msg, "req-9")
        _, status = apitest.tool("status", code)
        status = int(status)
        op = SERVICE.operation_model("DescribeVpcs" if EC2 else actions[0])
        parsed = PARSER.parse({"body": xml.encode(), "headers": {}, "status_code": status},
                              op.output_shape)
        want = {"Code": code, "Message": msg}
        if not EC2:
            want["Type"] = "Receiver" if status >= 500 else "Sender"
        ok(parsed.get("Error") == want and
           parsed["ResponseMetadata"]["RequestId"] == "req-9" and
           parsed["ResponseMetadata"]["HTTPStatusCode"] == status,
           "error %s (HTTP %d): botocore reads code, message and RequestID" % (code, status),
           parsed, xml)
    apitest.done()


if __name__ == "__main__":
    sys.exit(main())
