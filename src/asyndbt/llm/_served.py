"""A backend loaded once and shared over a local socket: the long-lived model of a Flower node.

Why. A deployed Flower SuperNode runs every message in a fresh ClientApp process; loading the model
there costs seconds per worker step. ``serve_backend`` keeps one backend (the embedded llama.cpp
model) in a long-lived process, and ``SocketBackend`` is what each short-lived process uses instead:
same ``kind``, same ``identity()`` (so cache keys and scores are those of the embedded backend) and
``score()`` forwarded over a Unix socket.

The socket is local to the machine, its file is readable by the owner only, and every connection
must prove it knows the key in ``<socket>.key`` (``multiprocessing.connection``'s HMAC handshake),
so nothing else on the machine can use or feed the model.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import threading
from collections.abc import Callable, Sequence
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from asyndbt.errors import LLMConfigError, LLMServerError
from asyndbt.llm._types import LabelScores, ScoreRequest

_KEY_SUFFIX = ".key"
_log = logging.getLogger(__name__)


def key_path(socket_path: str | Path) -> Path:
    """Where the key of the model server listening on ``socket_path`` is kept."""
    return Path(str(socket_path) + _KEY_SUFFIX)


def _handle(conn: Connection, backend: Any) -> None:
    with conn:
        while True:
            try:
                op, arg = conn.recv()
            except (EOFError, OSError):
                return
            try:
                if op == "identity":
                    reply: Any = (backend.kind, backend.identity())
                elif op == "score":
                    reply = [dataclasses.asdict(s) for s in backend.score([ScoreRequest(*r) for r in arg])]
                elif op == "count_tokens":
                    reply = backend.count_tokens(arg[0], add_bos=arg[1])
                else:
                    raise LLMServerError(f"model server: unknown operation {op!r}")
                conn.send(("ok", reply))
            except Exception as exc:  # noqa: BLE001 - every failure goes back to the caller, with its kind
                conn.send(("config" if isinstance(exc, LLMConfigError) else "error", f"{type(exc).__name__}: {exc}"))


def serve_backend(backend: Any, socket_path: str | Path, *, ready: Callable[[], None] | None = None,
                  stop: threading.Event | None = None) -> None:
    """Serve ``backend`` on a Unix socket until ``stop`` is set (or forever).

    Writes a fresh random key to ``<socket>.key`` (mode 0600) before listening; ``ready`` is called
    once clients can connect.
    """
    path = Path(socket_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    key = secrets.token_bytes(32)
    kp = key_path(path)
    kp.unlink(missing_ok=True)
    fd = os.open(kp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    with Listener(str(path), family="AF_UNIX", authkey=key) as listener:
        os.chmod(path, 0o600)
        if ready is not None:
            ready()
        while stop is None or not stop.is_set():
            try:
                conn = listener.accept()
            except (OSError, AuthenticationError, EOFError) as exc:  # a peer without the key, or one that hung up
                if stop is not None and stop.is_set():
                    return
                _log.warning("model server %s refused a connection: %s", path, exc)
                continue
            threading.Thread(target=_handle, args=(conn, backend), daemon=True).start()


class SocketBackend:
    """A backend served by :func:`serve_backend`: the model stays loaded in the server process."""

    def __init__(self, socket_path: str | Path, *, timeout_s: float = 600.0) -> None:
        self.socket_path = Path(socket_path)
        kp = key_path(self.socket_path)
        if not self.socket_path.exists() or not kp.exists():
            raise LLMConfigError(
                f"no model server at {self.socket_path}; start one with "
                f"`asyndbt flower model-server --socket {self.socket_path}` (or drop the node's model-server key)",
                backend="socket")
        self.timeout_s = timeout_s
        self._conn = Client(str(self.socket_path), family="AF_UNIX", authkey=kp.read_bytes())
        self._lock = threading.Lock()
        self.kind, self._identity = self._call("identity", None)

    def _call(self, op: str, arg: Any) -> Any:
        with self._lock:
            try:
                self._conn.send((op, arg))
                if not self._conn.poll(self.timeout_s):
                    raise LLMServerError(f"model server {self.socket_path} did not answer {op} within "
                                         f"{self.timeout_s:.0f}s", backend="socket")
                status, reply = self._conn.recv()
            except (EOFError, OSError) as exc:
                raise LLMServerError(f"lost the model server at {self.socket_path} ({exc}); is it still running?",
                                     backend="socket") from exc
        if status == "config":
            raise LLMConfigError(str(reply), backend=self.kind)
        if status != "ok":
            raise LLMServerError(f"model server {self.socket_path}: {reply}", backend=self.kind)
        return reply

    def identity(self) -> dict[str, Any]:
        """The served backend's identity (so scores cache under the same keys as the embedded model's)."""
        return dict(self._identity)

    def score(self, requests: Sequence[ScoreRequest]) -> list[LabelScores]:
        """Score on the server, in order."""
        rows = [(r.prefix, r.suffix, tuple(r.labels)) for r in requests]
        return [LabelScores(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
                for d in self._call("score", rows)]

    def count_tokens(self, text: str, *, add_bos: bool = False) -> int:
        """Token count under the served model's tokenizer."""
        return int(self._call("count_tokens", (text, add_bos)))

    def close(self) -> None:
        """Close this process's connection (the server keeps running)."""
        self._conn.close()
