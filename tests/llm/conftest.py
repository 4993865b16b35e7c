"""Fixtures for the LLM tests: a real llama-cpp-python OpenAI-compatible server on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from asyndbt.llm import resolve_model


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_models(url: str, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """Poll ``url/v1/models`` until it answers 200 (or fail, showing the server's output)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/v1/models", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server at {url} did not answer /v1/models within {timeout} s")


@pytest.fixture(scope="module")  # module: an idle llama.cpp server still costs CPU in later tests
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start ``python -m llama_cpp.server`` with the default embedded model; yield its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(resolve_model(None)),
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "512",
           "--n_threads", "1", "--n_threads_batch", "1"]
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, "OPENAI_API_KEY": ""})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_models(url, proc, timeout=180.0)
    except RuntimeError as exc:
        proc.kill()
        proc.wait()
        pytest.fail(f"{exc}; log:\n{log.read_text(errors='replace')[-2000:]}")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
