"""``flower-supernode`` with a shorter idle wait: the node side of ``asyndbt flower supernode``.

Stock Flower 1.42's SuperNode sleeps a hard-coded 3 s after every pull that finds no message and
0.5 s between checks for the ClientApp's reply (``flwr/supernode/start_client_internal.py``); it
has no setting for either. In AsynDBT a worker's next update is usually not ready the instant it
replied, so nearly every step pays part of the 3 s (about 1.5 s on average). This entry point runs
the stock SuperNode with those waits capped at ``poll_s`` and the SuperExec's task polling (which
Flower does let us set, ``FLWR_SUPEREXEC_TASK_POLL_INTERVAL``, default 1 s) set to the same value.

Nothing else changes: same arguments, same protocol, same SuperLink. The cap is applied by giving
that one module a ``time`` whose ``sleep`` is shortened, and refused, with the reason, on a Flower
version whose module does not look as expected (then use ``flower-supernode`` itself).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from asyndbt.errors import RunError

DEFAULT_POLL_S = 0.2
TASK_POLL_ENV = "FLWR_SUPEREXEC_TASK_POLL_INTERVAL"
POLL_ENV = "ASYNDBT_SUPERNODE_POLL_S"
WARM_ENV = "ASYNDBT_WARM_CLIENTAPPS"


class CappedTime:
    """Stands in for the ``time`` module in one Flower module: everything as ``time``, but ``sleep`` is capped."""

    def __init__(self, poll_s: float) -> None:
        self.poll_s = poll_s

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        time.sleep(min(float(seconds), self.poll_s))


def patch_idle_waits(poll_s: float) -> None:
    """Cap the SuperNode loop's idle waits at ``poll_s`` seconds (see the module docstring)."""
    if not 0.01 <= poll_s <= 3.0:
        raise RunError(f"SuperNode poll interval {poll_s!r} s is out of range; use 0.01 to 3 s")
    try:
        from flwr.supernode import start_client_internal as loop
    except ImportError as exc:
        raise RunError(f"cannot shorten the SuperNode's waits: {exc}; run stock `flower-supernode` instead") from exc
    if getattr(loop, "time", None) is not time or not hasattr(loop, "start_client_internal"):
        import flwr

        raise RunError(f"flwr {getattr(flwr, '__version__', '?')}: flwr.supernode.start_client_internal does not "
                       "look like Flower 1.42's (no module-level `time`); run stock `flower-supernode` instead")
    loop.time = CappedTime(poll_s)


def start_warm_clientapps(work_dir: str | Path) -> subprocess.Popen[bytes]:
    """Start the fork server of ``_warm`` and put its ``flwr-clientapp`` launcher first on this process's PATH.

    The SuperExec that this SuperNode starts inherits the PATH, so every per-message ClientApp is
    forked from a process that has already imported Flower and asyndbt.
    """
    from asyndbt.runtime.flower import _warm

    work = Path(work_dir)
    sock = work / "clientapp.sock"
    real = shutil.which("flwr-clientapp", path=str(Path(sys.executable).parent)) or shutil.which("flwr-clientapp")
    if real is None:
        raise RunError("flwr-clientapp is not installed next to this Python nor on PATH; install flwr")
    server = subprocess.Popen([sys.executable, "-m", _warm.__name__, "--socket", str(sock),
                               "--parent-pid", str(os.getpid())])
    _warm.write_launcher(work / "bin", sock, real)
    os.environ["PATH"] = str(work / "bin") + os.pathsep + os.environ.get("PATH", "")
    return server


def main(argv: Sequence[str] | None = None, poll_s: float | None = None, warm: bool | None = None) -> None:
    """Run ``flower-supernode`` with ``argv``, its idle waits capped and its ClientApps forked warm.

    ``poll_s`` defaults to $ASYNDBT_SUPERNODE_POLL_S, else DEFAULT_POLL_S; ``warm`` (fork server for
    the per-message ClientApps) to $ASYNDBT_WARM_CLIENTAPPS != "0".
    """
    poll = poll_s if poll_s is not None else float(os.environ.get(POLL_ENV, DEFAULT_POLL_S))
    patch_idle_waits(poll)
    os.environ.setdefault(TASK_POLL_ENV, str(poll))  # the SuperExec child reads it at start
    use_warm = warm if warm is not None else os.environ.get(WARM_ENV, "1") != "0"
    server = None
    with tempfile.TemporaryDirectory(prefix="asyndbt-node-") as work:  # short: a Unix socket path is <= 107 bytes
        if use_warm:
            server = start_warm_clientapps(work)
        from flwr.supernode.cli import flower_supernode

        sys.argv = ["flower-supernode", *(sys.argv[1:] if argv is None else argv)]
        try:
            flower_supernode()
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=10)


if __name__ == "__main__":
    main()
