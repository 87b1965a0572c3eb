"""Headless Chromium driven over the DevTools protocol, with the standard library only (Debian's
python3 has no websocket module): bench/topology and tests/e2e/topology.py open the live
topology page with it and watch it update in real time (--dump-dom runs on virtual time, which
cannot wait for a change made from outside). Not a benchmark itself."""
import base64
import json
import os
import re
import socket
import struct
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
import zlib

CHROMIUM = next((c for c in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(c)), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
         "--disable-extensions", "--disable-background-networking", "--hide-scrollbars"]


class WebSocket:
    """A client websocket (RFC 6455): text frames out, masked; frames in, unmasked."""

    def __init__(self, url, timeout=30):
        u = urllib.parse.urlparse(url)
        self.s = socket.create_connection((u.hostname, u.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (
                            u.path, u.hostname, u.port, key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            d = self.s.recv(4096)
            if not d:
                raise EOFError("the websocket closed during its handshake")
            head += d
        head, self.buf = head.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise OSError("websocket handshake refused: %r" % head[:200])

    def _exact(self, n):
        while len(self.buf) < n:
            d = self.s.recv(1 << 20)
            if not d:
                raise EOFError("the websocket closed")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, text):
        p = text.encode()
        mask = os.urandom(4)
        n = len(p)
        hdr = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
                               if n < 65536 else bytes([0x80 | 127]) + struct.pack(">Q", n))
        self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(p)))

    def recv(self):
        data = b""
        while True:
            b1, b2 = self._exact(2)
            n = b2 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._exact(8))[0]
            mask = self._exact(4) if b2 & 0x80 else None
            p = self._exact(n)
            if mask:
                p = bytes(b ^ mask[i % 4] for i, b in enumerate(p))
            op = b1 & 0x0F
            if op == 8:
                raise EOFError("the websocket was closed")
            if op == 9:  # ping: a pong with the same data
                self.s.sendall(bytes([0x8A, 0x80 | len(p)]) + b"\0\0\0\0" + p)
                continue
            data += p
            if b1 & 0x80:
                return data.decode()

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


class Browser:
    """One headless Chromium with one page (url), and calls on that page's DevTools target."""

    def __init__(self, url, width=1400, height=900):
        if not CHROMIUM:
            raise FileNotFoundError("no chromium (scripts/setup installs Debian's)")
        self.profile = tempfile.mkdtemp(prefix="vpclab-chromium-")
        self.proc = subprocess.Popen(
            [CHROMIUM] + FLAGS + ["--remote-debugging-port=0", "--user-data-dir=" + self.profile,
                                  "--window-size=%d,%d" % (width, height), url],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        port = None
        end = time.monotonic() + 60
        while time.monotonic() < end and port is None:
            line = self.proc.stderr.readline().decode(errors="replace")
            if not line and self.proc.poll() is not None:
                raise OSError("chromium exited (%s)" % self.proc.returncode)
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if m:
                port = int(m.group(1))
        if port is None:
            self.close()
            raise OSError("chromium does not say where its DevTools listen")
        # Its later messages go nowhere, so that a full pipe never blocks it.
        self.proc.stderr.close()
        target = None
        while time.monotonic() < end and not target:
            with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=10) as r:
                target = next((t for t in json.load(r) if t.get("type") == "page"), None)
            if not target:
                time.sleep(0.1)
        if not target:
            self.close()
            raise OSError("chromium has no page target")
        self.ws = WebSocket(target["webSocketDebuggerUrl"])
        self.n = 0

    def call(self, method, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == self.n:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m.get("result", {})

    def eval(self, expr):
        """The value of a JavaScript expression in the page (a promise is awaited)."""
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError("JavaScript: %s" % r["exceptionDetails"].get("text"))
        return r.get("result", {}).get("value")

    def wait(self, expr, timeout=10.0, interval=0.01):
        """Evaluates expr until it is true; returns the seconds it took, or None."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            try:
                if self.eval(expr):
                    return time.monotonic() - t0
            except RuntimeError:
                pass
            time.sleep(interval)
        return None

    def screenshot(self):
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])

    def close(self):
        if getattr(self, "ws", None):
            self.ws.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        subprocess.run(["rm", "-rf", self.profile])


def png_pixels(data):
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB or RGBA PNG, non-interlaced."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                raise ValueError("PNG of depth %d, colour type %d, interlace %d" % (depth, ctype, interlace))
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(h):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 0xFF
            elif f == 2:
                line[x] = (line[x] + b) & 0xFF
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return w, h, rows, bpp


def png_colours(data, step=4):
    """The distinct colours of a PNG (sampled every `step` pixels) and the share of white."""
    w, h, rows, bpp = png_pixels(data)
    seen, white, total = set(), 0, 0
    for y in range(0, h, step):
        r = rows[y]
        for x in range(0, w, step):
            px = r[x * bpp:x * bpp + 3]
            seen.add(px)
            white += px == b"\xff\xff\xff"
            total += 1
    return len(seen), white / max(total, 1), (w, h)
