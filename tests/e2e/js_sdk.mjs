// The JavaScript SDK v3 (@aws-sdk/client-ec2, from npm) against ec2d's endpoint: driven by
// tests/e2e/js_sdk.py. `node js_sdk.mjs up` builds a public subnet with an internet gateway,
// a web group and an instance with an elastic IP, with the SDK's commands, waiter and
// paginator; `node js_sdk.mjs down IDS-JSON` takes it apart. Each step prints one JSON line
// {step, ok, ...}; the Python side judges them and checks the packets.
// Environment: ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AMI, USER_DATA.
import * as ec2 from "@aws-sdk/client-ec2";

const c = new ec2.EC2Client({ endpoint: process.env.ENDPOINT, region: process.env.AWS_REGION, maxAttempts: 1 });
const say = (step, ok, more = {}) => console.log(JSON.stringify({ step, ok, ...more }));
const send = (Cmd, input) => c.send(new ec2[Cmd + "Command"](input));

async function step(name, fn) {
	try {
		const r = await fn();
		say(name, true, r || {});
		return r;
	} catch (e) {
		say(name, false, { error: e.name, message: e.message, status: e.$metadata?.httpStatusCode });
		throw e;
	}
}

async function up() {
	const ids = {};
	await step("CreateVpc", async () => {
		const r = await send("CreateVpc", { CidrBlock: "10.91.0.0/16",
			TagSpecifications: [{ ResourceType: "vpc", Tags: [{ Key: "Name", Value: "js" }] }] });
		ids.vpc = r.Vpc.VpcId;
		return { id: ids.vpc, cidr: r.Vpc.CidrBlock, tags: r.Vpc.Tags };
	});
	await step("CreateSubnet", async () => {
		const r = await send("CreateSubnet", { VpcId: ids.vpc, CidrBlock: "10.91.1.0/24", AvailabilityZone: "us-east-1a" });
		ids.subnet = r.Subnet.SubnetId;
		return { id: ids.subnet, free: r.Subnet.AvailableIpAddressCount };
	});
	await step("CreateInternetGateway", async () => {
		ids.igw = (await send("CreateInternetGateway", {})).InternetGateway.InternetGatewayId;
		await send("AttachInternetGateway", { InternetGatewayId: ids.igw, VpcId: ids.vpc });
		return { id: ids.igw };
	});
	await step("CreateRouteTable", async () => {
		ids.rtb = (await send("CreateRouteTable", { VpcId: ids.vpc })).RouteTable.RouteTableId;
		await send("CreateRoute", { RouteTableId: ids.rtb, DestinationCidrBlock: "0.0.0.0/0", GatewayId: ids.igw });
		ids.assoc = (await send("AssociateRouteTable", { RouteTableId: ids.rtb, SubnetId: ids.subnet })).AssociationId;
		return { id: ids.rtb, assoc: ids.assoc };
	});
	await step("CreateSecurityGroup", async () => {
		ids.sg = (await send("CreateSecurityGroup", { GroupName: "js-web", Description: "web", VpcId: ids.vpc })).GroupId;
		const r = await send("AuthorizeSecurityGroupIngress", { GroupId: ids.sg,
			IpPermissions: [{ IpProtocol: "tcp", FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: "0.0.0.0/0" }] }] });
		return { id: ids.sg, rules: (r.SecurityGroupRules || []).length, ret: r.Return };
	});
	// An error as the SDK surfaces it: the exception's name is EC2's code.
	await step("DescribeVpcs-NotFound", async () => {
		try {
			await send("DescribeVpcs", { VpcIds: ["vpc-0000000000000000f"] });
			return { error: null };
		} catch (e) {
			return { error: e.name, status: e.$metadata?.httpStatusCode };
		}
	});
	await step("paginateDescribeSecurityGroups", async () => {
		const names = [];
		for await (const page of ec2.paginateDescribeSecurityGroups({ client: c, pageSize: 5 },
			{ Filters: [{ Name: "vpc-id", Values: [ids.vpc] }] }))
			for (const g of page.SecurityGroups) names.push(g.GroupName);
		return { names: names.sort() };
	});
	await step("RunInstances", async () => {
		const r = await send("RunInstances", { ImageId: process.env.AMI, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1,
			SubnetId: ids.subnet, SecurityGroupIds: [ids.sg], UserData: Buffer.from(process.env.USER_DATA).toString("base64") });
		ids.instance = r.Instances[0].InstanceId;
		return { id: ids.instance, state: r.Instances[0].State.Name };
	});
	await step("waitUntilInstanceRunning", async () => {
		const w = await ec2.waitUntilInstanceRunning({ client: c, maxWaitTime: 120, minDelay: 1, maxDelay: 2 },
			{ InstanceIds: [ids.instance] });
		return { state: w.state };
	});
	await step("AllocateAddress", async () => {
		const a = await send("AllocateAddress", { Domain: "vpc" });
		ids.alloc = a.AllocationId;
		ids.eip = a.PublicIp;
		ids.eipassoc = (await send("AssociateAddress", { AllocationId: ids.alloc, InstanceId: ids.instance })).AssociationId;
		const d = await send("DescribeInstances", { InstanceIds: [ids.instance] });
		return { eip: ids.eip, seen: d.Reservations[0].Instances[0].PublicIpAddress };
	});
	say("ids", true, { ids });
}

async function down(ids) {
	await step("TerminateInstances", async () => {
		await send("TerminateInstances", { InstanceIds: [ids.instance] });
		const w = await ec2.waitUntilInstanceTerminated({ client: c, maxWaitTime: 120, minDelay: 1, maxDelay: 2 },
			{ InstanceIds: [ids.instance] });
		return { state: w.state };
	});
	await step("Teardown", async () => {
		await send("ReleaseAddress", { AllocationId: ids.alloc });
		await send("DeleteSecurityGroup", { GroupId: ids.sg });
		await send("DisassociateRouteTable", { AssociationId: ids.assoc });
		await send("DeleteRouteTable", { RouteTableId: ids.rtb });
		await send("DetachInternetGateway", { InternetGatewayId: ids.igw, VpcId: ids.vpc });
		await send("DeleteInternetGateway", { InternetGatewayId: ids.igw });
		await send("DeleteSubnet", { SubnetId: ids.subnet });
		await send("DeleteVpc", { VpcId: ids.vpc });
		const left = await send("DescribeVpcs", { Filters: [{ Name: "cidr", Values: ["10.91.0.0/16"] }] });
		return { vpcs_left: left.Vpcs.length };
	});
}

const [verb, arg] = process.argv.slice(2);
try {
	await (verb === "up" ? up() : down(JSON.parse(arg)));
} catch (e) {
	process.exit(1);
}
