#!/usr/bin/env python3
"""Drive Debian's Firefox ESR headless over Marionette (its own remote protocol), standard
library only: open URL, wait until the page's text contains EXPECT, print one JSON line.

    python3 firefox.py URL EXPECT [TIMEOUT_SECS]
    python3 firefox.py --hashrate ORIGIN N [SOLVER]

The output is {"ok": bool, "url": the final URL, "text": the page's text (truncated),
"cookies": [{name, secure, httpOnly}]}. With --hashrate: one Web Worker hashes N candidates of
a range puzzle no candidate solves, 5 times (SOLVER: wasm-simd, wasm or js; default the page's
choice); {"engine", "runs_ms", "mhs", "median_mhs"}, timed from the worker's word of its engine. The profile is fresh and throwaway; every request that
is not to loopback goes to a dead proxy on loopback, so the browser reaches nothing else.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

PREFS = {
    "marionette.port": 0,  # set below
    "network.proxy.type": 1,
    "network.proxy.http": "127.0.0.1",
    "network.proxy.http_port": 9,
    "network.proxy.ssl": "127.0.0.1",
    "network.proxy.ssl_port": 9,
    "network.proxy.no_proxies_on": "127.0.0.1,localhost,::1",
    "app.update.enabled": False,
    "app.normandy.enabled": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "extensions.update.enabled": False,
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Marionette:
    def __init__(self, port, deadline):
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        # Connected: each reply may take as long as the run has left (a new session on a busy
        # 2-core machine took over 5 s).
        self.sock.settimeout(max(5.0, deadline - time.time()))
        self.buf = b""
        self.next_id = 0
        self.read()  # the server's hello

    def read(self):
        while b":" not in self.buf:
            self.buf += self.sock.recv(65536)
        n, rest = self.buf.split(b":", 1)
        n = int(n)
        while len(rest) < n:
            rest += self.sock.recv(65536)
        self.buf = rest[n:]
        return json.loads(rest[:n])

    def call(self, name, params=None):
        self.next_id += 1
        msg = json.dumps([0, self.next_id, name, params or {}]).encode()
        self.sock.sendall(str(len(msg)).encode() + b":" + msg)
        while True:
            reply = self.read()
            if reply[0] == 1 and reply[1] == self.next_id:
                if reply[2]:
                    raise RuntimeError(f"{name}: {reply[2]}")
                return reply[3]


def unwrap(result):
    """Marionette wraps some results in {"value": …} and returns others bare."""
    return result.get("value", result) if isinstance(result, dict) else result


# One worker run, in the page: resolves with its milliseconds and engine.
HASHRATE = """
const [n, solver, done] = arguments;
(async () => {
const file = { 'wasm-simd': 'search-simd.wasm', wasm: 'search.wasm' }[solver || 'wasm-simd'];
const module = file && await WebAssembly.compile(await (await fetch('/.tollgate/' + file)).arrayBuffer());
const w = new Worker('/.tollgate/worker.js');
let t0 = performance.now(), engine = null;
w.onmessage = (ev) => {
  if (ev.data.engine) { engine = ev.data.engine; t0 = performance.now(); }
  if (ev.data.exhausted || ev.data.nonce) { w.terminate(); done([performance.now() - t0, engine]); }
};
w.onerror = (e) => done([-1, String(e.message)]);
w.postMessage({ prefix: 'f'.repeat(64), puzzle: 'range', param: n, target: '0'.repeat(64),
  index: 0, workers: 1, module, engine: solver || 'wasm-simd' });
})().catch((e) => done([-1, String(e)]));
"""


def hashrate(m, origin, n, solver):
    m.call("WebDriver:Navigate", {"url": origin + "/.tollgate/worker.js"})
    runs, engine = [], None
    for _ in range(5):
        ms, engine = unwrap(m.call("WebDriver:ExecuteAsyncScript", {
            "script": HASHRATE, "args": [n, solver], "scriptTimeout": 120000}))
        if ms < 0:
            raise RuntimeError(f"worker failed: {engine}")
        runs.append(ms)
    mhs = sorted(n / ms / 1000 for ms in runs)
    return {"engine": engine, "runs_ms": runs, "mhs": mhs, "median_mhs": mhs[2]}


def main():
    measure = sys.argv[1] == "--hashrate"
    if measure:
        origin, n = sys.argv[2], int(sys.argv[3])
        solver = sys.argv[4] if len(sys.argv) > 4 else None
        timeout = 600
    else:
        url, expect = sys.argv[1], sys.argv[2]
        timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 60
    deadline = time.time() + timeout
    profile = tempfile.mkdtemp(prefix="tollgate-firefox-")
    port = free_port()
    prefs = dict(PREFS, **{"marionette.port": port})
    # TOLLGATE_UA: Firefox claiming another browser (its user agent only, as a spoofing script does).
    if os.environ.get("TOLLGATE_UA"):
        prefs["general.useragent.override"] = os.environ["TOLLGATE_UA"]
    with open(os.path.join(profile, "user.js"), "w") as f:
        for k, v in prefs.items():
            f.write(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n")
    env = dict(os.environ, MOZ_HEADLESS="1")
    proc = subprocess.Popen(
        ["firefox-esr", "--marionette", "-no-remote", "-profile", profile],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        m = Marionette(port, deadline)
        # Marionette takes capabilities flat, as parameters (geckodriver is what resolves
        # alwaysMatch for WebDriver clients).
        caps = {"acceptInsecureCerts": True}
        m.call("WebDriver:NewSession", caps)
        if measure:
            print(json.dumps(hashrate(m, origin, n, solver)))
            m.call("Marionette:Quit", {"flags": ["eForceQuit"]})
            return
        m.call("WebDriver:Navigate", {"url": url})
        text, ok = "", False
        while time.time() < deadline:
            script = "return document.body ? document.body.innerText : ''"
            try:
                # Between the challenge page and the next one there may be no document to run
                # in (an error), or one without a body yet (null): look again.
                found = unwrap(m.call("WebDriver:ExecuteScript", {"script": script, "args": []}))
                text = found or ""
            except RuntimeError:
                text = ""
            if expect in text:
                ok = True
                break
            time.sleep(0.2)
        final = unwrap(m.call("WebDriver:GetCurrentURL"))
        cookies = unwrap(m.call("WebDriver:GetCookies"))
        print(json.dumps({
            "ok": ok,
            "url": final,
            "text": text[:2000],
            "cookies": [
                {"name": c["name"], "secure": c.get("secure"), "httpOnly": c.get("httpOnly")}
                for c in cookies
            ],
        }))
        try:
            m.call("Marionette:Quit", {"flags": ["eForceQuit"]})
        except (OSError, RuntimeError):
            pass
    finally:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
