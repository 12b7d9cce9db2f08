#!/usr/bin/env python3
"""The library's file service against tower-http's ServeDir, each inside
the same minimal axum app on one thread (bench/servedir.rs): 1 KB
keep-alive (wrk, 50 connections) and a 64 MiB body (wrk, 1 connection),
server pinned to core 0 and wrk to core 1, alternating rounds. Prints
requests per second, requests per server CPU-second, and GB/s.

    cargo build --release --features tower --example servedir
    python3 bench/library.py [--rounds 5] [--duration 5]
"""
import argparse, os, re, statistics, subprocess, sys, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(HERE, "..", "target", "release", "examples", "servedir")
ROOT = os.path.join(HERE, "out", "library-root")
PORT = 18490
TICK = os.sysconf("SC_CLK_TCK")


def make_root():
    os.makedirs(ROOT, exist_ok=True)
    small = os.path.join(ROOT, "1k.bin")
    if not os.path.exists(small):
        with open(small, "wb") as f:
            f.write(b"x" * 1024)
    big = os.path.join(ROOT, "64m.bin")
    if not os.path.exists(big):
        with open(big, "wb") as f:
            f.write(os.urandom(1 << 20) * 64)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def run(mode, path, conns, duration):
    srv = subprocess.Popen(["taskset", "-c", "0", BIN, mode, ROOT, str(PORT)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{PORT}{path}"
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/1k.bin", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        before = cpu_seconds(srv.pid)
        out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}",
                              f"-d{duration}s", url], capture_output=True, text=True).stdout
        cpu = cpu_seconds(srv.pid) - before
    finally:
        srv.terminate()
        srv.wait()
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    secs = float(re.search(r"requests in ([\d.]+)s", out).group(1))
    if "non-2xx" in out:
        sys.exit(f"{mode} {path}: non-2xx answers\n{out}")
    return {"rps": reqs / secs, "per_cpu": reqs / cpu if cpu else 0.0,
            "gbps": reqs * (64 << 20) / secs / 1e9 if "64m" in path else 0.0}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=float, default=5)
    opts = ap.parse_args()
    if not os.path.exists(BIN):
        sys.exit("build it first: cargo build --release --features tower --example servedir")
    make_root()
    os.sched_setaffinity(0, {1})
    rows = [("1 KB keep-alive, 50 conns", "/1k.bin", 50), ("64 MiB, 1 conn", "/64m.bin", 1)]
    results = {(r[0], m): [] for r in rows for m in ("files", "servedir")}
    for rnd in range(opts.rounds):
        for name, path, conns in rows:
            order = ("files", "servedir") if rnd % 2 == 0 else ("servedir", "files")
            for mode in order:
                r = run(mode, path, conns, int(opts.duration))
                results[(name, mode)].append(r)
                print(f"round {rnd + 1} {name:26} {mode:9} {r['rps']:10.0f} req/s "
                      f"{r['per_cpu']:10.0f} per CPU-s {r['gbps']:5.2f} GB/s", file=sys.stderr)
    print(f"\nMedians of {opts.rounds} alternating rounds, {opts.duration:g} s each; "
          "server on core 0 (one thread), wrk on core 1.\n")
    print("| scenario | Files req/s | ServeDir req/s | Files per CPU-s | ServeDir per CPU-s "
          "| ratio per CPU-s | Files GB/s | ServeDir GB/s | ratio GB/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, _, _ in rows:
        f, s = results[(name, "files")], results[(name, "servedir")]
        med = lambda rs, k: statistics.median(r[k] for r in rs)
        ratio = statistics.median(a["per_cpu"] / b["per_cpu"] for a, b in zip(f, s) if b["per_cpu"])
        gratio = statistics.median(a["gbps"] / b["gbps"] for a, b in zip(f, s) if b["gbps"]) \
            if "64" in name else 0
        print(f"| {name} | {med(f, 'rps'):.0f} | {med(s, 'rps'):.0f} | {med(f, 'per_cpu'):.0f} "
              f"| {med(s, 'per_cpu'):.0f} | {ratio:.2f}x | {med(f, 'gbps'):.2f} "
              f"| {med(s, 'gbps'):.2f} | {gratio:.2f}x |")


if __name__ == "__main__":
    main()
