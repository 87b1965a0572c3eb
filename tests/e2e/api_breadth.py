#!/usr/bin/env python3
"""The calls of docs/api_breadth.md with the real aws CLI and boto3 over ec2d's Query API:
the flat form of authorize/revoke as boto3 sends it (IpProtocol, FromPort, ToPort, CidrIp,
SourceSecurityGroupName), the aws CLI's --protocol/--port/--source-group, ModifySecurityGroupRules,
UpdateSecurityGroupRuleDescriptions*, SecurityGroupArn, the 60-rule quota; DHCP options sets
(create, describe with filters, associate, `default`, delete) and what a DHCP client in a
plugged namespace receives. Bad input gets EC2's code, a non-zero exit, and changes nothing;
packets follow the rules.
"""
import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402

lab = t.Lab("198.18.20.0/22")
ec2 = lab.boto3_client()

vpc = ec2.create_vpc(CidrBlock="10.141.0.0/16")["Vpc"]["VpcId"]
sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.141.1.0/24")["Subnet"]["SubnetId"]
# Debian's botocore predates SecurityGroupArn and drops it when parsing: the XML is read.
rc, out, err = lab.aws("create-security-group", "--vpc-id", vpc, "--group-name", "srv", "--description", "server", "--debug")
srv = out["GroupId"] if rc == 0 else t.bail("create-security-group: " + err[-500:])
ARN = "arn:aws:ec2:us-east-1:123456789012:security-group/" + srv
t.ok("<securityGroupArn>%s</securityGroupArn>" % ARN in err, "CreateSecurityGroup answers securityGroupArn")
rc, out, err = lab.aws("describe-security-groups", "--group-ids", srv, "--debug")
t.ok("<securityGroupArn>%s</securityGroupArn>" % ARN in err, "DescribeSecurityGroups shows securityGroupArn")
cli = ec2.create_security_group(VpcId=vpc, GroupName="cli", Description="client")["GroupId"]
es = ec2.create_network_interface(SubnetId=sub, PrivateIpAddress="10.141.1.10", Groups=[srv])["NetworkInterface"]["NetworkInterfaceId"]
ec = ec2.create_network_interface(SubnetId=sub, PrivateIpAddress="10.141.1.20", Groups=[cli])["NetworkInterface"]["NetworkInterfaceId"]
S = lab.plug(es, "s")
C = lab.plug(ec, "c")
LISTEN = ("import socket, sys\nss = []\nfor p in sys.argv[1:]:\n    s = socket.socket(); "
          "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', int(p))); s.listen(8); ss.append(s)\n"
          "import select\nwhile True:\n    for s in select.select(ss, [], [])[0]: s.accept()[0].close()")
server = subprocess.Popen(["ip", "netns", "exec", S, "/usr/bin/python3", "-c", LISTEN, "8001", "8002", "8003"])


def tcp(port):
    return lab.netns(C, "nc", "-z", "-w1", "10.141.1.10", str(port))[0] == 0


def rules(group):
    return ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroupRules"]


try:
    t.retry(lambda: subprocess.run(["ip", "netns", "exec", S, "ss", "-Hltn", "sport = :8003"],
                                   capture_output=True, text=True).stdout.strip(), timeout=5)
    t.ok(not tcp(8001), "before any rule: tcp 8001 is blocked")
    # boto3's flat form, as SDK code writes it.
    r = ec2.authorize_security_group_ingress(GroupId=srv, IpProtocol="tcp", FromPort=8001, ToPort=8001,
                                             CidrIp="10.141.1.0/24")
    t.ok(r["Return"] and len(r["SecurityGroupRules"]) == 1, "boto3 flat form: IpProtocol, FromPort, ToPort, CidrIp")
    rid = r["SecurityGroupRules"][0]["SecurityGroupRuleId"]
    t.ok(tcp(8001), "tcp 8001 connects")
    ec2.authorize_security_group_ingress(GroupId=srv, SourceSecurityGroupName="cli")
    got = sorted((x["IpProtocol"], x["FromPort"], x["ToPort"]) for x in rules(srv)
                 if not x["IsEgress"] and "ReferencedGroupInfo" in x)
    t.is_(got, [("icmp", -1, -1), ("tcp", 0, 65535), ("udp", 0, 65535)],
          "boto3 flat form: SourceSecurityGroupName grants full TCP, UDP and ICMP")
    t.ok(tcp(8002), "tcp 8002 from the cli group connects")
    ec2.revoke_security_group_ingress(GroupId=srv, SourceSecurityGroupName="cli")
    t.ok(not tcp(8002), "the flat revoke closes it again")
    # The aws CLI's own form, a source group by name.
    rc, out, err = lab.aws("authorize-security-group-ingress", "--group-id", srv, "--protocol", "tcp",
                           "--port", "8003", "--source-group", "cli")
    t.ok(rc == 0 and tcp(8003), "aws CLI --protocol tcp --port 8003 --source-group cli", err)

    before = ec2.describe_security_groups(GroupIds=[srv])["SecurityGroups"]
    bad = [
        ("InvalidParameterCombination", ec2.authorize_security_group_ingress,
         dict(GroupId=srv, IpProtocol="tcp", FromPort=1, ToPort=1, CidrIp="10.0.0.0/8", SourceSecurityGroupName="cli")),
        ("InvalidGroup.NotFound", ec2.authorize_security_group_ingress,
         dict(GroupId=srv, SourceSecurityGroupName="cli", SourceSecurityGroupOwnerId="210987654321")),
        ("InvalidParameterValue", ec2.authorize_security_group_ingress,
         dict(GroupId=srv, IpProtocol="tcp", FromPort=9, ToPort=1, CidrIp="10.0.0.0/8")),
        ("InvalidSecurityGroupRuleId.NotFound", ec2.modify_security_group_rules,
         dict(GroupId=srv, SecurityGroupRules=[{"SecurityGroupRuleId": "sgr-0123456789abcdef0", "SecurityGroupRule": {
             "IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "CidrIpv4": "10.0.0.0/8"}}])),
        ("InvalidParameterCombination", ec2.modify_security_group_rules,
         dict(GroupId=srv, SecurityGroupRules=[{"SecurityGroupRuleId": rid, "SecurityGroupRule": {
             "IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "CidrIpv4": "10.0.0.0/8", "ReferencedGroupId": cli}}])),
        ("InvalidParameterValue", ec2.update_security_group_rule_descriptions_ingress,
         dict(GroupId=srv, SecurityGroupRuleDescriptions=[{"SecurityGroupRuleId": rid, "Description": "x" * 256}])),
        ("InvalidPermission.NotFound", ec2.update_security_group_rule_descriptions_ingress,
         dict(GroupId=srv, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1,
                                           "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "x"}]}])),
    ]
    for code, fn, kw in bad:
        got = t.call_error(fn, **kw)
        t.ok(got[0] == code and got[2] == 400, "boto3 %s: %s (HTTP 400)" % (fn.__name__, code), str(got))
    t.is_(ec2.describe_security_groups(GroupIds=[srv])["SecurityGroups"], before, "the refusals changed nothing")
    rc, out, err = lab.aws("modify-security-group-rules", "--group-id", srv, "--security-group-rules",
                           "SecurityGroupRuleId=sgr-0123456789abcdef0,SecurityGroupRule={IpProtocol=tcp,FromPort=1,ToPort=1,CidrIpv4=10.0.0.0/8}")
    t.ok(rc == 254 and "(InvalidSecurityGroupRuleId.NotFound)" in err, "aws CLI: modify an unknown rule exits 254", err)

    r = ec2.modify_security_group_rules(GroupId=srv, SecurityGroupRules=[{"SecurityGroupRuleId": rid, "SecurityGroupRule": {
        "IpProtocol": "tcp", "FromPort": 8002, "ToPort": 8002, "CidrIpv4": "10.141.1.0/24", "Description": "moved"}}])
    t.ok(r["Return"], "boto3 modify_security_group_rules")
    got = [x for x in rules(srv) if x["SecurityGroupRuleId"] == rid]
    t.ok(len(got) == 1 and got[0]["FromPort"] == 8002 and got[0].get("Description") == "moved",
         "the rule keeps its ID with the new port", str(got))
    t.ok(not tcp(8001) and tcp(8002), "packets follow: tcp 8001 closed, 8002 open")
    rc, out, err = lab.aws("update-security-group-rule-descriptions-ingress", "--group-id", srv,
                           "--security-group-rule-descriptions", "SecurityGroupRuleId=%s,Description=web from lan" % rid)
    t.ok(rc == 0 and out.get("Return") is True, "aws CLI update-security-group-rule-descriptions-ingress", err)
    ec2.update_security_group_rule_descriptions_ingress(GroupId=srv, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 8003, "ToPort": 8003, "UserIdGroupPairs": [{"GroupId": cli, "Description": "cli"}]}])
    descs = sorted(x.get("Description", "") for x in rules(srv) if not x["IsEgress"])
    t.is_(descs, ["cli", "web from lan"], "both descriptions show in describe_security_group_rules")

    lim = ec2.create_security_group(VpcId=vpc, GroupName="lim", Description="quota")["GroupId"]
    perms = [{"IpProtocol": "tcp", "FromPort": p, "ToPort": p, "IpRanges": [{"CidrIp": "10.9.0.0/16"}]} for p in range(1000, 1060)]
    ec2.authorize_security_group_ingress(GroupId=lim, IpPermissions=perms)
    got = t.call_error(ec2.authorize_security_group_ingress, GroupId=lim, IpProtocol="tcp", FromPort=2000,
                       ToPort=2000, CidrIp="10.9.0.0/16")
    t.is_(got[0], "RulesPerSecurityGroupLimitExceeded", "the 61st inbound rule: RulesPerSecurityGroupLimitExceeded")
    t.is_(len([x for x in rules(lim) if not x["IsEgress"]]), 60, "and the group keeps 60")
    ids = [ec2.create_security_group(VpcId=vpc, GroupName="g%d" % i, Description="x")["GroupId"] for i in range(4)]
    got = t.call_error(ec2.modify_network_interface_attribute, NetworkInterfaceId=es, Groups=[srv, lim] + ids)
    t.is_(got[0], "SecurityGroupsPerInterfaceLimitExceeded", "6 groups on an ENI: SecurityGroupsPerInterfaceLimitExceeded")

    # ------------------------------------------------------------ DHCP options sets
    env = lab.rundir + "/dhcp.env"
    script = lab.rundir + "/dhcp.sh"
    with open(script, "w") as f:
        f.write('#!/bin/sh\n[ "$1" = bound ] && echo "$domain|$dns|$ntpsrv" >%s\n' % env)
    os.chmod(script, 0o755)

    def dhcp():
        open(env, "w").close()
        lab.netns(C, "ip", "addr", "flush", "dev", "eth0")
        lab.netns(C, "busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "5", "-T", "1", "-O", "ntpsrv", "-s", script)
        lab.netns(C, "ip", "addr", "flush", "dev", "eth0")
        lab.netns(C, "ip", "addr", "add", "10.141.1.20/24", "dev", "eth0")
        lab.netns(C, "ip", "route", "replace", "default", "via", "10.141.1.1")
        return "|".join(x.strip() for x in open(env).read().strip().split("|"))

    dflt = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["DhcpOptionsId"]
    t.is_(dhcp(), "ec2.internal|10.141.1.2|", "a new VPC: AWS's default options over DHCP")
    rc, out, err = lab.aws("create-dhcp-options", "--dhcp-configurations", "Key=domain-name,Values=lab.example",
                           "Key=domain-name-servers,Values=10.141.1.53,AmazonProvidedDNS", "Key=ntp-servers,Values=10.141.1.123")
    t.ok(rc == 0 and out["DhcpOptions"]["DhcpOptionsId"].startswith("dopt-"), "aws ec2 create-dhcp-options", err)
    dopt = out["DhcpOptions"]["DhcpOptionsId"] if rc == 0 else ""
    cfg = {c["Key"]: [v["Value"] for v in c["Values"]] for c in out["DhcpOptions"]["DhcpConfigurations"]} if rc == 0 else {}
    t.is_(cfg, {"domain-name": ["lab.example"], "domain-name-servers": ["10.141.1.53", "AmazonProvidedDNS"],
                "ntp-servers": ["10.141.1.123"]}, "its DhcpConfigurations as AWS prints them")
    got = ec2.describe_dhcp_options(Filters=[{"Name": "key", "Values": ["ntp-servers"]}])["DhcpOptions"]
    t.is_([d["DhcpOptionsId"] for d in got], [dopt], "boto3 describe_dhcp_options, filter key")
    got = ec2.describe_dhcp_options()["DhcpOptions"]
    t.is_(sorted(d["DhcpOptionsId"] for d in got), sorted([dflt, dopt]), "describe lists the region's default set too")
    rc, out, err = lab.aws("associate-dhcp-options", "--dhcp-options-id", dopt, "--vpc-id", vpc)
    t.ok(rc == 0, "aws ec2 associate-dhcp-options", err)
    t.is_(ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["DhcpOptionsId"], dopt, "describe_vpcs' DhcpOptionsId follows")
    t.is_(dhcp(), "lab.example|10.141.1.53 10.141.1.2|10.141.1.123", "the DHCP client receives the set")
    before = ec2.describe_dhcp_options()["DhcpOptions"]
    for code, fn, kw in [
        ("DependencyViolation", ec2.delete_dhcp_options, dict(DhcpOptionsId=dopt)),
        ("InvalidDhcpOptionID.NotFound", ec2.associate_dhcp_options, dict(DhcpOptionsId="dopt-0123456789abcdef0", VpcId=vpc)),
        ("InvalidParameterValue", ec2.create_dhcp_options, dict(DhcpConfigurations=[{"Key": "bogus", "Values": ["x"]}])),
        ("InvalidParameterValue", ec2.create_dhcp_options,
         dict(DhcpConfigurations=[{"Key": "ntp-servers", "Values": ["10.0.0.%d" % i for i in range(5)]}])),
    ]:
        got = t.call_error(fn, **kw)
        t.ok(got[0] == code and got[2] == 400, "boto3 %s: %s" % (fn.__name__, code), str(got))
    t.is_(ec2.describe_dhcp_options()["DhcpOptions"], before, "the refusals changed nothing")
    t.is_(ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["DhcpOptionsId"], dopt, "nor the VPC's set")
    rc, out, err = lab.aws("create-dhcp-options", "--dhcp-configurations", "Key=domain-name-servers,Values=ns.example")
    t.ok(rc == 254 and "(InvalidParameterValue)" in err, "aws CLI: a name server by name exits 254", err)
    ec2.associate_dhcp_options(DhcpOptionsId="default", VpcId=vpc)
    t.is_(dhcp(), "||", "associate default: no domain, no name servers")
    ec2.delete_dhcp_options(DhcpOptionsId=dopt)
    got = t.call_error(ec2.describe_dhcp_options, DhcpOptionsIds=[dopt])
    t.is_(got[0], "InvalidDhcpOptionID.NotFound", "a deleted set is gone")
    ec2.associate_dhcp_options(DhcpOptionsId=dflt, VpcId=vpc)
    t.is_(dhcp(), "ec2.internal|10.141.1.2|", "back on the default set")
    t.ok(tcp(8002), "and the server still answers")
    rc, out, err = lab.vpcd("audit-lab")
    t.ok(rc == 0, "vpcd audit-lab is clean", str(out), err)
finally:
    server.kill()
    server.wait()
t.done()
