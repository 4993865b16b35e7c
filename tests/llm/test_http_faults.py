"""The HTTP backend and the client's retries, budgets, limits and ledger against a real loopback server.

The server here is a small ``http.server`` app that speaks the OpenAI completions API and injects
faults on request: a timeout, 429 with Retry-After, 500, or a body that is not JSON. It answers with
deterministic made-up log-probabilities, so these tests check the plumbing, not a model.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from asyndbt.config import build_config
from asyndbt.errors import BudgetExceeded, ConfigError, LLMConfigError, LLMRateLimited, LLMTimeout
from asyndbt.llm import (
    Budget,
    ExponentialBackoff,
    Ledger,
    LLMClient,
    OpenAICompatibleBackend,
    Prices,
    RateLimiter,
    ScoreCache,
    ScoreRequest,
    estimate_calls,
)

SECRET = "sk-test-SECRET-do-not-leak-1234"
TOKEN_RE = re.compile(r"\s*\S+")


def fake_logprob(token: str) -> float:
    return -0.1 * len(token.strip())


class FakeOpenAI:
    """A loopback OpenAI-compatible server with scripted faults.

    A prompt containing ``[fault:KIND:N]`` fails its first N arrivals with KIND (timeout, 429, 500,
    badjson, 400); later arrivals succeed. Every arrival is counted.
    """

    def __init__(self, *, sleep_s: float = 1.5) -> None:
        self.arrivals: Counter[str] = Counter()
        self.total = 0
        self.auth: list[str | None] = []
        self.lock = threading.Lock()
        self.sleep_s = sleep_s
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left: that is the fault being tested

            def do_GET(self) -> None:
                if self.path == "/v1/models":
                    self._send(200, json.dumps({"object": "list", "data": [{"id": "fake-model"}]}).encode())
                else:
                    self._send(404, b'{"error": {"message": "not found"}}')

            def do_POST(self) -> None:
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = payload["prompt"]
                with owner.lock:
                    owner.total += 1
                    query = prompt.split("\nSentiment:")[0]  # the same for every label of a request
                    owner.arrivals[query] += 1
                    n = owner.arrivals[query]
                    owner.auth.append(self.headers.get("Authorization"))
                m = re.search(r"\[fault:(\w+):(\d+)\]", prompt)
                if m and n <= int(m.group(2)):
                    kind = m.group(1)
                    if kind == "timeout":
                        time.sleep(owner.sleep_s)
                        return self._send(200, b"{}")
                    if kind == "429":
                        return self._send(429, b'{"error": {"message": "slow down"}}', {"Retry-After": "3"})
                    if kind == "500":
                        return self._send(500, b'{"error": {"message": "boom"}}')
                    if kind == "badjson":
                        return self._send(200, b'{"choices": [')
                    if kind == "400":
                        return self._send(400, b'{"error": {"message": "echo is not supported"}}')
                self._send(200, json.dumps(owner.answer(payload)).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @staticmethod
    def answer(payload: dict) -> dict:
        prompt = payload["prompt"]
        toks = TOKEN_RE.findall(prompt)
        if payload.get("echo"):
            offsets, pos = [], 0
            for t in toks:
                offsets.append(pos)
                pos += len(t)
            values = [None] + [fake_logprob(t) for t in toks[1:]]
            lp = {"tokens": toks + [" x"], "text_offset": offsets + [pos], "token_logprobs": values + [-1.0],
                  "top_logprobs": [None] + [{t: fake_logprob(t)} for t in toks[1:]] + [{" x": -1.0}]}
            text = prompt + " x"
        else:
            lp = {"tokens": [" A"], "text_offset": [len(prompt)], "token_logprobs": [-0.5],
                  "top_logprobs": [{" A": -0.5, " B": -1.5}]}
            text = " A"
        return {"choices": [{"text": text, "index": 0, "logprobs": lp, "finish_reason": "length"}],
                "usage": {"prompt_tokens": len(toks), "completion_tokens": 1, "total_tokens": len(toks) + 1}}

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def fake():
    with FakeOpenAI() as srv:
        yield srv


def req(text: str, labels: tuple[str, ...] = (" good", " bad")) -> ScoreRequest:
    return ScoreRequest("Review: ", text + "\nSentiment:", labels)


def expected_echo(r: ScoreRequest) -> tuple[float, ...]:
    return tuple(sum(fake_logprob(t) for t in TOKEN_RE.findall(lab)) for lab in r.labels)


def make_client(fake: FakeOpenAI, tmp_path, *, retries: int = 3, sleeps: list | None = None, **kw) -> LLMClient:
    backend = OpenAICompatibleBackend(fake.url, "fake-model", api_key=SECRET, timeout=1.0, max_concurrency=4)
    sleeps = sleeps if sleeps is not None else []
    return LLMClient(backend, cache=ScoreCache(tmp_path / "c.sqlite"), ledger=Ledger(tmp_path / "ledger.jsonl"),
                     retry=ExponentialBackoff(retries, base=0.01, max_delay=0.05, jitter=0.0),
                     sleep=sleeps.append, **kw)


def test_echo_scores_whole_labels_in_request_order(fake, tmp_path):
    client = make_client(fake, tmp_path)
    reqs = [req(f"film number {i}", (" good", " not good at all")) for i in range(6)]
    out = client.score(reqs, worker=0)
    for r, s in zip(reqs, out, strict=True):
        assert s.seq_logprobs == pytest.approx(expected_echo(r))
        assert s.label_tokens == (1, 4)
    assert fake.total == 12  # one call per label
    assert all(a == f"Bearer {SECRET}" for a in fake.auth)
    tot = client.ledger.totals()
    assert tot["backend_attempts"] == 6 and tot["completion_tokens"] == 12


def test_first_token_mode(fake):
    be = OpenAICompatibleBackend(fake.url, None, echo=False)
    assert be.model == "fake-model"  # asked the server
    (s,) = be.score([req("fine", (" A", " B", " C"))])
    assert s.seq_logprobs[:2] == (-0.5, -1.5)
    leftover = 1 - math.exp(-0.5) - math.exp(-1.5)
    assert s.seq_logprobs[2] == pytest.approx(min(-1.5, math.log(leftover)))  # upper bound for an unlisted label


@pytest.mark.parametrize("kind", ["timeout", "429", "500", "badjson"])
def test_transient_faults_are_retried_and_counted_once(fake, tmp_path, kind):
    sleeps: list[float] = []
    client = make_client(fake, tmp_path, sleeps=sleeps)
    reqs = [req("ok one"), req(f"flaky [fault:{kind}:2]"), req("ok two")]
    out = client.score(reqs, worker=1)
    for r, s in zip(reqs, out, strict=True):
        assert s.seq_logprobs == pytest.approx(expected_echo(r))
    tot = client.ledger.totals()
    # the flaky request's first label call fails twice; only that request is sent again
    assert tot["requests"] == 3 and tot["backend_requests"] == 3
    assert tot["errors"] == 2 and tot["retries"] == 2 and tot["failures"] == 0
    assert tot["backend_attempts"] == 5
    assert fake.total == 2 * 2 + 2 * 1 + 2  # ok x2 (2 labels each) + 2 failed first-label calls + final 2 calls
    assert len(sleeps) == 2
    if kind == "429":
        assert all(d >= 3.0 for d in sleeps)  # Retry-After honoured
    else:
        assert sleeps == [pytest.approx(0.01), pytest.approx(0.02)]
    records = Ledger.read(tmp_path / "ledger.jsonl")
    assert sum(1 for r in records if r.error) == 2 and all(not r.final for r in records if r.error)
    assert [r.attempt for r in records if r.error is None and r.attempt > 1] == [3]


def test_gives_up_after_max_retries(fake, tmp_path):
    client = make_client(fake, tmp_path, retries=1)
    with pytest.raises(LLMRateLimited) as info:
        client.score([req("doomed [fault:429:5]")], worker=0)
    assert info.value.retry_after == 3.0 and info.value.status == 429
    tot = client.ledger.totals()
    assert tot["errors"] == 2 and tot["failures"] == 1 and tot["retries"] == 1


def test_timeout_maps_to_llmtimeout(fake):
    be = OpenAICompatibleBackend(fake.url, "fake-model", timeout=0.5)
    with pytest.raises(LLMTimeout, match="llm.timeout_s"):
        be.score([req("slow [fault:timeout:1]")])


def test_4xx_is_a_config_error_with_the_server_message_and_not_retried(fake, tmp_path):
    client = make_client(fake, tmp_path)
    with pytest.raises(LLMConfigError, match="echo is not supported") as info:
        client.score([req("x [fault:400:9]")])
    assert info.value.status == 400
    assert fake.total == 1


def test_budget_stops_before_sending(fake, tmp_path):
    client = make_client(fake, tmp_path, budget=Budget(max_requests=3))
    first = client.score([req("a"), req("b")], worker=0)
    with pytest.raises(BudgetExceeded) as info:
        client.score([req("c"), req("d")], worker=0)
    msg = str(info.value)
    assert "llm.max_requests=3" in msg and "2 requests used" in msg and "Raise llm.max_requests" in msg
    assert fake.total == 4  # 2 requests x 2 labels; nothing of the refused call was sent
    again = client.score([req("a"), req("b")], worker=0)  # cache hits do not count against budgets
    assert [s.seq_logprobs for s in again] == [s.seq_logprobs for s in first]
    client.score([req("c")], worker=0)  # exactly up to the limit is fine
    assert client.ledger.totals()["backend_attempts"] == 3 and fake.total == 6


def test_worker_token_and_cost_budgets(fake, tmp_path):
    client = make_client(fake, tmp_path, worker_budget=Budget(max_cost=0.1),
                         prices=Prices(prompt_per_1k=1.0, completion_per_1k=2.0))
    client.score([req("one")], worker=0)
    tot = client.ledger.by_worker()[0]
    assert tot["cost"] == pytest.approx((tot["evaluated_tokens"] * 1.0 + tot["completion_tokens"] * 2.0) / 1000)
    with pytest.raises(BudgetExceeded, match="worker 0 cost budget llm.worker_max_cost=0.1"):
        client.score([req("two " * 40)], worker=0)
    client.score([req("two")], worker=1)  # another worker has its own budget


def test_retry_must_fit_the_budget(fake, tmp_path):
    client = make_client(fake, tmp_path, budget=Budget(max_requests=1))
    with pytest.raises(BudgetExceeded):
        client.score([req("flaky [fault:500:1]")])
    tot = client.ledger.totals()
    assert tot["backend_attempts"] == 1 and tot["failures"] == 1 and fake.total == 1


def test_rate_limiter_is_shared_and_uses_injected_clock():
    now = [0.0]
    waits: list[float] = []
    lim = RateLimiter(requests_per_s=2.0, tokens_per_min=600.0, clock=lambda: now[0], sleep=waits.append)
    assert lim.acquire(requests=2, tokens=10) == 0.0  # a full bucket takes the burst
    assert lim.acquire(requests=1) == pytest.approx(0.5)
    now[0] = 10.0
    assert lim.acquire(requests=1, tokens=30) == pytest.approx(2.0)  # 10 tokens/s bucket, 10 in hand
    assert waits == [pytest.approx(0.5), pytest.approx(2.0)]
    lim2 = RateLimiter(requests_per_s=100.0)
    threads = [threading.Thread(target=lambda: [lim2.acquire() for _ in range(20)]) for _ in range(4)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - t0 >= (80 - 100) / 100.0  # 80 requests at 100/s after a burst of 100: no wait needed
    assert lim2.acquire() >= 0.0


def test_client_applies_limiter(fake, tmp_path):
    waits: list[float] = []
    lim = RateLimiter(requests_per_s=1.0, clock=lambda: 0.0, sleep=waits.append)
    client = make_client(fake, tmp_path, limiter=lim)
    client.score([req("p"), req("q")])  # 4 HTTP calls (echo: one per label) against a bucket of 1
    assert waits == [pytest.approx(3.0)]


def test_key_never_in_identity_repr_ledger_or_errors(fake, tmp_path):
    client = make_client(fake, tmp_path)
    client.score([req("z")], worker=0)
    with pytest.raises(LLMConfigError) as info:
        client.score([req("x [fault:400:1]")])
    texts = [json.dumps(client.backend.identity()), repr(client.backend), str(info.value),
             (tmp_path / "ledger.jsonl").read_text()]
    assert all(SECRET not in t for t in texts)
    assert SECRET.encode() not in (tmp_path / "c.sqlite").read_bytes()


def test_identity_covers_mode_and_sampling(fake):
    a = OpenAICompatibleBackend(fake.url, "fake-model").identity()
    b = OpenAICompatibleBackend(fake.url, "fake-model", echo=False, top_logprobs=5).identity()
    c = OpenAICompatibleBackend(fake.url, "fake-model", echo=False, top_logprobs=20).identity()
    d = OpenAICompatibleBackend(fake.url, "fake-model", mode="text").identity()
    e = OpenAICompatibleBackend(fake.url + "/v1/", "fake-model").identity()
    assert len({json.dumps(x, sort_keys=True) for x in (a, b, c, d)}) == 4
    assert a == e and a["base_url"] == fake.url + "/v1" and a["server_model"] == "fake-model"


def test_config_validation_names_the_field():
    for override, field in [("llm.mode=logits", "llm.mode"), ("llm.max_requests=0", "llm.max_requests"),
                            ("llm.timeout_s=-1", "llm.timeout_s"), ("llm.top_logprobs=50", "llm.top_logprobs"),
                            ("llm.base_url=ftp://x", "llm.base_url"), ("llm.api_key_env=sk-abc", "llm.api_key_env"),
                            ("llm.retry_jitter=2", "llm.retry_jitter"), ("llm.worker_max_cost=-3", "llm.worker_max_cost")]:
        with pytest.raises(ConfigError, match=re.escape(field)):
            build_config(overrides=[override])
    cfg = build_config(overrides=["llm.backend=openai", "llm.max_cost=2.5", "llm.requests_per_s=3"])
    assert cfg.llm.max_cost == 2.5


def test_estimate_calls():
    est = estimate_calls(worker_steps=4, samples_per_step=2, batch_size=2, evaluations=2, eval_examples=3,
                         final_test_examples=6, http_calls_per_request=2, prompt_tokens_per_request=100,
                         completion_tokens_per_call=1, prompt_price_per_1k=0.5, completion_price_per_1k=1.0)
    assert est["train_requests"] == 16 and est["eval_requests"] == 12 and est["backend_calls"] == 56
    assert est["cost"] == pytest.approx((5600 * 0.5 + 56 * 1.0) / 1000)
