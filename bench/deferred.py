#!/usr/bin/env python3
"""Starts a server on a listening socket that defers accept, as systemd's
`DeferAccept=` does: the kernel hands a connection over only once its
first data has come (Linux's TCP_DEFER_ACCEPT), and the server takes the
socket from LISTEN_FDS.

    bench/deferred.py PORT SECONDS -- PROGRAM ARGS...
"""

import os
import socket
import sys


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.exit("usage: deferred.py PORT SECONDS -- PROGRAM ARGS...")
    port, seconds, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[4:]
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, seconds)
    s.bind(("127.0.0.1", port))
    s.listen(4096)
    os.dup2(s.fileno(), 3)
    os.set_inheritable(3, True)
    os.environ["LISTEN_FDS"] = "1"
    # exec keeps the process id, so the server finds itself named here.
    os.environ["LISTEN_PID"] = str(os.getpid())
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
