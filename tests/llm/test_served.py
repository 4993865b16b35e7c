"""The served backend (a Flower node's long-lived model): same identity and scores as the model it serves."""

from __future__ import annotations

import threading
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client

import pytest

from asyndbt.errors import LLMConfigError
from asyndbt.llm import LlamaCppBackend, ScoreRequest, SocketBackend, resolve_model, serve_backend
from asyndbt.llm._served import key_path

LABELS = (" Terrible", " Great")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    inner = LlamaCppBackend(resolve_model(None), n_ctx=256, n_threads=1)
    sock = tmp_path_factory.mktemp("served") / "m.sock"
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=serve_backend, args=(inner, sock), kwargs={"ready": ready.set, "stop": stop},
                              daemon=True)
    thread.start()
    assert ready.wait(60)
    yield inner, sock
    stop.set()
    try:  # wake accept() so the loop sees stop
        Client(str(sock), family="AF_UNIX", authkey=key_path(sock).read_bytes()).close()
    except OSError:
        pass
    inner.close()


def test_same_identity_and_scores(served):
    inner, sock = served
    remote = SocketBackend(sock)
    assert remote.kind == inner.kind and remote.identity() == inner.identity()
    reqs = [ScoreRequest("Review: lovely. Sentiment: Great\n\n", f"Review: {t}. Sentiment:", LABELS)
            for t in ("a joy", "a bore", "fine")]
    got, want = remote.score(reqs), inner.score(reqs)
    assert [g.seq_logprobs for g in got] == [w.seq_logprobs for w in want]
    assert all(g.evaluated_tokens >= 0 and g.prompt_tokens == w.prompt_tokens for g, w in zip(got, want, strict=True))
    assert remote.count_tokens("a joy") == inner.count_tokens("a joy")
    remote.close()


def test_errors_keep_their_kind(served):
    _, sock = served
    remote = SocketBackend(sock)
    with pytest.raises(LLMConfigError, match="n_ctx"):
        remote.score([ScoreRequest("word " * 400, "x", LABELS)])
    remote.close()


def test_a_client_without_the_key_is_refused(served):
    _, sock = served
    with pytest.raises(AuthenticationError):
        Client(str(sock), family="AF_UNIX", authkey=b"not the key")
    assert key_path(sock).stat().st_mode & 0o077 == 0  # the key is readable by its owner only
    SocketBackend(sock).close()  # the server is still serving


def test_missing_server_names_the_fix(tmp_path):
    with pytest.raises(LLMConfigError, match="flower model-server"):
        SocketBackend(tmp_path / "none.sock")
