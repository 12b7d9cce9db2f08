#!/usr/bin/env python3
"""Side-by-side benchmark of henaserver and nginx on loopback.

Run through bench/compare.sh, which installs wrk and nginx and builds
henaserver first. Each scenario runs for both servers in alternating rounds,
with the server pinned to one core and the load generator to another; the
table shows medians and the ratio henaserver / nginx. Errors and non-2xx
counts are always printed, never hidden.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
ROOT = os.path.join(OUT, "root")
HENA = os.path.join(REPO, "target", "release", "henaserver")
SINK = os.path.join(REPO, "target", "release", "examples", "sink")
# With --other caddy, Caddy stands where nginx would (h1, h2 and h3).
OTHER = "nginx"
HENA_PORT = 18480
HENA_ARGS = []
# With --baseline, another henaserver build stands where nginx would.
BASELINE = None
BASELINE_ARGS = []
NGINX_PORT = 18481
# nginx is told to trust its open-file cache, found and missing files
# alike, for a second (open_file_cache_valid 1s, open_file_cache_errors
# on); henaserver is told the same, unless --hena-args says otherwise.
MATCHED_CACHE = "--file-cache-valid 1s"
# --nginx-cache-errors off: nginx looks a missing path up on every request
# (its default), as henaserver does without --file-cache-valid.
NGINX_CACHE_ERRORS = "on"
# Accept deferred until a connection's first data (Linux's
# TCP_DEFER_ACCEPT): by default each server as it comes, henaserver
# deferring (--defer-accept 1s) and nginx not; with --deferred both, nginx
# too (`listen ... deferred`, 1 s); with --deferred off, neither
# (henaserver --defer-accept 0).
DEFERRED = "default"
TICK = os.sysconf("SC_CLK_TCK")

SCENARIOS = {
    # name: (description, kind, arguments)
    "ka_1k": ("1 KB, keep-alive, 50 conns", "wrk", ["-c50"], "/1k.bin"),
    "close_1k": ("1 KB, new connection per request", "wrk",
                 ["-c50", "-H", "Connection: close"], "/1k.bin"),
    "404": ("404, keep-alive, 50 conns", "wrk", ["-c50"], "/missing.html"),
    "c1000": ("1 KB, 1000 conns", "wrk", ["-c1000", "--timeout", "10s"], "/1k.bin"),
    "pipe16": ("1 KB, 16 pipelined per write, 50 conns", "wrk",
               ["-c50", "-s", os.path.join(HERE, "pipeline.lua")], "/1k.bin"),
    "100k": ("100 KB, 16 conns, zero-copy client", "sink", 16, "/100k.bin"),
    "1m": ("1 MiB, 8 conns, zero-copy client", "sink", 8, "/1m.bin"),
    "64m": ("64 MiB, 4 conns, zero-copy client", "sink", 4, "/64m.bin"),
    "tls_ka_1k": ("TLS 1.3: 1 KB, keep-alive, 50 conns", "wrk", ["-c50"], "/1k.bin"),
    "tls_close_1k": ("TLS: 1 KB, new connection per request (resumed)", "wrk",
                     ["-c50", "-H", "Connection: close"], "/1k.bin"),
    "tls_64m": ("TLS: 64 MiB, 4 conns, decrypting client", "sink", 4, "/64m.bin"),
    "tls_64m_wrk": ("TLS: 64 MiB, 4 conns, wrk", "wrk", ["-c4", "--timeout", "30s"], "/64m.bin"),
    "h2c_1k": ("h2c: 1 KB, 10 conns x 100 streams", "h2load", ["-c10", "-m100"], "/1k.bin"),
    "h2_1k": ("h2 over TLS: 1 KB, 10 conns x 100 streams", "h2load", ["-c10", "-m100"],
              "/1k.bin"),
    "h2_64m": ("h2 over TLS: 64 MiB, 4 conns", "h2load", ["-c4", "-m1"], "/64m.bin"),
    "h2_64m_sink": ("h2 over TLS: 64 MiB, 4 conns, decrypting client", "sink", 4,
                    "/64m.bin"),
    "h3_1k": ("h3: 1 KB, 10 conns x 50 streams", "h3load", ["-c10", "-m50"], "/1k.bin"),
    "h3_64m": ("h3: 64 MiB, 4 conns", "h3load", ["-c4", "-m1"], "/64m.bin"),
}

# Scenarios served over HTTPS, with the same certificate for both servers.
TLS_SCENARIOS = {"tls_ka_1k", "tls_close_1k", "tls_64m", "tls_64m_wrk", "h2_1k", "h2_64m",
                 "h2_64m_sink", "h3_1k", "h3_64m"}
# Scenarios spoken in HTTP/3 (henaserver gets --http3; nginx 1.22 has no
# HTTP/3, so these run against Caddy: --other caddy).
H3_SCENARIOS = {"h3_1k", "h3_64m"}
H3LOAD = os.path.join(REPO, "target", "release", "examples", "h3load")
# Scenarios spoken in HTTP/2 (nginx's listener gets the http2 parameter).
H2_SCENARIOS = {"h2c_1k", "h2_1k", "h2_64m", "h2_64m_sink"}
CERT = os.path.join(OUT, "cert.pem")
KEY = os.path.join(OUT, "key.pem")
# Mozilla's "intermediate" TLS 1.2 suites, as nginx is told to use them.
MOZILLA_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                   "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                   "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")


def make_cert():
    if os.path.exists(CERT) and os.path.exists(KEY):
        return
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", KEY, "-out", CERT,
                    "-days", "30", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)


def aes_gcm_one_core():
    """openssl speed -evp aes-128-gcm on core 0, in GB/s for 16 KiB blocks."""
    out = subprocess.run(["taskset", "-c", "0", "openssl", "speed", "-seconds", "2",
                          "-evp", "aes-128-gcm"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.lower().startswith("aes-128-gcm"):
            last = line.split()[-1]
            return float(last.rstrip("k")) * 1000 / 1e9
    return None


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def make_root():
    os.makedirs(ROOT, exist_ok=True)
    sizes = {"1k.bin": 1024, "100k.bin": 100 * 1024, "1m.bin": 1 << 20, "64m.bin": 64 << 20}
    made = False
    for name, size in sizes.items():
        path = os.path.join(ROOT, name)
        if not os.path.exists(path) or os.path.getsize(path) != size:
            with open(path, "wb") as f:
                f.write(os.urandom(min(size, 1 << 20)) * max(1, size >> 20))
            made = True
    if made:
        # Files younger than a second are not cached by henaserver.
        time.sleep(1.5)


def nginx_conf(workers, tls=False, h2=False):
    path = os.path.join(OUT, f"nginx-{workers}{'-tls' if tls else ''}{'-h2' if h2 else ''}"
                        f"{'-deferred' if DEFERRED == 'both' else ''}.conf")
    listen = f"127.0.0.1:{NGINX_PORT} backlog=4096"
    if DEFERRED == "both":
        listen += " deferred"
    if h2:
        listen += " http2"
    tls_conf = ""
    if tls:
        listen += " ssl"
        tls_conf = f"""
        ssl_certificate {CERT};
        ssl_certificate_key {KEY};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers {MOZILLA_CIPHERS};
        ssl_ecdh_curve X25519:prime256v1:secp384r1;
        ssl_prefer_server_ciphers off;
        ssl_session_cache shared:SSL:10m;
        ssl_session_tickets on;"""
    with open(path, "w") as f:
        f.write(f"""
worker_processes {workers};
daemon off;
pid {OUT}/nginx.pid;
error_log {OUT}/nginx-error.log crit;
worker_rlimit_nofile 65536;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    log_not_found off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    open_file_cache max=10000 inactive=60s;
    open_file_cache_valid 1s;
    open_file_cache_errors {NGINX_CACHE_ERRORS};
    keepalive_requests 10000000;
    keepalive_timeout 60s;
    types {{ application/octet-stream bin; text/html html; }}
    server {{
        listen {listen};
        root {ROOT};{tls_conf}
    }}
}}
""")
    return path


def caddy_conf():
    path = os.path.join(OUT, "Caddyfile")
    with open(path, "w") as f:
        f.write(f"""{{
\tadmin off
\tauto_https off
\tdefault_sni localhost
\tservers {{
\t\tprotocols h1 h2 h3
\t}}
}}
https://127.0.0.1:{NGINX_PORT}, https://localhost:{NGINX_PORT} {{
\ttls {CERT} {KEY}
\troot * {ROOT}
\tfile_server
}}
""")
    return path


def tree_pids(pid):
    """pid and all its descendants."""
    pids = [pid]
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    except FileNotFoundError:
        out = ""
    for child in out.split():
        pids.extend(tree_pids(int(child)))
    return pids


def cpu_ticks(pids):
    """Clock ticks the processes spent in user space and in the kernel."""
    user = system = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            user += int(fields[11])
            system += int(fields[12])
        except OSError:
            pass
    return user, system


def status_kib(pids, key):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class Server:
    def __init__(self, name, cores, workers=1, tls=False, h2=False, h3=False):
        self.name = name
        self.tls = tls
        self.h2 = h2
        self.h2c = h2 and not tls
        pin = ["taskset", "-c", cores] if cores else []
        env = None
        if name == "caddy":
            cmd = pin + ["caddy", "run", "--adapter", "caddyfile", "--config", caddy_conf()]
            env = dict(os.environ, GOMAXPROCS=str(workers or 2))
            self.port = NGINX_PORT
        elif name in ("henaserver", "baseline"):
            binary, self.port = (HENA, HENA_PORT) if name == "henaserver" \
                else (BASELINE, NGINX_PORT)
            threads = [] if workers is None else ["--threads", str(workers)]
            cmd = pin + [binary, "--port", str(self.port), ROOT, "--quiet",
                         "--max-connections", "8192"] + threads
            if DEFERRED == "off" and name == "henaserver":
                cmd += ["--defer-accept", "0"]
            if tls:
                cmd += ["--tls-cert", CERT, "--tls-key", KEY]
            if h3:
                cmd += ["--http3"]
            cmd += HENA_ARGS if name == "henaserver" else BASELINE_ARGS
        else:
            cmd = pin + ["nginx", "-c", nginx_conf(workers or 2, tls, h2)]
            self.port = NGINX_PORT
        started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=env)
        try:
            self.startup_ms = self.wait_ready(started)
        except RuntimeError:
            self.proc.kill()
            self.proc.wait()
            raise
        time.sleep(0.3)
        self.pids = tree_pids(self.proc.pid)
        self.idle_rss = status_kib(self.pids, "VmRSS")

    def wait_ready(self, started):
        request = b"GET /1k.bin HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
        deadline = started + 10
        while time.perf_counter() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as raw:
                    if self.h2c:
                        # nginx's cleartext HTTP/2 listener speaks no HTTP/1.1.
                        return (time.perf_counter() - started) * 1000
                    s = raw
                    if self.tls:
                        ctx = ssl.create_default_context()
                        ctx.check_hostname = False
                        ctx.verify_mode = ssl.CERT_NONE
                        s = ctx.wrap_socket(raw, server_hostname="localhost")
                    s.sendall(request)
                    if s.recv(16).startswith(b"HTTP/1.1 200"):
                        return (time.perf_counter() - started) * 1000
            except OSError:
                time.sleep(0.0002)
        raise RuntimeError(f"{self.name} did not start")

    def stop(self):
        self.proc.send_signal(signal.SIGQUIT if self.name == "nginx" else signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def parse_wrk(out):
    r = {"value": 0.0, "errors": 0, "non2xx": 0, "p99_ms": None, "requests": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        r["value"] = float(m.group(1))
    m = re.search(r"(\d+) requests in", out)
    if m:
        r["requests"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r["errors"] = sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", out)
    if m:
        scale = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}[m.group(2)]
        r["bytes_per_s"] = float(m.group(1)) * scale
    m = re.search(r"\s99%\s+([\d.]+)(us|ms|s)\b", out)
    if m:
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
        r["p99_ms"] = float(m.group(1)) * scale
    return r


def parse_h2load(out):
    r = {"value": 0.0, "errors": 0, "non2xx": 0, "p99_ms": None, "requests": 0,
         "bytes_per_s": 0.0}
    m = re.search(r"finished in ([\d.]+)s, ([\d.]+) req/s", out)
    seconds = 0.0
    if m:
        seconds = float(m.group(1))
        r["value"] = float(m.group(2))
    m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    if m:
        r["requests"] = int(m.group(3))
        r["errors"] = int(m.group(4)) + int(m.group(5)) + int(m.group(6))
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if m:
        r["non2xx"] = int(m.group(2)) + int(m.group(3)) + int(m.group(4))
    m = re.search(r"traffic: ([\d.]+)(B|KB|MB|GB) \((\d+)\) total", out)
    if m and seconds > 0:
        r["bytes_per_s"] = int(m.group(3)) / seconds
    return r


def run_load(server, scenario, duration, client_cores, wrk_threads=1):
    _, kind, args, path = SCENARIOS[scenario]
    pin = ["taskset", "-c", client_cores] if client_cores else []
    url_host = f"127.0.0.1:{server.port}"
    before = cpu_ticks(server.pids)
    if kind == "wrk":
        conns = int(args[0][2:])
        scheme = "https" if server.tls else "http"
        cmd = pin + ["wrk", f"-t{wrk_threads}", f"-d{duration:g}s", "--latency"] + args[1:] + \
            ["-c", str(max(conns, wrk_threads)), f"{scheme}://{url_host}{path}"]
        out = subprocess.run(cmd, capture_output=True, text=True).stdout
        r = parse_wrk(out)
        r["unit"] = "req/s"
        if path == "/64m.bin":
            r["value"] = r.get("bytes_per_s", 0.0) / 1e9
            r["unit"] = "GB/s"
    elif kind == "h3load":
        cmd = pin + [H3LOAD, "-D", f"{duration:g}", "-t1"] + args + \
            [f"https://{url_host}{path}"]
        out = subprocess.run(cmd, capture_output=True, text=True).stdout
        r = parse_h2load(out)
        r["unit"] = "req/s"
        if path == "/64m.bin":
            r["value"] = r["bytes_per_s"] / 1e9
            r["unit"] = "GB/s"
    elif kind == "h2load":
        scheme = "https" if server.tls else "http"
        cmd = pin + ["h2load", "-D", f"{duration:g}", "-t1"] + args + \
            [f"{scheme}://{url_host}{path}"]
        out = subprocess.run(cmd, capture_output=True, text=True).stdout
        r = parse_h2load(out)
        r["unit"] = "req/s"
        if path == "/64m.bin":
            r["value"] = r["bytes_per_s"] / 1e9
            r["unit"] = "GB/s"
    else:
        tls = ["--h2"] if server.h2 and server.tls else ["--tls"] if server.tls else []
        cmd = pin + [SINK] + tls + [url_host, path, str(args), str(duration)]
        out = subprocess.run(cmd, capture_output=True, text=True).stdout
        fields = dict(kv.split("=") for kv in out.split())
        seconds = float(fields["seconds"])
        r = {"value": int(fields["bytes"]) / seconds / 1e9, "errors": int(fields["errors"]),
             "non2xx": 0, "p99_ms": None, "requests": int(fields["responses"]), "unit": "GB/s"}
    after = cpu_ticks(server.pids)
    user, system = ((a - b) / TICK for a, b in zip(after, before))
    cpu = user + system
    r["per_cpu_s"] = r["requests"] / cpu if cpu > 0 else 0
    # Microseconds of server CPU per request, in user space and in the
    # kernel: which side a row's difference lies on.
    r["user_us"] = user * 1e6 / r["requests"] if r["requests"] else None
    r["system_us"] = system * 1e6 / r["requests"] if r["requests"] else None
    r["peak_rss"] = status_kib(server.pids, "VmHWM")
    return r


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(v, digits=1):
    if v is None:
        return "-"
    if v >= 1000:
        return f"{v / 1000:.1f}k"
    return f"{v:.{digits}f}"


def main():
    global HENA
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--no-scaling", action="store_true", help="skip the unpinned two-core run")
    ap.add_argument("--hena-args", default=MATCHED_CACHE,
                    help="henaserver options, as one string (\"--admin 127.0.0.1:0\"); "
                         f"default \"{MATCHED_CACHE}\", nginx's open_file_cache_valid "
                         "(\"\" for henaserver's own defaults)")
    ap.add_argument("--nginx-cache-errors", choices=["on", "off"], default="on",
                    help="nginx's open_file_cache_errors: on (the default) remembers missing "
                         "paths, as --file-cache-valid does; off is nginx's own default")
    ap.add_argument("--binary", default=None,
                    help="henaserver executable to measure (another build, to compare two)")
    ap.add_argument("--other", choices=["nginx", "caddy"], default="nginx",
                    help="the server henaserver is measured against (caddy speaks HTTP/3)")
    ap.add_argument("--baseline", default=None,
                    help="another henaserver executable to measure instead of nginx, "
                         "in the same alternating rounds (a build before a change)")
    ap.add_argument("--baseline-args", default=None,
                    help="the baseline's own options, instead of --hena-args (the same "
                         "build with and without an option: \"\" for none)")
    ap.add_argument("--deferred", choices=["default", "both", "off"], default="default",
                    help="accept deferred until a connection's first data (Linux): each "
                         "server's default (henaserver --defer-accept 1s, nginx not), both "
                         "(nginx's `listen ... deferred` too), or off (henaserver "
                         "--defer-accept 0; a --baseline keeps its own)")
    opts = ap.parse_args()
    global DEFERRED
    DEFERRED = opts.deferred
    if opts.binary:
        HENA = os.path.abspath(opts.binary)
    global BASELINE
    if opts.baseline:
        BASELINE = os.path.abspath(opts.baseline)
    global HENA_ARGS, BASELINE_ARGS, NGINX_CACHE_ERRORS
    NGINX_CACHE_ERRORS = opts.nginx_cache_errors
    HENA_ARGS = opts.hena_args.split()
    BASELINE_ARGS = HENA_ARGS if opts.baseline_args is None else opts.baseline_args.split()
    scenarios = [s for s in opts.scenarios.split(",") if s]
    for s in scenarios:
        if s not in SCENARIOS:
            sys.exit(f"unknown scenario {s}; choose from {', '.join(SCENARIOS)}")
    os.makedirs(OUT, exist_ok=True)
    # The harness itself (start-up polling included) stays off the
    # server's core.
    os.sched_setaffinity(0, {1})
    make_root()
    if TLS_SCENARIOS & set(scenarios):
        make_cert()
    names = ["henaserver", "baseline" if BASELINE else opts.other]
    other = names[1]
    results = {(s, n): [] for s in scenarios for n in names}
    starts = {n: [] for n in names}
    idles = {n: [] for n in names}
    for rnd in range(opts.rounds):
        for s in scenarios:
            order = names if (rnd % 2 == 0) else names[::-1]
            for n in order:
                srv = Server(n, "0", 1, tls=s in TLS_SCENARIOS, h2=s in H2_SCENARIOS,
                             h3=s in H3_SCENARIOS)
                try:
                    starts[n].append(srv.startup_ms)
                    idles[n].append(srv.idle_rss)
                    r = run_load(srv, s, opts.duration, "1")
                finally:
                    srv.stop()
                results[(s, n)].append(r)
                log(f"round {rnd + 1} {s:9} {n:10} {fmt(r['value'], 2):>8} {r['unit']}"
                    f"  errors={r['errors']} non2xx={r['non2xx']}")

    print()
    print(f"Medians of {opts.rounds} alternating rounds, {opts.duration:g} s each; "
          f"server on core 0, client on core 1.")
    print()
    print(f"| scenario | henaserver | {other} | ratio | henaserver req per CPU-s "
          f"| {other} req per CPU-s | p99 ms (h / o) | peak RSS MiB (h / o) | errors (h / o) "
          f"| non-2xx (h / o) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for s in scenarios:
        h, g = results[(s, "henaserver")], results[(s, other)]
        hv, gv = median([r["value"] for r in h]), median([r["value"] for r in g])
        ratio = median([a["value"] / b["value"] for a, b in zip(h, g) if b["value"]]) or 0.0
        unit = h[0]["unit"]
        p99 = f"{fmt(median([r['p99_ms'] for r in h]), 2)} / {fmt(median([r['p99_ms'] for r in g]), 2)}"
        rss = f"{max(r['peak_rss'] for r in h) / 1024:.1f} / {max(r['peak_rss'] for r in g) / 1024:.1f}"
        err = f"{sum(r['errors'] for r in h)} / {sum(r['errors'] for r in g)}"
        non = f"{sum(r['non2xx'] for r in h)} / {sum(r['non2xx'] for r in g)}"
        digits = 2 if unit == "GB/s" else 0
        print(f"| {SCENARIOS[s][0]} | {fmt(hv, digits)} {unit} | {fmt(gv, digits)} {unit} | "
              f"{ratio:.2f}x | {fmt(median([r['per_cpu_s'] for r in h]), 0)} | "
              f"{fmt(median([r['per_cpu_s'] for r in g]), 0)} | {p99} | {rss} | {err} | {non} |")
    print()
    print(f"Server CPU per request, microseconds (user + kernel), and the ratio of requests "
          f"per CPU-second (henaserver / {other}).")
    print()
    print(f"| scenario | per CPU-s ratio | henaserver user | henaserver kernel "
          f"| {other} user | {other} kernel |")
    print("|---|---|---|---|---|---|")
    for s in scenarios:
        h, g = results[(s, "henaserver")], results[(s, other)]
        ratio = median([a["per_cpu_s"] / b["per_cpu_s"] for a, b in zip(h, g)
                        if b["per_cpu_s"]]) or 0.0
        cells = [fmt(median([r[k] for r in rs]), 2)
                 for rs in (h, g) for k in ("user_us", "system_us")]
        print(f"| {SCENARIOS[s][0]} | {ratio:.2f}x | " + " | ".join(cells) + " |")
    print()
    print(f"| idle RSS MiB | henaserver {median(idles['henaserver']) / 1024:.1f} | "
          f"{other} {median(idles[other]) / 1024:.1f} |")
    print(f"| start-up to first response, ms | henaserver {median(starts['henaserver']):.1f} | "
          f"{other} {median(starts[other]):.1f} |")
    if {"tls_64m", "tls_64m_wrk", "h2_64m", "h2_64m_sink"} & set(scenarios):
        gcm = aes_gcm_one_core()
        if gcm:
            print(f"| openssl speed -evp aes-128-gcm, 16 KiB blocks, core 0 | {gcm:.2f} GB/s |")

    if not opts.no_scaling and "ka_1k" in SCENARIOS:
        print()
        print("Unpinned, both cores (henaserver default threads, nginx 2 workers, wrk -t2):")
        print()
        print("| server | 1 KB keep-alive req/s, 1 worker pinned | both cores, unpinned | scaling |")
        print("|---|---|---|---|")
        for n in names:
            one, two = [], []
            for _ in range(max(1, opts.rounds // 2)):
                srv = Server(n, "0", 1)
                try:
                    one.append(run_load(srv, "ka_1k", opts.duration, "1")["value"])
                finally:
                    srv.stop()
                srv = Server(n, None, 2 if n == "nginx" else None)
                try:
                    two.append(run_load(srv, "ka_1k", opts.duration, None, wrk_threads=2)["value"])
                finally:
                    srv.stop()
            print(f"| {n} | {fmt(median(one), 0)} | {fmt(median(two), 0)} | "
                  f"{median(two) / median(one):.2f}x |")


if __name__ == "__main__":
    if shutil.which("wrk") is None or shutil.which("nginx") is None and "--baseline" not in sys.argv \
            and "caddy" not in sys.argv:
        sys.exit("wrk and nginx are needed: run bench/compare.sh, which installs them")
    main()
