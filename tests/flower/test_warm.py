"""The SuperNode launcher's pieces: the warm ClientApp fork server and the capped idle waits.

The fork server runs a tiny entry point here (not flwr-clientapp) so the test checks the
protocol itself: arguments, environment, working directory, streams, exit code, signals, fallback.
The whole path under a real SuperNode is exercised by the deployment tests, which use it by default.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from asyndbt.errors import RunError
from asyndbt.runtime.flower import _supernode, _warm

TARGET = """
import os, sys, time
def main():
    print("argv", sys.argv[1:], os.getcwd(), os.environ.get("WARM_TEST"), flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    if sys.argv[1] == "sleep":
        time.sleep(60)
    sys.exit(int(sys.argv[1]))
"""


@pytest.fixture
def fork_server(tmp_path: Path):
    (tmp_path / "warm_target.py").write_text(TARGET)
    sock = tmp_path / "s.sock"
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", _warm.__name__, "--socket", str(sock), "--target",
                             "warm_target:main"], env=env)
    deadline = time.monotonic() + 60
    while not sock.exists():
        assert proc.poll() is None, "fork server exited at start"
        assert time.monotonic() < deadline, "fork server did not listen within 60 s"
        time.sleep(0.05)
    fallback = tmp_path / "real-clientapp"
    fallback.write_text("#!/bin/sh\necho fallback \"$@\"\nexit 7\n")
    fallback.chmod(0o755)
    launcher = _warm.write_launcher(tmp_path / "bin", sock, str(fallback))
    yield proc, launcher, sock
    proc.terminate()
    proc.wait(timeout=10)


def test_launcher_runs_the_entry_point_in_a_forked_child(fork_server, tmp_path: Path) -> None:
    proc, launcher, sock = fork_server
    assert oct(sock.stat().st_mode & 0o777) == "0o600"  # owner-only, like the model server's socket
    work = tmp_path / "cwd"
    work.mkdir()
    res = subprocess.run([str(launcher), "3", "--token", "abc"], cwd=work, env={**os.environ, "WARM_TEST": "yes"},
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 3
    assert f"argv ['3', '--token', 'abc'] {work} yes" in res.stdout  # its argv, cwd and environment
    assert "to stderr" in res.stderr
    assert proc.poll() is None  # the server lives on for the next message


def test_signals_reach_the_child_and_a_missing_server_falls_back(fork_server) -> None:
    proc, launcher, sock = fork_server
    child = subprocess.Popen([str(launcher), "sleep"], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().startswith("argv ['sleep']")
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=10) == 128 + signal.SIGTERM
    proc.terminate()
    proc.wait(timeout=10)
    assert not sock.exists()  # removed on SIGTERM
    res = subprocess.run([str(launcher), "5"], capture_output=True, text=True, timeout=30)
    assert (res.returncode, res.stdout.strip()) == (7, "fallback 5")  # the real flwr-clientapp, unchanged


def test_idle_waits_are_capped_and_bad_intervals_refused() -> None:
    shim = _supernode.CappedTime(0.01)
    t0 = time.monotonic()
    shim.sleep(3)
    assert time.monotonic() - t0 < 1.0
    assert shim.monotonic is time.monotonic  # the rest of the module is untouched
    with pytest.raises(RunError, match="out of range"):
        _supernode.patch_idle_waits(10.0)


def test_cli_supernode_refuses_a_bad_poll_interval() -> None:
    res = subprocess.run([sys.executable, "-m", "asyndbt", "flower", "supernode", "--poll", "10", "--insecure"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode != 0
    assert "out of range" in " ".join((res.stdout + res.stderr).split())
