#!/usr/bin/env python3
"""api_params_from_query against botocore's EC2Serializer (TAP).

Params are serialized the way the aws CLI and boto3 send them (the EC2 serializer, then
AWSRequest's form encoding of the body) and fed to `api_tool params ACTION`; the object it
prints must be the params we started from. Hand-written params cover the usual requests;
then every action gets params generated at random from its input shape. A few malformed
requests check the error codes.
"""
import base64
import datetime
import random
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import apitest  # noqa: E402
from apitest import ok  # noqa: E402

apitest.need_botocore()
import botocore.awsrequest  # noqa: E402
import botocore.serialize  # noqa: E402
import botocore.session  # noqa: E402

SERVICE = botocore.session.get_session().get_service_model(apitest.SERVICE_NAME)
SERVICE_PROTOCOL = SERVICE.metadata["protocol"]
EC2 = apitest.SERVICE_NAME == "ec2"
SERIALIZER = botocore.serialize.create_serializer(SERVICE.metadata["protocol"], include_validation=False)
MODEL = apitest.our_model()
OURS = MODEL["shapes"]


def encode(action, params):
    """The request body botocore sends for these params."""
    op = SERVICE.operation_model(action)
    req = SERIALIZER.serialize_to_request(params, op)
    aws = botocore.awsrequest.AWSRequest(method=req["method"], url="http://localhost/",
                                         data=req["body"], headers=req["headers"])
    return aws.prepare().body.encode() if isinstance(aws.prepare().body, str) \
        else aws.prepare().body


def expected(shape, value, top=True):
    """params as botocore puts them on the wire and we read them back: timestamps become
    ISO 8601 text, blobs base64 text; an empty list or structure is not sent at all (and a list item that was
    empty leaves a gap in the indexes, which closes)."""
    t = shape.type_name
    if t == "structure":
        out = {}
        for k, v in value.items():
            e = expected(shape.members[k], v, False)
            if e is not None:
                out[k] = e
        return out if out or top else None
    if t == "list":
        items = [expected(shape.member, v, False) for v in value]
        items = [i for i in items if i is not None]
        return items or None
    if t == "timestamp":
        return SERIALIZER._convert_timestamp_to_str(value, None)
    if t == "blob":  # base64 on the wire, and kept so: the handler decodes it
        return base64.b64encode(value).decode()
    return value


def check(action, params, desc):
    body = encode(action, params)
    rc, got = apitest.tool_json("params", action, stdin=body)
    want = expected(SERVICE.operation_model(action).input_shape, params)
    ok(rc == 0 and got == want, "%s: %s" % (action, desc),
       "body: %s" % body[:1500].decode(errors="replace"), "got:  %s" % got, "want: %s" % want)


TAGS = [{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "a b&c=d+e%f"},
                                         {"Key": "caf\u00e9", "Value": "\U0001f600"},
                                         {"Key": "empty", "Value": ""}]}]
HAND = [
    ("DescribeVpcs", "ids, filters, paging", {
        "VpcIds": ["vpc-1", "vpc-2"], "MaxResults": 5, "NextToken": "tok/+=", "DryRun": True,
        "Filters": [{"Name": "cidr", "Values": ["10.0.0.0/16", "10.1.0.0/16"]},
                    {"Name": "tag:Name", "Values": ["web*", "?b"]}]}),
    ("DescribeVpcs", "nothing", {}),
    ("DescribeVpcs", "DryRun false", {"DryRun": False}),
    ("CreateVpc", "tag specifications", {"CidrBlock": "10.0.0.0/16", "TagSpecifications": TAGS,
                                         "InstanceTenancy": "default",
                                         "AmazonProvidedIpv6CidrBlock": False}),
    ("CreateSubnet", "zone", {"VpcId": "vpc-1", "CidrBlock": "10.0.1.0/24",
                              "AvailabilityZone": "us-east-1a"}),
    ("AuthorizeSecurityGroupIngress", "IpPermissions", {
        "GroupId": "sg-1",
        "IpPermissions": [
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 443,
             "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "lan"},
                          {"CidrIp": "192.168.0.0/16"}],
             "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
             "UserIdGroupPairs": [{"GroupId": "sg-2"}, {"GroupId": "sg-3", "UserId": "1"}],
             "PrefixListIds": [{"PrefixListId": "pl-1"}]},
            {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1,
             "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
        "TagSpecifications": [{"ResourceType": "security-group-rule",
                               "Tags": [{"Key": "k", "Value": "v"}]}]}),
    ("RevokeSecurityGroupEgress", "by rule id", {"GroupId": "sg-1",
                                                 "SecurityGroupRuleIds": ["sgr-1", "sgr-2"]}),
    ("CreateNetworkAclEntry", "ports, ICMP, numbers", {
        "NetworkAclId": "acl-1", "RuleNumber": 100, "Protocol": "6", "RuleAction": "allow",
        "Egress": False, "CidrBlock": "0.0.0.0/0", "PortRange": {"From": 22, "To": 22},
        "IcmpTypeCode": {"Code": -1, "Type": -1}}),
    ("ModifyNetworkInterfaceAttribute", "attribute booleans and groups", {
        "NetworkInterfaceId": "eni-1", "SourceDestCheck": {"Value": False},
        "Groups": ["sg-1", "sg-2"], "Description": {"Value": "d"}}),
    ("ModifySubnetAttribute", "MapPublicIpOnLaunch", {
        "SubnetId": "subnet-1", "MapPublicIpOnLaunch": {"Value": True}}),
    ("CreateRoute", "to a NAT gateway", {"RouteTableId": "rtb-1",
                                         "DestinationCidrBlock": "0.0.0.0/0",
                                         "NatGatewayId": "nat-1"}),
    ("CreateTags", "resources and tags", {"Resources": ["vpc-1", "subnet-1"],
                                          "Tags": [{"Key": "a", "Value": "b"}]}),
    ("DeleteTags", "key without value", {"Resources": ["vpc-1"], "Tags": [{"Key": "a"}]}),
    ("DescribeNatGateways", "Filter (no locationName) and ids", {
        "Filter": [{"Name": "state", "Values": ["available"]}],
        "NatGatewayIds": ["nat-1"]}),
    ("RunInstances", "the usual launch", {
        "ImageId": "ami-1", "InstanceType": "t3.micro", "MinCount": 1, "MaxCount": 3,
        "KeyName": "key", "SecurityGroupIds": ["sg-1"], "SubnetId": "subnet-1",
        "UserData": "IyEvYmluL3NoCmVjaG8gaGk=", "PrivateIpAddress": "10.0.1.10",
        "Placement": {"AvailabilityZone": "us-east-1a"},
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda",
                                 "Ebs": {"VolumeSize": 8, "DeleteOnTermination": True,
                                         "VolumeType": "gp3"}}],
        "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": "subnet-1",
                               "AssociatePublicIpAddress": True, "Groups": ["sg-1"],
                               "PrivateIpAddresses": [{"PrivateIpAddress": "10.0.1.11",
                                                       "Primary": True}]}],
        "TagSpecifications": [{"ResourceType": "instance",
                               "Tags": [{"Key": "Name", "Value": "vm 1"}]}],
        "ClientToken": "tok-1", "DisableApiTermination": False,
        "InstanceInitiatedShutdownBehavior": "terminate",
        "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2}}),
    ("DescribeInstances", "filters and ids", {
        "InstanceIds": ["i-1"], "Filters": [{"Name": "instance-state-name",
                                             "Values": ["running", "stopped"]}],
        "MaxResults": 10}),
    ("TerminateInstances", "ids", {"InstanceIds": ["i-1", "i-2"]}),
    ("StopInstances", "force", {"InstanceIds": ["i-1"], "Force": True, "Hibernate": False}),
    ("GetConsoleOutput", "latest", {"InstanceId": "i-1", "Latest": True}),
    ("DescribeImages", "owners, executable users", {"Owners": ["self", "amazon"],
                                                    "ExecutableUsers": ["all"],
                                                    "ImageIds": ["ami-1"]}),
    ("DescribeInstanceTypes", "types", {"InstanceTypes": ["t3.micro", "m5.large"]}),
    ("AttachNetworkInterface", "device index", {"NetworkInterfaceId": "eni-1",
                                                "InstanceId": "i-1", "DeviceIndex": 1}),
    ("DetachNetworkInterface", "force", {"AttachmentId": "eni-attach-1", "Force": True}),
    ("AllocateAddress", "domain", {"Domain": "vpc"}),
    ("AssociateAddress", "reassociation", {"AllocationId": "eipalloc-1",
                                           "NetworkInterfaceId": "eni-1",
                                           "AllowReassociation": True}),
    ("CreateVpcPeeringConnection", "peer region", {"VpcId": "vpc-1", "PeerVpcId": "vpc-2",
                                                   "PeerRegion": "eu-west-1"}),
    ("DescribeRegions", "all regions", {"AllRegions": True, "RegionNames": ["us-east-1"]}),
]


def gen(shape, ours, rnd, depth=0):
    """Random params for botocore `shape`, limited to members our model has too."""
    t = shape.type_name
    if t == "structure":
        out = {}
        for name, sub in shape.members.items():
            if name not in ours.get("members", {}) or depth > 6 or rnd.random() < 0.4:
                continue
            out[name] = gen(sub, OURS[ours["members"][name]["shape"]], rnd, depth + 1)
        return out
    if t == "list":
        return [gen(shape.member, OURS[ours["member"]["shape"]], rnd, depth + 1)
                for _ in range(rnd.randint(0, 3 if depth < 3 else 1))]
    if t == "boolean":
        return rnd.random() < 0.5
    if t == "integer":
        return rnd.choice([0, 1, -1, 100, 2 ** 31 - 1, -2 ** 31])
    if t == "long":
        return rnd.choice([0, 7, 2 ** 40, -2 ** 63, 2 ** 63 - 1])
    if t in ("float", "double"):
        return rnd.choice([0.5, 1.0, 2.25, 1e-3])
    if t == "timestamp":
        return datetime.datetime(2026, rnd.randint(1, 12), rnd.randint(1, 28),
                                 rnd.randint(0, 23), 0, 0, tzinfo=datetime.timezone.utc)
    if t == "blob":
        return rnd.choice([b"", b"ssh-ed25519 AAAA", bytes(range(256))])
    if shape.enum:
        return rnd.choice(shape.enum)
    return rnd.choice(["x", "", "a b", "a+b", "a&b=c", "100%", "caf\u00e9", "\U0001f600",
                       "10.0.0.0/16", "line\nbreak", "~*?.-_"])


def main():
    for action, desc, params in HAND if EC2 else []:
        check(action, params, desc)

    rnd = random.Random(1123)
    _, actions = apitest.tool("actions")
    actions = actions.split()
    for action in actions:
        op = SERVICE.operation_model(action)
        ours = OURS[MODEL["operations"][action]["input"]["shape"]]
        for i in range(4):
            check(action, gen(op.input_shape, ours, rnd), "generated params %d" % (i + 1))

    # What botocore never sends, and what we refuse.
    refused = ([
            ("GetUser", "UserName=a&UserName=b", "MalformedQueryString", "'UserName'"),
            ("GetUser", "Foo=bar", "UnknownParameter", "'Foo'"),
            ("GetUser", "userName=a", "UnknownParameter", "'userName'"),
            ("ListAccountAliases", "MaxItems=ten", "InvalidParameterValue", "'ten'"),
            ("NoSuchAction", "", "InvalidAction", "operation NoSuchAction for version 2010-05-08")]
            if apitest.SERVICE_NAME == "iam" else [
            ("GetCallerIdentity", "Foo=bar", "UnknownParameter", "'Foo'"),
            ("NoSuchAction", "", "InvalidAction", "operation NoSuchAction for version 2011-06-15")]
            if apitest.SERVICE_NAME == "sts" else [
            ("DescribeVpcs", "Action=DescribeVpcs&Version=2016-11-15&VpcIds.1=vpc-1",
             "UnknownParameter", "'VpcIds.1'"),
            ("DescribeVpcs", "Foo=bar", "UnknownParameter", "'Foo'"),
            ("DescribeVpcs", "Filter.1.Value=x", "UnknownParameter", "'Filter.1.Value'"),
            ("DescribeVpcs", "MaxResults=ten", "InvalidParameterValue", "'ten'"),
            ("DescribeVpcs", "DryRun=1", "InvalidParameterValue", "'1'"),
            ("CreateNetworkAclEntry", "RuleNumber=99999999999", "InvalidParameterValue",
             "'99999999999'"),
            ("DescribeVpcs", "VpcId.1=a&VpcId.1=b", "MalformedQueryString", "'VpcId.1'"),
            ("DescribeVpcs", "VpcId.1=%G0", "MalformedQueryString", "'VpcId.1'"),
            ("NoSuchAction", "", "InvalidAction", "'NoSuchAction'")])
    for action, body, code, needle in refused:
        rc, got = apitest.tool_json("params", action, stdin=body.encode())
        err = got.get("Error", {}) if isinstance(got, dict) else {}
        ok(rc == 1 and err.get("Code") == code and needle in err.get("Message", ""),
           "%s %s: %s naming %s" % (action, body, code, needle), got)
    apitest.done()


if __name__ == "__main__":
    sys.exit(main())
