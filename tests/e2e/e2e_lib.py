"""Shared helpers of the end-to-end tests: vpclab driven by the real aws CLI and boto3 over
ec2d's EC2 Query API. Not a test itself.

A test script does

    import e2e_lib as t
    lab = t.Lab("198.19.192.0/20")      # its own public pool (host routes of two labs collide)
    ec2 = lab.client                     # boto3 EC2 client on the lab's endpoint
    rc, out, err = lab.aws("describe-vpcs")
    t.ok(...); t.is_(...)
    t.done()

Lab() starts a throw-away lab: a fresh prefix ("e" + 3 characters of [a-z0-9] that no network
namespace, link or libvirt domain uses), its own temporary directories, vpcd and ec2d (paths
from the environment: VPCD, EC2D; meson's test_env sets them), ec2d's HTTP API on a free port
of 127.0.0.1. At exit (normal, exception, SIGTERM from meson's timeout) the cleanup terminates
the lab's instances, stops both daemons, runs `ec2d teardown` and `vpcd teardown`, and then
checks that no network namespace, link, libvirt domain or pid file with the prefix is left: a
leftover is a failed assertion (and is removed, so as not to disturb the next run).

TAP: ok(), is_(), like(), skip(), diag(), bail(), done(). todo="reason" on an assertion
marks a known bug: it prints "# TODO bug: reason" and its failure does not fail the run.

Environment: VPCD, EC2D (binaries), SRCDIR (source tree), VPCLAB_IMAGES_DIR (default
/var/lib/vpclab/images), AWS_CLI (default /usr/bin/aws, Debian's awscli, else `aws` on PATH),
E2E_PYTHON=any (do not switch to Debian's /usr/bin/python3 for boto3; see below).
"""
import atexit
import base64
import configparser
import json
import os
import random
import re
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time

# The clients measured are Debian's (python3-boto3, awscli), whatever python3 meson found: a
# script started by another interpreter (pyenv's, with a pip boto3 of another version) runs
# itself again under /usr/bin/python3 when that one has boto3. E2E_PYTHON=any keeps the
# interpreter it was started with.
_DEBIAN_PY = "/usr/bin/python3"
if (os.environ.get("E2E_PYTHON") != "any" and not os.environ.get("E2E_REEXEC") and os.path.exists(_DEBIAN_PY)
        and os.path.realpath(sys.executable) != os.path.realpath(_DEBIAN_PY)
        and subprocess.run([_DEBIAN_PY, "-c", "import boto3"], capture_output=True).returncode == 0):
    os.environ["E2E_REEXEC"] = "1"
    sys.stdout.flush()
    os.execv(_DEBIAN_PY, [_DEBIAN_PY] + sys.argv)
try:
    import boto3
    import botocore
    import botocore.config
    import botocore.exceptions
except ImportError:
    print("1..0 # SKIP boto3 is not installed (apt-get install python3-boto3)", flush=True)
    os._exit(77)

ClientError = botocore.exceptions.ClientError

# ------------------------------------------------------------------------------------- TAP

_n = 0
_failed = 0
_todo_failed = 0
_planned = None
_bailed = False
_start = time.monotonic()


def plan(n):
    global _planned
    _planned = n
    print("1..%d" % n, flush=True)


def diag(*lines):
    for x in lines:
        for line in str(x).splitlines() or [""]:
            print("# " + line, flush=True)


def ok(cond, desc, *diags, todo=None):
    """One assertion. diags are printed (as comments) when it fails.

    todo="reason": a known bug. A failure prints "not ok N - desc # TODO bug: reason" and does
    not fail the run. A pass prints a plain "ok" and a comment: meson counts "ok # TODO" as an
    unexpected pass, i.e. a failure, and some of these bugs are races that do not show on
    every run."""
    global _n, _failed, _todo_failed
    _n += 1
    desc = str(desc).replace("#", "\\#").replace("\n", " ")
    suffix = " # TODO bug: %s" % todo if todo and not cond else ""
    print("%s %d - %s%s" % ("ok" if cond else "not ok", _n, desc, suffix), flush=True)
    if cond and todo:
        diag("known bug not seen this time (if it is fixed, drop the TODO mark): %s" % todo)
    if not cond:
        if todo:
            _todo_failed += 1
        else:
            _failed += 1
        for d in diags:
            diag(d)
    return bool(cond)


def is_(got, want, desc, todo=None):
    return ok(got == want, desc, "got:      %r" % (got,), "expected: %r" % (want,), todo=todo)


def like(text, regex, desc, todo=None):
    text = "" if text is None else str(text)
    return ok(re.search(regex, text) is not None, desc, "%r does not match /%s/" % (text[:2000], regex),
              todo=todo)


def skip(desc, reason):
    global _n
    _n += 1
    print("ok %d - %s # SKIP %s" % (_n, desc, reason), flush=True)


def bail(reason):
    """Stops the script here (the cleanup still runs)."""
    global _bailed, _failed
    print("Bail out! %s" % reason, flush=True)
    _bailed = True
    _failed += 1
    sys.exit(1)


def skip_all(reason):
    """The whole script is skipped (exit 77): only before any assertion."""
    print("1..0 # SKIP %s" % reason, flush=True)
    os._exit(77)


def done():
    """Ends the script: exits through the cleanup with the TAP status."""
    sys.exit(0)


def _finish():
    if _planned is None:
        print("1..%d" % _n, flush=True)
    elif _planned != _n and not _bailed:
        print("# planned %d assertions, ran %d" % (_planned, _n), flush=True)
    diag("%d assertions, %d failed, %d known bugs (TODO), %.1f s" % (_n, _failed, _todo_failed,
                                                                      time.monotonic() - _start))


def failed():
    return _failed > 0 or (_planned is not None and _planned != _n and not _bailed)


# ------------------------------------------------------------------------------ utilities


def run(args, env=None, timeout=120, input=None):
    """Runs a command; returns (exit code, stdout, stderr) as text."""
    try:
        p = subprocess.run(args, env=env, input=input, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as ex:
        return 124, (ex.stdout or b"").decode(errors="replace") if isinstance(ex.stdout, bytes) else (
            ex.stdout or ""), "timeout after %ss" % timeout
    return p.returncode, p.stdout, p.stderr


def retry(fn, timeout=30.0, interval=0.2):
    """Calls fn until it returns a true value or timeout seconds pass; returns the last value."""
    end = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = fn()
        except Exception as ex:  # noqa: BLE001 (a probe that throws is a probe that failed)
            v, last = None, ex
        if v:
            return v
        if time.monotonic() >= end:
            if last is not None:
                diag("last attempt raised %r" % (last,))
            return v
        time.sleep(interval)


def err_code(ex):
    """The EC2 error code of a botocore ClientError."""
    return ex.response.get("Error", {}).get("Code")


def err_status(ex):
    return ex.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def call_error(fn, *args, **kw):
    """Calls a boto3 operation expected to fail: returns (code, message, HTTP status), or
    (None, result, None) when it succeeded."""
    try:
        r = fn(*args, **kw)
    except ClientError as ex:
        return err_code(ex), ex.response.get("Error", {}).get("Message"), err_status(ex)
    return None, r, None


def tags_of(obj):
    return {t["Key"]: t["Value"] for t in obj.get("Tags") or []}


def netns_names():
    """Names of the network namespaces (ip netns list)."""
    rc, out, _ = run(["ip", "netns", "list"])
    return [l.split()[0] for l in out.splitlines() if l.strip()]


def link_names(ns=None):
    """Names of the links of the root namespace, or of namespace NS."""
    args = ["ip"] + (["-n", ns] if ns else []) + ["-o", "link", "show"]
    rc, out, _ = run(args)
    names = []
    for l in out.splitlines():
        parts = l.split(": ")
        if len(parts) >= 2:
            names.append(parts[1].split("@")[0])
    return names


def domain_names():
    """(URI, name) of every libvirt domain, LXC and QEMU, running or not."""
    names = []
    for uri in ("lxc:///system", "qemu:///system"):
        rc, out, _ = run(["virsh", "-c", uri, "list", "--all", "--name"], timeout=30)
        if rc == 0:
            names += [(uri, l.strip()) for l in out.splitlines() if l.strip()]
    return names


def _prefix_free(p):
    return not any(n.startswith(p) for n in netns_names() + link_names()) and not any(
        d.startswith(p + "-") for _, d in domain_names()) and not os.path.exists(
            "/run/vpclab-%s.pid" % p) and not os.path.exists("/run/vpclab-ec2d-%s.pid" % p)


def new_prefix():
    chars = string.ascii_lowercase + string.digits
    for _ in range(50):
        p = "e" + "".join(random.choice(chars) for _ in range(3))
        if _prefix_free(p):
            return p
    bail("cannot find a free lab prefix")


# ---------------------------------------------------------------------------------- the lab

_labs = []


class Lab:
    """One lab: vpcd + ec2d with a fresh prefix, temporary directories and an HTTP endpoint."""

    def __init__(self, pool, default_vpc=False, region="us-east-1", private_images=(), need_aws=True,
                 ec2d_args=(), vpcd_args=()):
        """pool: the lab's public_pool (each region gets a /24 of it). private_images: names of
        images to copy from the images directory into the lab's own (then ec2d's), so that
        the test may change them. need_aws: skip the script when there is no aws CLI.
        ec2d_args, vpcd_args: more options for `ec2d serve` and `vpcd serve` (--seed N)."""
        self.ec2d_args = list(ec2d_args)
        self.vpcd_args = list(vpcd_args)
        for var in ("VPCD", "EC2D"):
            if not os.environ.get(var):
                skip_all("%s is not set (run through meson test)" % var)
        if os.geteuid() != 0:
            skip_all("needs root (network namespaces, nftables, libvirt)")
        self.vpcd_bin = os.environ["VPCD"]
        self.ec2d_bin = os.environ["EC2D"]
        self.srcdir = os.environ.get("SRCDIR") or os.path.normpath(
            os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
        self.images_dir = os.environ.get("VPCLAB_IMAGES_DIR", "/var/lib/vpclab/images")
        self.aws_bin = os.environ.get("AWS_CLI") or (
            "/usr/bin/aws" if os.path.exists("/usr/bin/aws") else shutil.which("aws"))
        if need_aws and not self.aws_bin:
            skip_all("no aws CLI (apt-get install awscli)")
        self.region = region
        self.prefix = new_prefix()
        self.dir = tempfile.mkdtemp(prefix="vpclab-e2e-%s." % self.prefix)
        self.state = os.path.join(self.dir, "vpcd-state")
        self.ec2state = os.path.join(self.dir, "ec2d-state")
        self.rundir = os.path.join(self.dir, "run")
        self.config = os.path.join(self.dir, "config.json")
        self.vpcd_log = os.path.join(self.dir, "vpcd.log")
        self.ec2d_log = os.path.join(self.dir, "ec2d.log")
        self.cli_log = os.path.join(self.dir, "cli.log")
        self.vpcd_proc = self.ec2d_proc = None
        self.cleaned = False
        self.user_ns = []
        self.aws_calls = []  # (seconds, subcommand) of every aws CLI run
        with open(self.config, "w") as f:
            json.dump({"default_vpc": bool(default_vpc), "public_pool": pool, "region_pool_prefix": 24}, f)
        _labs.append(self)
        if private_images:
            mine = os.path.join(self.dir, "images")
            os.makedirs(mine)
            for name in private_images:
                rc, _, err = run(["cp", "-a", os.path.join(self.images_dir, name), os.path.join(mine, name)])
                if rc != 0:
                    bail("cannot copy image %s: %s" % (name, err))
            self.images_dir = mine
        diag("lab %s in %s (public pool %s)" % (self.prefix, self.dir, pool))
        self._start()

    # ---- daemons

    def _wait_answer(self, binary, proc, log, secs=15):
        end = time.monotonic() + secs
        while time.monotonic() < end:
            rc, out, _ = run([binary, "--run-dir", self.rundir, "describe-lab"], timeout=10)
            if rc == 0:
                return json.loads(out)
            if proc.poll() is not None:
                bail("%s exited during start-up (%d): %s" % (os.path.basename(binary), proc.returncode,
                                                             _tail(log)))
            time.sleep(0.05)
        bail("%s does not answer within %d s: %s" % (os.path.basename(binary), secs, _tail(log)))

    def _start(self):
        self.vpcd_proc = subprocess.Popen(
            [self.vpcd_bin, "serve", "--prefix", self.prefix, "--run-dir", self.rundir, "--state-dir",
             self.state, "--config", self.config] + self.vpcd_args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.vpcd_log, "ab"))
        self._wait_answer(self.vpcd_bin, self.vpcd_proc, self.vpcd_log)
        self.ec2d_proc = subprocess.Popen(
            [self.ec2d_bin, "serve", "--prefix", self.prefix, "--run-dir", self.rundir, "--state-dir",
             self.ec2state, "--images-dir", self.images_dir, "--listen", "127.0.0.1:0"] + self.ec2d_args,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(self.ec2d_log, "ab"))
        d = self._wait_answer(self.ec2d_bin, self.ec2d_proc, self.ec2d_log)
        self.endpoint = d["Endpoint"]
        self.creds_file = d["CredentialsFile"]
        cp = configparser.ConfigParser()
        cp.read(self.creds_file)
        self.key = cp["default"]["aws_access_key_id"]
        self.secret = cp["default"]["aws_secret_access_key"]
        self.client = self.boto3_client()
        diag("endpoint %s, credentials %s" % (self.endpoint, self.creds_file))
        diag("clients: %s with boto3 %s, botocore %s; aws CLI %s" % (
            sys.executable, boto3.__version__, botocore.__version__, self.aws_bin))

    def restart_vpcd(self):
        """kill -9 of vpcd alone, and a new one on the same state (ec2d stays)."""
        self.vpcd_proc.send_signal(signal.SIGKILL)
        self.vpcd_proc.wait()
        self.vpcd_proc = subprocess.Popen(
            [self.vpcd_bin, "serve", "--prefix", self.prefix, "--run-dir", self.rundir, "--state-dir",
             self.state, "--config", self.config] + self.vpcd_args, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=open(self.vpcd_log, "ab"))
        self._wait_answer(self.vpcd_bin, self.vpcd_proc, self.vpcd_log)

    def boto3_client(self, key=None, secret=None, region=None, service="ec2", **cfg):
        conf = botocore.config.Config(retries={"max_attempts": 0}, connect_timeout=10, read_timeout=120, **cfg)
        return boto3.client(service, endpoint_url=self.endpoint, region_name=region or self.region,
                            aws_access_key_id=key or self.key, aws_secret_access_key=secret or self.secret,
                            config=conf)

    # ---- clients

    def aws_env(self, creds_file=None):
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("AWS_") and k not in ("AWS_CLI",):
                del env[k]
        env.update(AWS_SHARED_CREDENTIALS_FILE=creds_file or self.creds_file, AWS_CONFIG_FILE="/dev/null",
                   AWS_DEFAULT_REGION=self.region, AWS_PAGER="")
        return env

    def aws(self, *args, region=None, output="json", timeout=120, creds_file=None, service="ec2"):
        """The real aws CLI: `aws --endpoint-url E --output json ec2 ARGS...`. Returns (exit code,
        the parsed JSON (stdout as text when it is not JSON or output is not "json"; None when
        empty), stderr). creds_file: another credentials file than the lab's. service: another
        of the endpoint's services than ec2 (fis)."""
        cmd = [self.aws_bin, "--endpoint-url", self.endpoint, "--output", output]
        if region:
            cmd += ["--region", region]
        cmd += [service] + [str(a) for a in args]
        t0 = time.monotonic()
        rc, out, err = run(cmd, env=self.aws_env(creds_file), timeout=timeout)
        dt = time.monotonic() - t0
        self.aws_calls.append((dt, args[0] if args else ""))
        if dt > 5:
            diag("slow: aws ec2 %s took %.1f s" % (" ".join(map(str, args))[:200], dt))
        with open(self.cli_log, "a") as f:
            f.write("$ aws ec2 %s => %d (%.2fs)\n%s" % (" ".join(map(str, args)), rc, dt, err))
        parsed = None
        if out.strip():
            try:
                parsed = json.loads(out) if output == "json" else out
            except ValueError:
                parsed = out
        return rc, parsed, err

    def aws_batch(self, *calls, workers=3):
        """Independent aws CLI runs at once (the CLI's start-up is most of its second): each
        call is a tuple of arguments; returns their (rc, out, err) in the same order."""
        import concurrent.futures
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as ex:
            return list(ex.map(lambda a: self.aws(*a), calls))

    def aws_ok(self, *args, **kw):
        """aws(...) that must succeed: returns the parsed output, or bails out."""
        rc, out, err = self.aws(*args, **kw)
        if rc != 0:
            bail("aws ec2 %s failed (%d): %s" % (" ".join(map(str, args)), rc, err.strip()))
        return out

    def _cli(self, binary, args, timeout=120):
        env = dict(os.environ, VPCLAB_RUN_DIR=self.rundir)
        rc, out, err = run([binary] + [str(a) for a in args], env=env, timeout=timeout)
        with open(self.cli_log, "a") as f:
            f.write("$ %s %s => %d\n%s" % (os.path.basename(binary), " ".join(map(str, args)), rc, err))
        try:
            parsed = json.loads(out) if out.strip() else None
        except ValueError:
            parsed = out
        return rc, parsed, err

    def vpcd(self, *args, **kw):
        """vpcd's CLI against this lab: (exit code, parsed JSON or text, stderr)."""
        return self._cli(self.vpcd_bin, args, **kw)

    def ec2d(self, *args, **kw):
        return self._cli(self.ec2d_bin, args, **kw)

    def exec(self, instance, *cmd, timeout=60):
        """`ec2d exec --instance-id I -- CMD...`: (exit code, stdout, stderr)."""
        env = dict(os.environ, VPCLAB_RUN_DIR=self.rundir)
        return run([self.ec2d_bin, "exec", "--instance-id", instance, "--"] + list(cmd), env=env,
                   timeout=timeout)

    def netns(self, ns, *cmd, timeout=30):
        return run(["ip", "netns", "exec", ns] + list(cmd), timeout=timeout)

    def mkns(self, suffix):
        """A network namespace of the test's own, PREFIX + SUFFIX (never PREFIX-..., which is
        vpcd's), deleted by the cleanup."""
        assert not suffix.startswith("-")
        name = self.prefix + suffix
        rc, _, err = run(["ip", "netns", "add", name])
        if rc != 0:
            bail("ip netns add %s: %s" % (name, err))
        self.user_ns.append(name)
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        return name

    def plug(self, eni, suffix):
        """A new namespace PREFIX+SUFFIX holding the ENI as eth0 (vpcd's lab verb)."""
        ns = self.mkns(suffix)
        rc, _, err = self.vpcd("plug-network-interface", "--network-interface-id", eni, "--netns", ns)
        if rc != 0:
            bail("plug-network-interface %s: %s" % (eni, err))
        return ns

    def curl(self, ns, url, timeout=3, interface=None):
        """The body of URL fetched from namespace NS, or None."""
        args = ["curl", "-s", "--connect-timeout", str(timeout), "-m", str(timeout + 1)]
        if interface:
            args += ["--interface", interface]
        rc, out, _ = self.netns(ns, *(args + [url]), timeout=timeout + 10)
        return out if rc == 0 else None

    def vpc_ns(self, vpc_id):
        return "%s-%s" % (self.prefix, vpc_id)

    def lab_region(self, region=None):
        """vpcd describe-lab's entry for a region (Namespace, PublicIpPool, InternetHost)."""
        rc, d, err = self.vpcd("describe-lab")
        for r in (d or {}).get("Regions", []):
            if r["RegionName"] == (region or self.region):
                return r
        return None

    # ---- images and instances

    def image_ready(self, name="busybox", wait=0):
        """True once IMAGES_DIR/NAME/image.json exists (waits up to `wait` seconds)."""
        path = os.path.join(self.images_dir, name, "image.json")
        return bool(retry(lambda: os.path.exists(path), timeout=wait, interval=2)) if wait else os.path.exists(path)

    def ami(self, name="busybox"):
        """The AMI ID of an image, by name, from DescribeImages (IDs follow the image's digest)."""
        imgs = self.client.describe_images(Filters=[{"Name": "name", "Values": [name]}])["Images"]
        return imgs[0]["ImageId"] if imgs else None

    def instance(self, iid):
        r = self.client.describe_instances(InstanceIds=[iid])["Reservations"]
        return r[0]["Instances"][0] if r and r[0]["Instances"] else None

    def wait_state(self, iid, state, timeout=60):
        return retry(lambda: (self.instance(iid) or {}).get("State", {}).get("Name") == state, timeout=timeout)

    def wait_ready(self, iid, timeout=90):
        """Waits until DescribeInstanceStatus says ok (the guest's init printed its ready line)."""
        def st():
            s = self.client.describe_instance_status(InstanceIds=[iid])["InstanceStatuses"]
            return s and s[0]["InstanceStatus"]["Status"] == "ok"
        r = retry(st, timeout=timeout, interval=0.3)
        if not r:
            diag("%s not ready after %ss; console:" % (iid, timeout), self.console(iid)[-1500:])
        return bool(r)

    def console(self, iid):
        try:
            return self.client.get_console_output(InstanceId=iid).get("Output", "") or ""
        except ClientError as ex:
            return "(GetConsoleOutput: %s)" % ex

    # ---- cleanup

    def cleanup(self):
        if self.cleaned:
            return
        self.cleaned = True
        # Instances first, through the API, while both daemons run.
        try:
            ids = [i["InstanceId"] for r in self.client.describe_instances()["Reservations"]
                   for i in r["Instances"] if i["State"]["Name"] != "terminated"]
            if ids:
                self.client.terminate_instances(InstanceIds=ids)
        except Exception as ex:  # noqa: BLE001
            diag("cleanup: terminating instances: %s" % ex)
        for ns in self.user_ns:
            run(["ip", "netns", "del", ns])
        # SIGTERM first (the sanitizers report leaks at this exit), SIGKILL after 5 s.
        for p in (self.ec2d_proc, self.vpcd_proc):
            if p and p.poll() is None:
                p.terminate()
        for p in (self.ec2d_proc, self.vpcd_proc):
            if p:
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        with open(os.path.join(self.dir, "teardown.log"), "a") as log:
            for args in ([self.ec2d_bin, "teardown", "--prefix", self.prefix, "--state-dir", self.ec2state,
                          "--run-dir", self.rundir],
                         [self.vpcd_bin, "teardown", "--prefix", self.prefix, "--state-dir", self.state]):
                rc, out, err = run(args, timeout=120)
                log.write("$ %s => %d\n%s%s" % (" ".join(args), rc, out, err))
                if rc != 0:
                    ok(False, "cleanup: %s teardown --prefix %s" % (os.path.basename(args[0]), self.prefix), err)
        # Nothing with the prefix may be left.
        p = self.prefix
        left_ns = [n for n in netns_names() if n.startswith(p)]
        left_links = [n for n in link_names() if n.startswith(p)]
        left_doms = [(u, d) for u, d in domain_names() if d.startswith(p + "-")]
        left_pids = [f for f in ("/run/vpclab-%s.pid" % p, "/run/vpclab-ec2d-%s.pid" % p) if os.path.exists(f)]
        ok(not left_ns, "cleanup leaves no network namespace with prefix %s" % p, "left: %s" % left_ns)
        ok(not left_links, "cleanup leaves no host link with prefix %s" % p, "left: %s" % left_links)
        ok(not left_doms, "cleanup leaves no libvirt domain with prefix %s" % p, "left: %s" % left_doms)
        ok(not left_pids, "cleanup leaves no pid file of prefix %s" % p, "left: %s" % left_pids)
        for n in left_ns:
            run(["ip", "netns", "del", n])
        for n in left_links:
            run(["ip", "link", "del", n])
        for u, d in left_doms:
            run(["virsh", "-c", u, "destroy", d])
            run(["virsh", "-c", u, "undefine", d])
        for f in left_pids:
            os.unlink(f)
        # Sanitizer reports (the ASan build runs this suite too).
        for f in (self.vpcd_log, self.ec2d_log, self.cli_log):
            text = open(f, errors="replace").read() if os.path.exists(f) else ""
            m = re.search(r"AddressSanitizer|LeakSanitizer|runtime error:", text)
            if m:
                ok(False, "no sanitizer report in %s" % os.path.basename(f), text[max(0, m.start() - 200):][:4000])

    def logs(self):
        for f in (self.vpcd_log, self.ec2d_log):
            diag("----- %s (last 30 lines)" % os.path.basename(f), _tail(f, 30))


def _tail(path, n=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def _atexit():
    for lab in _labs:
        try:
            lab.cleanup()
        except Exception as ex:  # noqa: BLE001
            ok(False, "cleanup of lab %s" % lab.prefix, repr(ex))
    if failed():
        for lab in _labs:
            lab.logs()
    for lab in _labs:
        if not failed():
            shutil.rmtree(lab.dir, ignore_errors=True)
        else:
            diag("kept %s for inspection" % lab.dir)
    for lab in _labs:
        if lab.aws_calls:
            diag("aws CLI: %d runs, %.1f s in all" % (len(lab.aws_calls), sum(x[0] for x in lab.aws_calls)))
    _finish()
    sys.stdout.flush()
    os._exit(1 if failed() else 0)


def _on_signal(sig, frame):
    print("# interrupted by signal %d" % sig, flush=True)
    global _failed
    _failed += 1
    sys.exit(128 + sig)


def _excepthook(tp, value, tb):
    global _failed, _n
    if tp is not SystemExit:
        _failed += 1
        import traceback
        print("not ok %d - the script runs to its end (uncaught %s)" % (_n + 1, tp.__name__), flush=True)
        for line in "".join(traceback.format_exception(tp, value, tb)).splitlines():
            print("# " + line, flush=True)
        _n += 1


sys.excepthook = _excepthook
atexit.register(_atexit)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def b64(s):
    return base64.b64encode(s.encode()).decode()
