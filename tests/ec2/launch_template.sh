#!/bin/bash
# Launch templates (ec2d/launch_template.c): create, describe, versions ($Latest, $Default,
# SourceVersion), the default version, deleting versions and templates, EC2's errors changing
# nothing, the journal after kill -9; and an instance launched from a template really has the
# template's instance type, security group (packets: tcp/80 opens for the client's group only)
# and user data, with the request's own parameters over the template's.
. "$(dirname "$0")/ec2_lib.sh"

need_image busybox
start_vpcd || bail "vpcd does not start"
start_ec2d || bail "ec2d does not start"
AMI=$(image_id busybox) && [ -n "$AMI" ] || bail "describe-images does not list busybox"

v=$(mk_vpc 10.47.0.0/16 ltpl) && [ -n "$v" ] || bail "create-vpc"
s=$(mk_subnet "$v" 10.47.1.0/24) && [ -n "$s" ] || bail "create-subnet"
mk_sg() { vpc create-security-group --vpc-id "$v" --group-name "$1" --description "lt $1" | jq -r .GroupId; }
sg_web=$(mk_sg web)
sg_client=$(mk_sg client)
[ -n "$sg_web" ] && [ -n "$sg_client" ] || bail "create-security-group"

cat >"$T/ud" <<'EOF'
#!/bin/sh
mkdir -p /srv
echo "from the template" >/srv/index.html
echo template-user-data >/root/lt-marker
httpd -p 80 -h /srv
EOF
UD=$(base64 -w0 <"$T/ud")
jq -n --arg ami "$AMI" --arg sg "$sg_web" --arg ud "$UD" \
	'{ImageId: $ami, InstanceType: "t3.small", SecurityGroupIds: [$sg], UserData: $ud,
	  TagSpecifications: [{ResourceType: "instance", Tags: [{Key: "Name", Value: "from-lt"}, {Key: "role", Value: "web"}]}]}' >"$T/data.json"

LT=$(ec2 create-launch-template --launch-template-name web-tpl --version-description first \
	--launch-template-data "$(cat "$T/data.json")" \
	--tag-specifications 'ResourceType=launch-template,Tags=[{Key=team,Value=lab}]' | jq -r .LaunchTemplate.LaunchTemplateId)
like "$LT" '^lt-[0-9a-f]{17}$' "create-launch-template: $LT"
d=$(ec2 describe-launch-templates --launch-template-names web-tpl)
is "$(jq -r '.LaunchTemplates[0] | "\(.LaunchTemplateId) \(.DefaultVersionNumber) \(.LatestVersionNumber) \(.Tags[0].Value)"' <<<"$d")" \
	"$LT 1 1 lab" "describe-launch-templates by name: default 1, latest 1, its tags"
is "$(ec2 describe-launch-templates --filters Name=launch-template-name,Values='web-*' | jq -r '.LaunchTemplates | length')" 1 \
	"the launch-template-name filter"
is "$(ec2 describe-launch-template-versions --launch-template-id "$LT" --versions '$Latest' |
	jq -r '.LaunchTemplateVersions[0] | "\(.VersionNumber) \(.DefaultVersion) \(.VersionDescription) \(.LaunchTemplateData.InstanceType)"')" \
	"1 true first t3.small" "describe-launch-template-versions \$Latest: the data as given"

# ---------------------------------------------------------------- bad input changes nothing
snapshot() {
	echo "== templates"
	ec2 describe-launch-templates | canon
	echo "== versions"
	ec2 describe-launch-template-versions --launch-template-id "$LT" | canon
	echo "== instances"
	ec2 describe-instances | canon
}
snapshot >"$T/before"
ec2_refused InvalidLaunchTemplateName.AlreadyExistsException CreateLaunchTemplate "a name in use" -- \
	create-launch-template --launch-template-name web-tpl --launch-template-data "$(cat "$T/data.json")"
ec2_refused InvalidLaunchTemplateName.MalformedException CreateLaunchTemplate "a name of 2 characters" -- \
	create-launch-template --launch-template-name ab --launch-template-data "$(cat "$T/data.json")"
ec2_refused InvalidUserData.Malformed CreateLaunchTemplate "user data not in base64" -- \
	create-launch-template --launch-template-name bad-ud --launch-template-data '{"UserData": "!!not base64!!"}'
ec2_refused InvalidParameterValue CreateLaunchTemplate "tags of another resource type" -- \
	create-launch-template --launch-template-name bad-tags --launch-template-data '{}' \
	--tag-specifications 'ResourceType=vpc,Tags=[{Key=a,Value=b}]'
ec2_refused InvalidLaunchTemplateName.NotFoundException DescribeLaunchTemplates "describe a name that does not exist" -- \
	describe-launch-templates --launch-template-names nope-tpl
ec2_refused InvalidLaunchTemplateId.NotFound DescribeLaunchTemplates "describe an ID that does not exist" -- \
	describe-launch-templates --launch-template-ids lt-0123456789abcdef0
ec2_refused InvalidLaunchTemplateId.Malformed DescribeLaunchTemplateVersions "a malformed ID" -- \
	describe-launch-template-versions --launch-template-id lt-xyz
ec2_refused InvalidLaunchTemplateId.VersionNotFound DescribeLaunchTemplateVersions "a version that does not exist" -- \
	describe-launch-template-versions --launch-template-id "$LT" --versions 7
ec2_refused InvalidParameterCombination ModifyLaunchTemplate "both an ID and a name" -- \
	modify-launch-template --launch-template-id "$LT" --launch-template-name web-tpl --default-version 1
ec2_refused InvalidLaunchTemplateId.VersionNotFound ModifyLaunchTemplate "a default version that does not exist" -- \
	modify-launch-template --launch-template-id "$LT" --default-version 9
ec2_refused InvalidLaunchTemplateId.VersionNotFound CreateLaunchTemplateVersion "a source version that does not exist" -- \
	create-launch-template-version --launch-template-id "$LT" --source-version 4 --launch-template-data '{}'
ec2_refused InvalidLaunchTemplateName.NotFoundException RunInstances "run-instances from a template that does not exist" -- \
	run-instances --launch-template LaunchTemplateName=nope-tpl --subnet-id "$s"
ec2_refused InvalidLaunchTemplateId.VersionNotFound RunInstances "run-instances from a version that does not exist" -- \
	run-instances --launch-template "LaunchTemplateId=$LT,Version=3" --subnet-id "$s"
ec2_refused DryRunOperation CreateLaunchTemplate "DryRun" -- \
	create-launch-template --launch-template-name dry-tpl --launch-template-data '{}' --dry-run

# ---------------------------------------------------------------- an instance from the template
WEB=$(launch --launch-template LaunchTemplateName=web-tpl --subnet-id "$s") && [ -n "$WEB" ] || bail "run-instances --launch-template"
CLIENT=$(launch --launch-template "LaunchTemplateId=$LT,Version=\$Default" --subnet-id "$s" \
	--security-group-ids "$sg_client" --instance-type t3.nano --user-data 'echo client' \
	--tag-specifications 'ResourceType=instance,Tags=[{Key=Name,Value=client}]') && [ -n "$CLIENT" ] ||
	bail "run-instances --launch-template with overrides"
OTHER=$(launch --image-id "$AMI" --subnet-id "$s") && [ -n "$OTHER" ] || bail "run-instances other"
for i in $WEB $CLIENT $OTHER; do wait_ready "$i" 60 || bail "$i not ready"; done
is "$(inst_field "$WEB" .InstanceType)" t3.small "the template's instance type"
is "$(inst_field "$WEB" '.SecurityGroups[0].GroupId')" "$sg_web" "the template's security group"
is "$(inst_field "$WEB" '.Tags | map("\(.Key)=\(.Value)") | sort | join(" ")')" \
	"Name=from-lt aws:ec2launchtemplate:id=$LT aws:ec2launchtemplate:version=1 role=web" \
	"the template's tags, and aws:ec2launchtemplate:id and :version"
is "$(iexec "$WEB" cat /root/lt-marker)" template-user-data "the template's user data ran in the guest"
is "$(inst_field "$CLIENT" .InstanceType) $(inst_field "$CLIENT" '.SecurityGroups[0].GroupId')" "t3.nano $sg_client" \
	"the request's instance type and group over the template's"
is "$(inst_field "$CLIENT" '.Tags | map("\(.Key)=\(.Value)") | sort | join(" ")')" \
	"Name=client aws:ec2launchtemplate:id=$LT aws:ec2launchtemplate:version=1 role=web" \
	"tags merged by key, the request's Name over the template's"
nok "the request's user data replaced the template's" iexec "$CLIENT" test -e /root/lt-marker

IP_WEB=$(instance_ip "$WEB")
get_from() { iexec "$1" timeout 3 wget -q -O - "http://$IP_WEB/" 2>/dev/null; }
ok "the web server of the template's user data listens (from inside)" iexec "$WEB" sh -c 'timeout 3 wget -q -O - http://127.0.0.1/ | grep -q template'
is "$(get_from "$CLIENT")" "" "the template's group has no tcp/80 rule: the client does not connect"
vpc authorize-security-group-ingress --group-id "$sg_web" --protocol tcp --port 80 --source-group "$sg_client" >/dev/null ||
	bail "authorize-security-group-ingress"
is "$(get_from "$CLIENT")" "from the template" "tcp/80 from the client's group into the template's group: the page"
is "$(get_from "$OTHER")" "" "an instance of another group still does not connect"

# ---------------------------------------------------------------- versions
V2=$(ec2 create-launch-template-version --launch-template-name web-tpl --source-version 1 --version-description second \
	--launch-template-data '{"InstanceType": "t3.micro"}')
is "$(jq -r '.LaunchTemplateVersion | "\(.VersionNumber) \(.DefaultVersion) \(.LaunchTemplateData.InstanceType) \(.LaunchTemplateData.ImageId)"' <<<"$V2")" \
	"2 false t3.micro $AMI" "create-launch-template-version --source-version 1: version 2, the source's data, InstanceType replaced"
is "$(ec2 describe-launch-template-versions --launch-template-id "$LT" --versions '$Default' '$Latest' | jq -r '[.LaunchTemplateVersions[].VersionNumber] | join(" ")')" \
	"1 2" "\$Default is 1, \$Latest is 2"
is "$(ec2 modify-launch-template --launch-template-id "$LT" --default-version 2 | jq -r .LaunchTemplate.DefaultVersionNumber)" 2 \
	"modify-launch-template --default-version 2"
dv=$(ec2 delete-launch-template-versions --launch-template-id "$LT" --versions 2 1)
is "$(jq -r '.UnsuccessfullyDeletedLaunchTemplateVersions[] | "\(.VersionNumber) \(.ResponseError.Code)"' <<<"$dv")" \
	"2 launchTemplateVersionDoesNotExist" "delete-launch-template-versions: not the default (2)"
is "$(jq -r '[.SuccessfullyDeletedLaunchTemplateVersions[].VersionNumber] | join(" ")' <<<"$dv")" 1 "but version 1 goes"

# ---------------------------------------------------------------- the journal
kill9_ec2d
wait_lock_free || bail "the state lock is still held"
start_ec2d || bail "ec2d does not restart"
is "$(ec2 describe-launch-template-versions --launch-template-name web-tpl | jq -r '[.LaunchTemplateVersions[] | "\(.VersionNumber):\(.DefaultVersion)"] | join(" ")')" \
	"2:true" "after kill -9 and a restart: the template and its versions, as they were"
V3=$(ec2 create-launch-template-version --launch-template-name web-tpl --launch-template-data '{}' | jq -r .LaunchTemplateVersion.VersionNumber)
is "$V3" 3 "numbers are not reused: the next version is 3"
is "$(ec2 delete-launch-template --launch-template-name web-tpl | jq -r .LaunchTemplate.LaunchTemplateId)" "$LT" "delete-launch-template"
snapshot() { ec2 describe-launch-templates | canon; }
snapshot >"$T/before"
ec2_refused InvalidLaunchTemplateId.NotFound DeleteLaunchTemplate "deleted: delete it again" -- \
	delete-launch-template --launch-template-id "$LT"
is "$(inst_field "$WEB" .State.Name)" running "its instances stay"
