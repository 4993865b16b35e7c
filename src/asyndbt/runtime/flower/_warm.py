"""Warm ClientApp processes: fork each per-message ``flwr-clientapp`` from a process that has imported it.

Flower 1.42's SuperNode (through its SuperExec) starts a fresh ``flwr-clientapp`` process for every
message, and about 1 s of each start is Python importing Flower and our app (measured:
``clientapp_process_s_mean`` in bench/results/flower.json). Flower offers warm executors only on
Kubernetes. Here the SuperNode's ``PATH`` gets a small ``flwr-clientapp`` launcher first; it hands
its arguments, environment, working directory and standard streams to a *fork server* that imported
Flower and asyndbt once, which forks a child to run the real ``flwr-clientapp`` entry point and sends
back its exit status. Each message still gets its own process (a fork: nothing leaks between
messages); only the imports are shared. If the fork server is not there, the launcher runs the real
``flwr-clientapp``, so nothing breaks, it is only slower.

The fork server is single-threaded (no thread can hold a lock at fork time) and exits with the
SuperNode that started it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import selectors
import signal
import socket
import stat
import struct
import sys
from collections.abc import Callable
from pathlib import Path

TARGET = "flwr.supernode.cli:flwr_clientapp"
PRELOAD = ("flwr.supernode.cli", "flwr.supernode.runtime.run_clientapp", "asyndbt.runtime.flower._node")
_LEN = struct.Struct("!I")
_STATUS = struct.Struct("!ii")  # (kind, value): kind 0 = child pid, 1 = exit code


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("fork server connection closed")
        buf += chunk
    return buf


def _load(target: str) -> Callable[[], object]:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def _run_child(conn: socket.socket, request: dict, fds: list[int], target: Callable[[], object]) -> None:
    """In the forked child: become the requested process, run the entry point, exit with its code."""
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for fd, std in zip(fds, (0, 1, 2), strict=True):
            os.dup2(fd, std)
            os.close(fd)
        conn.close()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = list(request["argv"])
        try:
            target()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - the child must report and exit, never return to the server loop
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve(socket_path: str | Path, target: str = TARGET, preload: tuple[str, ...] = PRELOAD,
          parent_pid: int | None = None) -> None:
    """Import, listen on ``socket_path`` (owner-only) and fork one child per launcher connection."""
    for name in preload:
        importlib.import_module(name)
    entry = _load(target)
    path = Path(socket_path)
    path.unlink(missing_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # unwind: the finally below removes the socket
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    staging = path.with_name(path.name + ".new")
    staging.unlink(missing_ok=True)
    old_umask = os.umask(0o177)
    try:
        server.bind(str(staging))
    finally:
        os.umask(old_umask)
    server.listen(64)
    os.rename(staging, path)  # the path appears only once it accepts connections
    sel = selectors.DefaultSelector()
    sel.register(server, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}
    try:
        while parent_pid is None or os.getppid() == parent_pid:
            for _key, _ in sel.select(timeout=0.05):
                conn, _addr = server.accept()
                fds: list[int] = []
                try:
                    # the streams ride on the first segment: read it with recv_fds, then the rest of the message
                    first, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 3)
                    size = _LEN.unpack(first[:_LEN.size])[0]
                    body = first[_LEN.size:]
                    request = json.loads(body + _recv_exact(conn, size - len(body)))
                    if len(fds) != 3:
                        raise ValueError(f"expected 3 standard streams, got {len(fds)}")
                except (OSError, ValueError) as exc:
                    print(f"fork server: bad request: {exc}", file=sys.stderr)
                    for fd in fds:
                        os.close(fd)
                    conn.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    server.close()
                    _run_child(conn, request, fds, entry)
                for fd in fds:
                    os.close(fd)
                conn.sendall(_STATUS.pack(0, pid))
                children[pid] = conn
            while children:
                pid, status = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    break
                conn = children.pop(pid, None)
                if conn is not None:
                    try:
                        conn.sendall(_STATUS.pack(1, os.waitstatus_to_exitcode(status)))
                    except OSError:
                        pass  # the launcher is gone (killed); nothing to tell
                    conn.close()
    finally:
        server.close()
        path.unlink(missing_ok=True)


LAUNCHER = """#!{python} -IS
# Generated by asyndbt (runtime/flower/_warm.py): run flwr-clientapp through the fork server, else directly.
import json, os, signal, socket, struct, sys
SOCK, REAL = {sock!r}, {real!r}
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(SOCK)
except OSError:
    os.execv(REAL, [REAL, *sys.argv[1:]])
msg = json.dumps({{"argv": ["flwr-clientapp", *sys.argv[1:]], "env": dict(os.environ), "cwd": os.getcwd()}}).encode()
socket.send_fds(s, [struct.pack({len_fmt!r}, len(msg)) + msg], [0, 1, 2])
child = [0]
def forward(signum, _frame):
    if child[0]:
        os.kill(child[0], signum)
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(sig, forward)
while True:
    buf = b""
    while len(buf) < {status_size}:
        part = s.recv({status_size} - len(buf))
        if not part:
            sys.exit(1)
        buf += part
    kind, value = struct.unpack({status_fmt!r}, buf)
    if kind == 0:
        child[0] = value
    else:
        sys.exit(value if value >= 0 else 128 - value)
"""


def write_launcher(bin_dir: str | Path, socket_path: str | Path, real: str) -> Path:
    """Write the ``flwr-clientapp`` launcher into ``bin_dir`` (put it first on the SuperNode's PATH)."""
    d = Path(bin_dir)
    d.mkdir(parents=True, exist_ok=True)
    exe = d / "flwr-clientapp"
    text = LAUNCHER.format(python=sys.executable, sock=str(socket_path), real=real, len_fmt=_LEN.format,
                           status_fmt=_STATUS.format, status_size=_STATUS.size)  # the server's wire format
    exe.write_text(text, encoding="utf-8")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Fork server for per-message flwr-clientapp processes.")
    ap.add_argument("--socket", required=True)
    ap.add_argument("--target", default=TARGET)
    ap.add_argument("--parent-pid", type=int, default=None, help="exit when this process is no longer the parent")
    args = ap.parse_args(argv)
    serve(args.socket, args.target, parent_pid=args.parent_pid)


if __name__ == "__main__":
    main()
