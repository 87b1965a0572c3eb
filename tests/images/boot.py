#!/usr/bin/python3
"""Boots the vpclab images under libvirt and checks the guest init (TAP).

Needs root, a running libvirtd with the LXC and QEMU drivers, python3-libvirt, dnsmasq and
busybox. Uses the images in $VPCLAB_IMAGES (default /var/lib/vpclab/images; busybox and
busybox-vm must be built there). Everything it makes carries the prefix imgt<pid>: a network
namespace with a bridge, dnsmasq (DHCP) and busybox httpd on 169.254.169.254 (IMDS user-data),
two libvirt domains and a directory in /tmp; all are removed at exit.

Prints the guests' consoles and the time from virDomainCreateXML to "vpclab-init: ready" as
TAP comments.
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import libvirt

IMAGES = os.environ.get("VPCLAB_IMAGES", "/var/lib/vpclab/images")
PID = os.getpid()
TAG = f"imgt{PID % 100000}"
NS = f"{TAG}-ns"
TMP = f"/tmp/{TAG}"
LXC_MAC = "02:00:0a:63:00:0b"
VM_MAC = "52:54:00:63:00:0c"
LXC2_MAC = "02:00:0a:63:00:0d"
USER_DATA = "#!/bin/sh\necho \"user-data says hello from $(hostname)\"\ntouch /root/user-data-ran\nexit 3\n"

results = []
procs = []
domains = []
streams = []


def ok(cond, name):
    results.append(bool(cond))
    print(f"{'ok' if cond else 'not ok'} {len(results)} - {name}", flush=True)
    return cond


def diag(text):
    for line in str(text).splitlines():
        print(f"# {line}", flush=True)


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


def netns(*args, check=True):
    return sh("ip", "netns", "exec", NS, *args, check=check)


def setup_network():
    os.makedirs(f"{TMP}/www/latest", exist_ok=True)
    sh("ip", "netns", "add", NS)
    netns("ip", "link", "set", "lo", "up")
    netns("ip", "link", "add", "br0", "type", "bridge")
    netns("ip", "addr", "add", "10.99.0.1/24", "dev", "br0")
    netns("ip", "addr", "add", "169.254.169.254/32", "dev", "lo")
    netns("ip", "link", "set", "br0", "up")
    procs.append(subprocess.Popen(
        ["ip", "netns", "exec", NS, "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
         "--port=0", "--interface=br0", "--bind-interfaces", "--user=root",
         "--dhcp-range=10.99.0.10,10.99.0.50,255.255.255.0,1h",
         "--dhcp-option=option:router,10.99.0.1", "--dhcp-option=option:dns-server,10.99.0.1",
         "--domain=imgt.internal",
         f"--dhcp-host={LXC_MAC},10.99.0.11,imgt-lxc", f"--dhcp-host={VM_MAC},10.99.0.12,imgt-vm",
         f"--dhcp-host={LXC2_MAC},10.99.0.13,imgt-lxc2",
         f"--dhcp-leasefile={TMP}/leases", f"--pid-file={TMP}/dnsmasq.pid"],
        stdout=subprocess.DEVNULL, stderr=open(f"{TMP}/dnsmasq.log", "w")))
    procs.append(subprocess.Popen(
        ["ip", "netns", "exec", NS, "busybox", "httpd", "-f", "-p", "169.254.169.254:80",
         "-h", f"{TMP}/www"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    set_user_data(USER_DATA)


def set_user_data(text):
    path = f"{TMP}/www/latest/user-data"
    if text is None:
        if os.path.exists(path):
            os.unlink(path)
    else:
        with open(path, "w") as f:
            f.write(text)


def plug(dev):
    """Moves the host end of a guest interface into our namespace, onto the bridge."""
    for _ in range(200):
        if sh("ip", "link", "show", dev, check=False).returncode == 0:
            break
        time.sleep(0.005)
    sh("ip", "link", "set", dev, "netns", NS)
    netns("ip", "link", "set", dev, "master", "br0", "up")


class Console:
    """Console lines with their arrival time (seconds since start)."""

    def __init__(self, start):
        self.start = start
        self.lines = []
        self.buf = b""
        self.lock = threading.Lock()

    def feed(self, data):
        now = time.monotonic() - self.start
        with self.lock:
            self.buf += data
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                self.lines.append((now, line.decode(errors="replace").rstrip("\r")))

    def find(self, text):
        with self.lock:
            for t, line in self.lines:
                if text in line:
                    return t, line
        return None

    def wait(self, text, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            hit = self.find(text)
            if hit:
                return hit
            time.sleep(0.01)
        return None

    def text(self):
        with self.lock:
            return "\n".join(f"[{t:6.2f}] {line}" for t, line in self.lines)


def read_lxc_console(conn, dom, console):
    st = conn.newStream(0)
    streams.append(st)
    dom.openConsole(None, st, 0)
    try:
        while True:
            data = st.recv(4096)
            if not data or isinstance(data, int):
                break
            console.feed(data)
    except libvirt.libvirtError:
        pass


def lxc_xml(name, rootfs, mac, dev):
    return f"""<domain type='lxc'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <os><type>exe</type><init>/sbin/init</init></os>
  <features><privnet/></features>
  <devices>
    <filesystem type='mount'><source dir='{rootfs}'/><target dir='/'/></filesystem>
    <interface type='ethernet'><mac address='{mac}'/><target dev='{dev}' managed='yes'/></interface>
    <console type='pty'/>
  </devices>
</domain>"""


def boot_lxc(conn, label, mac, dev, plug_delay=0.0, init="/sbin/init", prepare=None):
    rootfs = f"{TMP}/{label}-rootfs"
    sh("cp", "-a", f"{IMAGES}/busybox/rootfs", rootfs)
    if prepare:
        prepare(rootfs)
    name = f"{TAG}-{label}"
    xml = lxc_xml(name, rootfs, mac, dev).replace("<init>/sbin/init</init>", f"<init>{init}</init>")
    if dev is None:
        xml = "\n".join(line for line in xml.splitlines() if "<interface" not in line)
    start = time.monotonic()
    dom = conn.createXML(xml, 0)
    domains.append((conn, name))
    console = Console(start)
    threading.Thread(target=read_lxc_console, args=(conn, dom, console), daemon=True).start()
    if dev is not None:
        time.sleep(plug_delay)
        plug(dev)
    return dom, console, rootfs


def gone(conn, name, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            conn.lookupByName(name)
        except libvirt.libvirtError:
            return True
        time.sleep(0.05)
    return False


def test_lxc(conn):
    dom, console, rootfs = boot_lxc(conn, "lxc", LXC_MAC, f"{TAG}l")
    ready = console.wait("vpclab-init: ready", 30)
    ok(ready, "lxc: vpclab-init: ready on the console")
    if ready:
        diag(f"lxc: virsh create -> ready: {ready[0]:.2f} s")
    ok(console.find("vpclab-init: eth0 10.99.0.11/24 router 10.99.0.1 hostname imgt-lxc"),
       "lxc: DHCP lease, router and hostname printed")
    with open(f"{rootfs}/etc/resolv.conf") as f:
        resolv = f.read()
    ok("search imgt.internal" in resolv and "nameserver 10.99.0.1" in resolv,
       "lxc: /etc/resolv.conf from DHCP")
    with open(f"{rootfs}/etc/hostname") as f:
        ok(f.read().strip() == "imgt-lxc", "lxc: /etc/hostname from DHCP")
    ok(console.find("user-data says hello from imgt-lxc")
       and console.find("vpclab-init: user-data exited 3")
       and os.path.exists(f"{rootfs}/root/user-data-ran"),
       "lxc: user-data script ran (output on the console, exit status printed)")
    ok(netns("ping", "-c", "1", "-W", "2", "10.99.0.11", check=False).returncode == 0,
       "lxc: guest answers ping on its DHCP address")
    t0 = time.monotonic()
    dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_SIGNAL)
    ok(console.wait("vpclab-init: shutting down", 10), "lxc: SIGTERM prints shutting down")
    ok(gone(conn, f"{TAG}-lxc", 10), "lxc: container ends after SIGTERM")
    diag(f"lxc: SIGTERM -> domain gone: {time.monotonic() - t0:.2f} s")
    diag("lxc console:\n" + console.text())
    with open(f"{rootfs}/var/log/udhcpc.log") as f:
        diag("lxc /var/log/udhcpc.log:\n" + f.read())

    # The host end joins the bridge 2 s late: DHCP retries; no user-data (404) is no script.
    set_user_data(None)
    dom, console, rootfs = boot_lxc(conn, "lxc2", LXC2_MAC, f"{TAG}m", plug_delay=2.0)
    ready = console.wait("vpclab-init: ready", 30)
    ok(ready and console.find("vpclab-init: eth0 10.99.0.13/24 router 10.99.0.1 hostname imgt-lxc2"),
       "lxc: DHCP retries until the interface is on the bridge")
    ok(ready and console.find("vpclab-init: no user-data script"),
       "lxc: no user-data (404) -> no user-data script, ready")
    if ready:
        diag(f"lxc (plugged after 2 s, no user-data): virsh create -> ready: {ready[0]:.2f} s")
    diag("lxc2 console:\n" + console.text())
    dom.destroy()
    set_user_data(USER_DATA)

    # The same init under dash (the /bin/sh of the debian-12 image), as /sbin/vpclab-init.
    def with_dash(rootfs):
        for lib in ("/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"):
            os.makedirs(rootfs + os.path.dirname(lib), exist_ok=True)
            shutil.copy(lib, rootfs + lib)
        shutil.copy("/bin/dash", f"{rootfs}/bin/dash")
        with open(f"{rootfs}/sbin/init") as f:
            text = f.read().replace("#!/bin/sh", "#!/bin/dash", 1)
        with open(f"{rootfs}/sbin/vpclab-init", "w") as f:
            f.write(text)
        os.chmod(f"{rootfs}/sbin/vpclab-init", 0o755)

    dom, console, rootfs = boot_lxc(conn, "lxc4", LXC_MAC, f"{TAG}d", init="/sbin/vpclab-init",
                                    prepare=with_dash)
    ready = console.wait("vpclab-init: ready", 30)
    ok(ready and console.find("vpclab-init: eth0 10.99.0.11/24 router 10.99.0.1 hostname imgt-lxc")
       and console.find("vpclab-init: user-data exited 3"),
       "lxc: the init under dash: DHCP, user-data, ready")
    if ready:
        diag(f"lxc (init under dash): virsh create -> ready: {ready[0]:.2f} s")
    dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_SIGNAL)
    ok(console.wait("vpclab-init: shutting down", 10) and gone(conn, f"{TAG}-lxc4", 10),
       "lxc: the init under dash shuts down on SIGTERM")

    # No network interface at all: straight to ready.
    dom, console, rootfs = boot_lxc(conn, "lxc3", None, None)
    ready = console.wait("vpclab-init: ready", 30)
    ok(ready and console.find("vpclab-init: no eth0") and console.find("vpclab-init: no user-data script"),
       "lxc: without eth0 -> no eth0, no user-data script, ready")
    if ready:
        diag(f"lxc (no interface): virsh create -> ready: {ready[0]:.2f} s")
    dom.destroy()


def vm_xml(name, image, console_log, sock, dev):
    with open(f"{image}/image.json") as f:
        meta = json.load(f)
    # QEMU runs as libvirt-qemu, which may not traverse the image directory (/var/lib/vpclab
    # is 0750): boot copies, as ec2d would boot an instance's own files.
    for key in ("Kernel", "Initrd"):
        shutil.copy(f"{image}/{meta[key]}", f"{TMP}/vm-{meta[key]}")
    image = TMP
    meta = dict(meta, Kernel=f"vm-{meta['Kernel']}", Initrd=f"vm-{meta['Initrd']}")
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{meta['MinMemoryMiB']}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{image}/{meta['Kernel']}</kernel>
    <initrd>{image}/{meta['Initrd']}</initrd>
    <cmdline>{meta['Cmdline']}</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <serial type='file'><source path='{console_log}'/><target port='0'/></serial>
    <interface type='ethernet'><mac address='{VM_MAC}'/><target dev='{dev}' managed='yes'/><model type='virtio'/></interface>
    <channel type='unix'><source mode='bind' path='{sock}'/><target type='virtio' name='org.vpclab.exec'/></channel>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>"""


class Agent:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.sock.settimeout(30)
        self.buf = b""
        self.n = 0

    def line(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("agent closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def exec(self, cmd):
        self.n += 1
        rid = f"r{self.n}"
        self.sock.sendall(f"EXEC {rid} {base64.b64encode(cmd.encode()).decode()}\n".encode())
        out, chunks = b"", 0
        while True:
            parts = self.line().split(" ")
            if parts[0] == "OUT" and parts[1] == rid:
                out += base64.b64decode(parts[2])
                chunks += 1
            elif parts[0] == "EXIT" and parts[1] == rid:
                return int(parts[2]), out, chunks
            else:
                raise ValueError(f"unexpected agent line {parts}")


def test_vm(conn):
    image = f"{IMAGES}/busybox-vm"
    console_log, sock = f"{TMP}/vm-console.log", f"{TMP}/vm-exec.sock"
    name, dev = f"{TAG}-vm", f"{TAG}v"
    start = time.monotonic()
    dom = conn.createXML(vm_xml(name, image, console_log, sock, dev), 0)
    domains.append((conn, name))
    console = Console(start)
    plug(dev)

    stop = threading.Event()

    def tail():
        pos = 0
        while not stop.is_set():
            try:
                with open(console_log, "rb") as f:
                    f.seek(pos)
                    data = f.read()
            except FileNotFoundError:
                data = b""
            if data:
                pos += len(data)
                console.feed(data)
            time.sleep(0.01)

    threading.Thread(target=tail, daemon=True).start()
    agent_up = console.wait("vpclab-init: exec agent on", 60)
    ok(agent_up, "vm: exec agent started")
    if agent_up:
        diag(f"vm: virsh create -> exec agent: {agent_up[0]:.2f} s")
    ready = console.wait("vpclab-init: ready", 60)
    ok(ready, "vm: vpclab-init: ready on the console")
    if ready:
        diag(f"vm: virsh create -> ready: {ready[0]:.2f} s")
    ok(console.find("vpclab-init: eth0 10.99.0.12/24 router 10.99.0.1 hostname imgt-vm"),
       "vm: DHCP lease, router and hostname printed")
    ok(console.find("user-data says hello from imgt-vm") and console.find("vpclab-init: user-data exited 3"),
       "vm: user-data script ran")
    ok(netns("ping", "-c", "1", "-W", "2", "10.99.0.12", check=False).returncode == 0,
       "vm: guest answers ping on its DHCP address")

    try:
        agent = Agent(sock)
        t0 = time.monotonic()
        st, out, _ = agent.exec("hostname; cat /etc/resolv.conf; echo to-stderr >&2; exit 7")
        diag(f"vm: first exec round trip {time.monotonic() - t0:.3f} s")
        ok(st == 7 and out == b"imgt-vm\nsearch imgt.internal\nnameserver 10.99.0.1\nto-stderr\n",
           "vm: exec returns combined stdout+stderr and the exit status")
        diag(f"exec output: {out!r} status {st}")
        t0 = time.monotonic()
        good = all(agent.exec(f"echo {i}")[:2] == (0, f"{i}\n".encode()) for i in range(30))
        ok(good, "vm: exec survives 30 requests in a row")
        diag(f"vm: 30 execs in {time.monotonic() - t0:.2f} s")
        st, out, chunks = agent.exec("seq 1 20000")
        ok(st == 0 and out == "".join(f"{i}\n" for i in range(1, 20001)).encode() and chunks > 1,
           f"vm: large output arrives intact in chunks ({len(out)} bytes, {chunks} chunks)")
        st, out, _ = agent.exec("head -c 300 /dev/urandom | wc -c; printf 'a\\0b' | od -An -c")
        ok(st == 0 and b"300" in out and b"\\0" in out, "vm: binary-safe exec")
        agent.sock.close()
        agent = Agent(sock)
        ok(agent.exec("echo again")[:2] == (0, b"again\n"), "vm: agent answers after a reconnect")
        t0 = time.monotonic()
        st, out, _ = agent.exec("ip -4 -o addr show eth0; ping -c 1 -W 2 10.99.0.1 >/dev/null && echo pinged")
        ok(st == 0 and b"10.99.0.12/24" in out and b"pinged" in out, "vm: exec sees the network")
        diag("vm: free -k:\n" + agent.exec("free -k")[1].decode())
        agent.sock.close()
    except Exception as e:  # noqa: BLE001 - report and go on to the shutdown check
        ok(False, f"vm: exec agent ({e})")

    t0 = time.monotonic()
    dom.shutdown()  # ACPI power button
    ok(console.wait("vpclab-init: shutting down", 20), "vm: ACPI shutdown prints shutting down")
    ok(gone(conn, name, 20), "vm: VM powers off")
    diag(f"vm: virsh shutdown -> domain gone: {time.monotonic() - t0:.2f} s")
    time.sleep(0.1)
    stop.set()
    diag("vm console:\n" + console.text())


def cleanup():
    for st in streams:
        try:
            st.abort()
        except libvirt.libvirtError:
            pass
    for conn, name in domains:
        try:
            conn.lookupByName(name).destroy()
        except libvirt.libvirtError:
            pass
    for p in procs:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
    sh("ip", "netns", "del", NS, check=False)
    for dev in (f"{TAG}l", f"{TAG}m", f"{TAG}d", f"{TAG}v"):
        sh("ip", "link", "del", dev, check=False)
    shutil.rmtree(TMP, ignore_errors=True)


def main():
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root")
        return 77
    for img in ("busybox", "busybox-vm"):
        if not os.path.exists(f"{IMAGES}/{img}/image.json"):
            print(f"Bail out! {IMAGES}/{img} is not built (images/build)")
            return 1
    libvirt.registerErrorHandler(lambda *_: None, None)
    lxc = libvirt.open("lxc:///system")
    qemu = libvirt.open("qemu:///system")
    try:
        setup_network()
        only = os.environ.get("BOOT_ONLY", "")  # lxc or vm: for debugging
        if only != "vm":
            test_lxc(lxc)
        if only != "lxc":
            test_vm(qemu)
    finally:
        cleanup()
        print(f"1..{len(results)}", flush=True)
    return 0 if all(results) and (os.environ.get("BOOT_ONLY") or len(results) == 26) else 1


if __name__ == "__main__":
    sys.exit(main())
