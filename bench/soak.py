#!/usr/bin/env python3
"""Bounded soak of henaserver on loopback: good load and misbehaving clients
at once, with the server's memory and descriptors sampled throughout.

Run through bench/soak.sh. Fails (exit 1) if any good request fails, or if
resident memory or open descriptors keep growing.
"""

import argparse
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
ROOT = os.path.join(OUT, "soak-root")
HENA = os.path.join(REPO, "target", "release", "henaserver")
PORT = 18490

stop = threading.Event()
counts = {"slowloris": 0, "malformed": 0, "stalled": 0, "idle": 0, "good": 0, "good_failed": 0}
lock = threading.Lock()


def bump(key, n=1):
    with lock:
        counts[key] += n


def connect():
    s = socket.create_connection(("127.0.0.1", PORT), timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return s


def slowloris():
    """Trickles a request head one byte a second; reconnects when dropped."""
    head = b"GET /small.txt HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 200
    while not stop.is_set():
        try:
            s = connect()
            for b in head:
                if stop.wait(1):
                    break
                s.send(bytes([b]))
        except OSError:
            pass
        bump("slowloris")


def malformed():
    """Sends broken requests, as fast as the server answers them."""
    junk = [
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + os.urandom(64),
        b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 200 + b"\r\n",
        b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ]
    while not stop.is_set():
        try:
            with connect() as s:
                s.sendall(random.choice(junk))
                s.settimeout(10)
                while s.recv(65536):
                    pass
        except OSError:
            pass
        bump("malformed")


def stalled():
    """Asks for a large file and never reads it."""
    while not stop.is_set():
        try:
            with connect() as s:
                s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                # Wait for the server to give up on us (send timeout).
                s.settimeout(120)
                time.sleep(0)
                deadline = time.time() + 120
                while not stop.is_set() and time.time() < deadline:
                    try:
                        s.recv(1, socket.MSG_PEEK)
                    except OSError:
                        break
                    stop.wait(5)
        except OSError:
            pass
        bump("stalled")


def idle():
    """Opens a connection and sends nothing."""
    while not stop.is_set():
        try:
            with connect() as s:
                s.settimeout(60)
                s.recv(1)
        except OSError:
            pass
        bump("idle")


def good_checker(failures):
    """A fresh, well-behaved request twice a second must always succeed."""
    while not stop.wait(0.5):
        try:
            with socket.create_connection(("127.0.0.1", PORT), timeout=10) as s:
                s.sendall(b"GET /small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            if not data.startswith(b"HTTP/1.1 200 ") or not data.endswith(b"x" * 100):
                raise OSError(f"bad answer {data[:40]!r}")
            bump("good")
        except OSError as e:
            bump("good_failed")
            failures.append(f"{time.strftime('%H:%M:%S')} {e}")


def sample(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--duration", type=float, default=600, help="seconds (default 600)")
    ap.add_argument("--interval", type=float, default=5, help="sampling interval in seconds")
    opts = ap.parse_args()

    os.makedirs(ROOT, exist_ok=True)
    with open(os.path.join(ROOT, "small.txt"), "wb") as f:
        f.write(b"x" * 1000)
    with open(os.path.join(ROOT, "big.bin"), "wb") as f:
        f.write(os.urandom(1 << 20) * 32)
    time.sleep(1.2)

    server = subprocess.Popen(
        ["taskset", "-c", "0", HENA, ROOT, "--port", str(PORT), "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)
    failures = []
    threads = [threading.Thread(target=good_checker, args=(failures,), daemon=True)]
    threads += [threading.Thread(target=slowloris, daemon=True) for _ in range(50)]
    threads += [threading.Thread(target=malformed, daemon=True) for _ in range(2)]
    threads += [threading.Thread(target=stalled, daemon=True) for _ in range(10)]
    threads += [threading.Thread(target=idle, daemon=True) for _ in range(50)]
    for t in threads:
        t.start()
    wrk = subprocess.Popen(
        ["taskset", "-c", "1", "wrk", "-t1", "-c50", f"-d{int(opts.duration)}s",
         f"http://127.0.0.1:{PORT}/small.txt"],
        stdout=subprocess.PIPE, text=True)

    samples = []
    started = time.time()
    try:
        while time.time() - started < opts.duration:
            time.sleep(opts.interval)
            rss, fds = sample(server.pid)
            samples.append((time.time() - started, rss, fds))
            print(f"{samples[-1][0]:6.0f}s  rss {rss / 1024:6.1f} MiB  fds {fds:5d}  "
                  f"good {counts['good']} failed {counts['good_failed']}", flush=True)
    finally:
        wrk_out, _ = wrk.communicate(timeout=opts.duration + 60)
        stop.set()
        server.send_signal(signal.SIGTERM)
        server.wait(30)

    third = max(1, len(samples) // 3)
    first, last = samples[:third], samples[-third:]
    rss_first = max(s[1] for s in first)
    rss_last = max(s[1] for s in last)
    fds_first = max(s[2] for s in first)
    fds_last = max(s[2] for s in last)
    m = re.search(r"(\d+) requests in", wrk_out)
    wrk_requests = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", wrk_out)
    wrk_errors = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk_out)
    wrk_non2xx = int(m.group(1)) if m else 0

    print()
    print(f"| soak of {opts.duration:g} s | value |")
    print("|---|---|")
    print(f"| wrk good requests | {wrk_requests} (errors {wrk_errors}, non-2xx {wrk_non2xx}) |")
    print(f"| checker requests | {counts['good']} ok, {counts['good_failed']} failed |")
    print(f"| misbehaving connections | slowloris {counts['slowloris']}, malformed "
          f"{counts['malformed']}, stalled readers {counts['stalled']}, idle {counts['idle']} |")
    print(f"| peak RSS, first / last third | {rss_first / 1024:.1f} / {rss_last / 1024:.1f} MiB |")
    print(f"| peak open fds, first / last third | {fds_first} / {fds_last} |")

    problems = []
    if wrk_errors or wrk_non2xx or wrk_requests == 0:
        problems.append("good wrk requests failed")
    if counts["good_failed"]:
        problems.append(f"{counts['good_failed']} checker requests failed: {failures[:5]}")
    if rss_last > rss_first * 1.25 + 4096:
        problems.append("resident memory kept growing")
    if fds_last > fds_first + 64:
        problems.append("open descriptors kept growing")
    if server.returncode != 0:
        problems.append(f"server exited with {server.returncode}")
    if problems:
        print("FAIL: " + "; ".join(problems))
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
