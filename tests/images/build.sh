#!/usr/bin/env bash
# images/build: builds, caching, atomic replacement, image.json, the rootfs and the guest init.
# TAP. Builds into a temporary --out directory (removed at exit); reads, never writes,
# /var/lib/vpclab/images. When busybox-vm is not built there it is built into the temporary
# directory (that needs the Debian mirror, or downloads the kernel package).
# shellcheck disable=SC2016 # the single-quoted sh -c scripts get their arguments as $1...
set -uo pipefail

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=$SRCDIR/images/build
INIT=$SRCDIR/images/guest/init
UDHCPC=$SRCDIR/images/guest/udhcpc.script
DEFAULT_OUT=/var/lib/vpclab/images

n=0
failed=0
ok() {
	n=$((n + 1))
	if [[ $1 == 0 ]]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=1
	fi
}
check() { # check NAME COMMAND...
	local name=$1
	shift
	"$@" >/dev/null 2>&1
	ok $? "$name"
}
diag() { sed 's/^/# /'; }

if [[ $(id -u) -ne 0 ]]; then
	echo "1..0 # SKIP needs root (images/build installs packages and makes device nodes)"
	exit 77
fi

T=$(mktemp -d /tmp/imgt-build.XXXXXX)
trap 'rm -rf "$T"' EXIT
OUT=$T/out

json() { jq -r "$2" "$1/image.json"; }
mtimes() { find "$1" -printf '%T@ %m %s %p\n' | LC_ALL=C sort; }

# --- busybox: first build --------------------------------------------------------------------
"$BUILD" busybox --out "$OUT" >"$T/stdout" 2>"$T/stderr" </dev/null
ok $? "build busybox into a fresh --out directory"
check "quiet when stderr is not a terminal" test ! -s "$T/stderr" -a ! -s "$T/stdout"
diag <"$T/stderr"

I=$OUT/busybox
R=$I/rootfs
check "image.json is JSON" jq -e . "$I/image.json"
check "image.json: Name busybox, Kind lxc, Architecture x86_64" \
	test "$(json "$I" '.Name + " " + .Kind + " " + .Architecture')" = "busybox lxc x86_64"
check "image.json: Init /sbin/init" test "$(json "$I" .Init)" = /sbin/init
check "image.json: Digest is a sha256" grep -qE '^[0-9a-f]{64}$' <(json "$I" .Digest)
check "image.json: MinMemoryMiB is a number" jq -e '.MinMemoryMiB | type == "number" and . > 0' "$I/image.json"
check "image.json: Description is a non-empty string" jq -e '.Description | type == "string" and length > 0' "$I/image.json"
check "rootfs: /sbin/init is executable" test -f "$R/sbin/init" -a -x "$R/sbin/init"
check "rootfs: /sbin/init is images/guest/init" cmp "$R/sbin/init" "$INIT"
check "rootfs: udhcpc script is executable" test -x "$R/etc/udhcpc/default.script"
check "rootfs: udhcpc script is images/guest/udhcpc.script" cmp "$R/etc/udhcpc/default.script" "$UDHCPC"
check "rootfs: /bin/busybox is the static busybox" cmp "$R/bin/busybox" /bin/busybox
check "rootfs: applets are symlinks to /bin/busybox (sh, ip, udhcpc, wget)" \
	test "$(readlink "$R/bin/sh") $(readlink "$R/sbin/ip") $(readlink "$R/sbin/udhcpc") $(readlink "$R/usr/bin/wget")" \
	= "/bin/busybox /bin/busybox /bin/busybox /bin/busybox"
applets=$(busybox --list-full | grep -vcE '^(linuxrc|sbin/init|bin/busybox)$')
links=$(find "$R" -type l -lname /bin/busybox | wc -l)
check "rootfs: every applet is linked ($links of $applets)" test "$links" -eq "$applets"
missing=""
for d in proc sys dev tmp run var/log root; do
	[[ -d $R/$d && -z $(ls -A "$R/$d") ]] || missing+=" $d"
done
check "rootfs: empty /proc /sys /dev /tmp /run /var/log /root${missing:+ (bad:$missing)}" test -z "$missing"
check "rootfs: /etc/passwd, group, hosts, profile" \
	test -s "$R/etc/passwd" -a -s "$R/etc/group" -a -s "$R/etc/hosts" -a -s "$R/etc/profile"
check "rootfs: dropbear runs from the tree, with its own libraries" \
	sh -c 'chroot "$1" /usr/sbin/dropbear -V 2>&1 | grep -q "^Dropbear v"' _ "$R"
check "rootfs: root is uid 0 with /bin/sh" grep -qx 'root:x:0:0:root:/root:/bin/sh' "$R/etc/passwd"

# --- the guest init ---------------------------------------------------------------------------
check "init: sh -n" sh -n "$INIT"
check "init: busybox ash -n" busybox ash -n "$INIT"
check "udhcpc script: sh -n and busybox ash -n" sh -c 'sh -n "$1" && busybox ash -n "$1"' _ "$UDHCPC"
check "init: waits for DHCP, fetches IMDSv1 user-data, prints ready" \
	sh -c 'grep -q "udhcpc" "$1" && grep -q "169.254.169.254/latest/" "$1" && grep -q "imds_get user-data" "$1" && grep -q "say \"ready\"" "$1"' _ "$INIT"
check "init: puts the launch key in authorized_keys and starts dropbear" \
	sh -c 'grep -q "imds_get meta-data/public-keys/0/openssh-key" "$1" && grep -q "/usr/sbin/dropbear -R" "$1"' _ "$INIT"
if command -v shellcheck >/dev/null; then
	check "init, udhcpc script and images/build pass shellcheck" shellcheck "$INIT" "$UDHCPC" "$BUILD"
else
	check "init and udhcpc script parse with dash" sh -c 'dash -n "$1" && dash -n "$2"' _ "$INIT" "$UDHCPC"
fi

# --- caching -----------------------------------------------------------------------------------
digest=$(json "$I" .Digest)
before=$(mtimes "$OUT")
sums_before=$(cd "$OUT" && find . -type f -exec sha256sum {} + | LC_ALL=C sort)
"$BUILD" busybox --out "$OUT" >"$T/stdout" 2>"$T/stderr" </dev/null
ok $? "second build succeeds"
check "second build prints nothing" test ! -s "$T/stderr" -a ! -s "$T/stdout"
check "second build is a no-op: no mtime, mode or size changes in --out" test "$before" = "$(mtimes "$OUT")"
check "second build is a no-op: no content changes" \
	test "$sums_before" = "$(cd "$OUT" && find . -type f -exec sha256sum {} + | LC_ALL=C sort)"
check "second build: same digest" test "$(json "$I" .Digest)" = "$digest"

"$BUILD" busybox --out "$T/out2" >/dev/null 2>&1 </dev/null
check "digest is reproducible (a build into another directory gives the same)" \
	test "$(json "$T/out2/busybox" .Digest)" = "$digest"

# A changed recipe means a rebuild; the content (and so the digest) stays the same.
echo stale >"$I/.recipe"
ino_before=$(stat -c %i "$I/image.json")
"$BUILD" busybox --out "$OUT" >/dev/null 2>&1 </dev/null
ok $? "build after a recipe change succeeds"
check "a recipe change rebuilds the image" test "$(cat "$I/.recipe")" != stale -a "$(stat -c %i "$I/image.json")" != "$ino_before"
check "the rebuilt image has the same digest" test "$(json "$I" .Digest)" = "$digest"
check "no .busybox.tmp or .busybox.old left behind" test ! -e "$OUT/.busybox.tmp" -a ! -e "$OUT/.busybox.old"

# A crash mid-build leaves DIR/.NAME.tmp; an image without image.json is not complete.
mkdir -p "$OUT/.busybox.tmp/rootfs"
rm "$I/image.json"
"$BUILD" busybox --out "$OUT" >/dev/null 2>&1 </dev/null
ok $? "build after a crash (half .busybox.tmp, no image.json) succeeds"
check "... and leaves a complete image, same digest, no .tmp" \
	test -f "$I/image.json" -a ! -e "$OUT/.busybox.tmp" -a "$(json "$I" .Digest)" = "$digest"

# --- errors -----------------------------------------------------------------------------------
before=$(mtimes "$OUT")
"$BUILD" no-such-image --out "$OUT" >"$T/stdout" 2>"$T/stderr" </dev/null
rc=$?
check "unknown image name exits non-zero (rc $rc)" test "$rc" -ne 0
check "unknown image name: the message names it" grep -q "no-such-image" "$T/stderr"
"$BUILD" busybox no-such-image --out "$OUT" >/dev/null 2>&1 </dev/null
rc=$?
check "unknown name among good ones: non-zero and nothing touched" test "$rc" -ne 0 -a "$before" = "$(mtimes "$OUT")"
"$BUILD" busybox --bogus --out "$OUT" >/dev/null 2>&1 </dev/null
check "unknown option exits non-zero" test $? -ne 0

# --- busybox-vm -------------------------------------------------------------------------------
if [[ -f $DEFAULT_OUT/busybox-vm/image.json ]]; then
	V=$DEFAULT_OUT/busybox-vm
	echo "# checking the busybox-vm built in $V"
else
	echo "# busybox-vm is not in $DEFAULT_OUT: building it into $OUT"
	"$BUILD" busybox-vm --out "$OUT" >/dev/null 2>"$T/stderr" </dev/null
	ok $? "build busybox-vm"
	diag <"$T/stderr"
	V=$OUT/busybox-vm
fi
check "busybox-vm: image.json Name, Kind qemu, Architecture" \
	test "$(json "$V" '.Name + " " + .Kind + " " + .Architecture')" = "busybox-vm qemu x86_64"
check "busybox-vm: Digest is a sha256" grep -qE '^[0-9a-f]{64}$' <(json "$V" .Digest)
check "busybox-vm: Kernel and Initrd files exist" \
	test -s "$V/$(json "$V" .Kernel)" -a -s "$V/$(json "$V" .Initrd)"
check "busybox-vm: Cmdline has console=ttyS0" grep -q 'console=ttyS0' <(json "$V" .Cmdline)
check "busybox-vm: MinMemoryMiB >= 128" jq -e '.MinMemoryMiB >= 128' "$V/image.json"
check "busybox-vm: the kernel is a bzImage" sh -c 'file -b "$1" 2>/dev/null | grep -q "Linux kernel" || od -An -c -j 514 -N 4 "$1" | tr -d " " | grep -q HdrS' _ "$V/$(json "$V" .Kernel)"
check "busybox-vm: initrd is gzip" gzip -t "$V/$(json "$V" .Initrd)"
zcat "$V/$(json "$V" .Initrd)" | cpio -it --quiet 2>/dev/null >"$T/initrd.list"
check "busybox-vm: initrd has /init, /sbin/init, /bin/busybox, /dev/console" \
	sh -c 'for f in init sbin/init bin/busybox dev/console etc/udhcpc/default.script etc/vpclab/modules; do grep -qx "$f" "$1" || exit 1; done' _ "$T/initrd.list"
mods=""
for m in virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net virtio_console; do
	grep -qE "/$m\.ko$" "$T/initrd.list" || mods+=" $m"
done
check "busybox-vm: initrd has the virtio modules${mods:+ (missing:$mods)}" test -z "$mods"
(cd "$T" && zcat "$V/$(json "$V" .Initrd)" | cpio -i --quiet --to-stdout sbin/init >"$T/vm-init" 2>/dev/null)
check "busybox-vm: its init is images/guest/init" cmp "$T/vm-init" "$INIT"
(cd "$T" && zcat "$V/$(json "$V" .Initrd)" | cpio -i --quiet --to-stdout etc/vpclab/modules >"$T/vm-modules" 2>/dev/null)
order=$(sed 's|.*/||; s|\.ko$||' "$T/vm-modules" | tr '\n' ' ')
pos() { echo " $order" | grep -o ".* $1 " | wc -w; }
check "busybox-vm: modules load in dependency order ($order)" \
	test "$(pos virtio_ring)" -lt "$(pos virtio)" -a "$(pos virtio)" -lt "$(pos virtio_pci)" \
	-a "$(pos virtio_pci_modern_dev)" -lt "$(pos virtio_pci)" -a "$(pos failover)" -lt "$(pos net_failover)" \
	-a "$(pos net_failover)" -lt "$(pos virtio_net)" -a "$(pos virtio)" -lt "$(pos virtio_console)"

echo "1..$n"
exit $failed
