"""The HTTP backend: label scores from any OpenAI-compatible server (llama.cpp, vLLM, hosted APIs).

Scoring modes (``mode``):

``completions-logprobs`` with ``echo=True`` (exact)
    For each label, ``/completions`` gets ``prompt + label`` with ``echo=true``, ``logprobs=0``,
    ``max_tokens=1`` and ``temperature=0``; the server returns the log-probability of every prompt
    token. The label's score is the sum over the tokens that lie inside the label's characters
    (found with ``text_offset``), i.e. ``log p(label tokens | prompt)`` for multi-token labels too.
    ``max_tokens=1`` and not 0: llama-cpp-python reads 0 as "unlimited", so one token is generated
    and ignored. One call per label. If the server tokenises the prompt's last characters and the
    label's first ones into one token, that token is counted with the label (it is conditioned on
    slightly less context than the embedded backend's; rare with labels that start with a space).
    llama-cpp-python's server builds a full-vocabulary ranking in Python for every echoed token, so
    this mode costs about 0.3-0.5 s per prompt token with a 262k vocabulary (Gemma) on one core.

``completions-logprobs`` with ``echo=False`` (approximate: first token only)
    One ``/completions`` call per request with ``max_tokens=1`` and ``logprobs=top_logprobs``. Each
    label gets the log-probability of its *first* token, read from the top alternatives of the first
    generated token: the longest alternative that is a prefix of the label (case and surrounding
    spaces ignored as a second try). A label whose first token is not among the alternatives gets
    an upper bound: the smaller of the lowest listed log-probability and the log of the probability
    mass left over by the listed ones. Multi-token labels that share a first token get equal
    scores. Use when the server has no ``echo`` (most hosted completion APIs).

``chat-logprobs`` (approximate: first token only)
    The same first-token rule through ``/chat/completions`` with ``logprobs=true`` and
    ``top_logprobs``; the prompt is sent as one user message.

``text`` / ``chat-text`` (no log-probabilities)
    Greedy answer (``temperature=0``, ``max_tokens=text_max_tokens``) from ``/completions`` or
    ``/chat/completions``, parsed to a label: the longest label whose stripped, lower-cased text
    starts the stripped, lower-cased answer. The scores are the log of a smoothed one-hot,
    ``p = eps/K + (1 - eps) * [label matched]``, so the loss is ``-log(1 - eps + eps/K)`` when right
    and ``-log(eps/K)`` when wrong; an unparsable answer gives the uniform distribution. This is what
    the paper did with qwen-max, which returns no log-probabilities.

Failures are translated where they enter (httpx's split between network and status errors):
timeouts -> :class:`~asyndbt.errors.LLMTimeout`; connection failures and 5xx ->
:class:`~asyndbt.errors.LLMServerError`; 429 -> :class:`~asyndbt.errors.LLMRateLimited` with
``retry_after`` from ``Retry-After``; other 4xx -> :class:`~asyndbt.errors.LLMConfigError` with the
server's message; unparsable bodies -> :class:`~asyndbt.errors.LLMBadResponse`.

The API key is sent only in the ``Authorization`` header; it is not an attribute that ``repr``,
``identity()``, the ledger or any error message ever shows.
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from asyndbt.errors import LLMBadResponse, LLMConfigError, LLMError, LLMRateLimited, LLMServerError, LLMTimeout
from asyndbt.llm._types import LabelScores, ScoreRequest

MODES = ("completions-logprobs", "chat-logprobs", "text", "chat-text")
SCORING_VERSION = "openai-compatible/v1"
API_KEY_ENV = ("ASYNDBT_API_KEY", "OPENAI_API_KEY")
BASE_URL_ENV = ("ASYNDBT_BASE_URL", "OPENAI_BASE_URL")


def normalise_base_url(url: str) -> str:
    """``http://host:port`` -> ``http://host:port/v1``; a URL with a path is kept (minus a trailing ``/``)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise LLMConfigError(
            f"llm.base_url={url!r} is not an http(s) URL; use e.g. http://127.0.0.1:8000/v1",
            backend="openai",
        )
    path = parts.path.rstrip("/")
    if not path:
        path = "/v1"
    return f"{parts.scheme}://{parts.netloc}{path}"


def api_key_from_env(names: Sequence[str] = API_KEY_ENV) -> str | None:
    """The first non-empty API key among the environment variables ``names``."""
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), or None."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class OpenAICompatibleBackend:
    """Score label continuations through an OpenAI-compatible HTTP API (implements ``Backend``).

    Args:
        base_url: API root, e.g. ``http://127.0.0.1:8000/v1`` (``/v1`` is added to a bare host).
        model: model name sent with each request; None asks the server (``GET /models``) and uses the
            first model it lists.
        api_key: bearer token; None reads ``ASYNDBT_API_KEY`` then ``OPENAI_API_KEY``. Never logged.
        mode: ``completions-logprobs``, ``chat-logprobs``, ``text`` or ``chat-text`` (module doc).
        echo: in ``completions-logprobs``, score whole labels from echoed prompt log-probabilities
            (exact); False uses the first generated token's top alternatives (approximate).
        top_logprobs: alternatives requested in the first-token modes (OpenAI allows up to 5 for
            completions and 20 for chat).
        text_max_tokens: tokens generated in the text modes.
        text_smoothing: ``eps`` of the smoothed one-hot in the text modes, in (0, 1).
        timeout: seconds for every request (connect, read, write and pool).
        client: an ``httpx.Client`` to use (for custom transports or proxies); one is created otherwise.
        max_concurrency: HTTP calls in flight at once (a bounded thread pool); results keep request order.

    Example:
        >>> be = OpenAICompatibleBackend("http://127.0.0.1:8000", "local")  # doctest: +SKIP
        >>> be.score([ScoreRequest("", "Is water wet? Answer:", (" Yes", " No"))])[0].probs  # doctest: +SKIP
    """

    kind = "openai"

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        mode: str = "completions-logprobs",
        echo: bool = True,
        top_logprobs: int = 5,
        text_max_tokens: int = 8,
        text_smoothing: float = 0.05,
        timeout: float = 30.0,
        client: Any | None = None,
        max_concurrency: int = 4,
    ) -> None:
        if mode not in MODES:
            raise LLMConfigError(f"llm.mode={mode!r} is unknown; use one of {', '.join(MODES)}", backend=self.kind)
        if timeout <= 0:
            raise LLMConfigError(f"llm.timeout_s={timeout} must be > 0", backend=self.kind)
        if max_concurrency < 1:
            raise LLMConfigError(f"llm.max_concurrency={max_concurrency} must be >= 1", backend=self.kind)
        if not 1 <= top_logprobs <= 20:
            raise LLMConfigError(f"llm.top_logprobs={top_logprobs} must be between 1 and 20", backend=self.kind)
        if not 0.0 < text_smoothing < 1.0:
            raise LLMConfigError(f"llm.text_smoothing={text_smoothing} must be in (0, 1)", backend=self.kind)
        if text_max_tokens < 1:
            raise LLMConfigError(f"llm.text_max_tokens={text_max_tokens} must be >= 1", backend=self.kind)
        import httpx  # lazy: `import asyndbt` must not import the HTTP stack

        self._httpx = httpx
        self.base_url = normalise_base_url(base_url)
        self.mode = mode
        self.echo = bool(echo)
        self.top_logprobs = int(top_logprobs)
        self.text_max_tokens = int(text_max_tokens)
        self.text_smoothing = float(text_smoothing)
        self.timeout = float(timeout)
        self.max_concurrency = int(max_concurrency)
        key = api_key if api_key is not None else api_key_from_env()
        self._headers = {"Content-Type": "application/json"}
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self._own_client = client is None
        self._client = client if client is not None else httpx.Client(timeout=self.timeout)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._requested_model = model
        self._server_models: list[str] | None = None
        self.model = model if model is not None else self._first_server_model()
        self._identity: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"OpenAICompatibleBackend(base_url={self.base_url!r}, model={self.model!r}, mode={self.mode!r})"

    # -- identity ------------------------------------------------------------------------------------

    def server_models(self) -> list[str] | None:
        """Model ids the server lists at ``GET /models`` (None if it does not answer)."""
        if self._server_models is None:
            try:
                body = self._request("GET", "/models", None)
                self._server_models = [str(m["id"]) for m in body.get("data", []) if isinstance(m, dict) and "id" in m]
            except LLMError:
                return None
        return list(self._server_models)

    def _first_server_model(self) -> str:
        models = self.server_models()
        if not models:
            raise LLMConfigError(
                f"no model given and {self.base_url}/models lists none; set llm.model to the served model name",
                backend=self.kind,
            )
        return models[0]

    def identity(self) -> dict[str, Any]:
        """Everything that determines the scores: endpoint, model, server model, mode and sampling settings.

        The server-reported model matters because llama.cpp's server answers with the one model it
        loaded whatever name is requested: two servers behind the same URL with different weights
        get different cache entries. When ``GET /models`` fails it is recorded as None.
        """
        if self._identity is None:
            listed = self.server_models()
            if listed is None:
                server_model = None
            elif self.model in listed:
                server_model = self.model
            elif len(listed) == 1:
                server_model = listed[0]
            else:
                server_model = sorted(listed)
            ident: dict[str, Any] = {
                "kind": self.kind,
                "scoring": SCORING_VERSION,
                "base_url": self.base_url,
                "model": self.model,
                "server_model": server_model,
                "mode": self.mode,
                "temperature": 0.0,
            }
            if self.mode == "completions-logprobs":
                ident["echo"] = self.echo
                ident["max_tokens"] = 1
                if not self.echo:
                    ident["top_logprobs"] = self.top_logprobs
            elif self.mode == "chat-logprobs":
                ident["max_tokens"] = 1
                ident["top_logprobs"] = self.top_logprobs
            else:
                ident["max_tokens"] = self.text_max_tokens
                ident["text_smoothing"] = self.text_smoothing
            self._identity = ident
        return dict(self._identity)

    # -- HTTP ----------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        """One HTTP call with errors translated into the LLMError tree."""
        httpx = self._httpx
        url = self.base_url + path
        try:
            if method == "GET":
                resp = self._client.get(url, headers=self._headers, timeout=self.timeout)
            else:
                resp = self._client.post(url, headers=self._headers, json=payload, timeout=self.timeout)
        except httpx.TimeoutException as exc:
            raise LLMTimeout(
                f"{method} {url} timed out after {self.timeout} s; raise llm.timeout_s or lower llm.max_concurrency",
                backend=self.kind, model=self._requested_model,
            ) from exc
        except httpx.TransportError as exc:
            raise LLMServerError(
                f"{method} {url} failed ({type(exc).__name__}: {exc}); check that the server is running and "
                "llm.base_url is right",
                backend=self.kind, model=self._requested_model,
            ) from exc
        status = resp.status_code
        if status >= 400:
            detail = self._error_detail(resp)
            kw: dict[str, Any] = {"backend": self.kind, "model": self._requested_model, "status": status}
            if status == 429:
                retry_after = _parse_retry_after(resp.headers.get("Retry-After"))
                raise LLMRateLimited(
                    f"{url} rate-limited the request (HTTP 429, Retry-After={retry_after}): {detail}; "
                    "lower llm.requests_per_s / llm.tokens_per_min or llm.max_concurrency",
                    retry_after=retry_after, **kw,
                )
            if status >= 500:
                raise LLMServerError(f"{url} failed on the server side (HTTP {status}): {detail}", **kw)
            hint = "check the API key environment variable (ASYNDBT_API_KEY / OPENAI_API_KEY)" if status in (401, 403) \
                else "check llm.model, llm.mode and llm.echo against what the server supports"
            raise LLMConfigError(f"{url} rejected the request (HTTP {status}): {detail}; {hint}", **kw)
        try:
            body = resp.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
            raise LLMBadResponse(
                f"{url} answered HTTP {status} with a body that is not JSON: {resp.text[:200]!r}",
                backend=self.kind, model=self._requested_model, status=status,
            ) from exc
        if not isinstance(body, dict):
            raise LLMBadResponse(
                f"{url} answered with JSON that is not an object: {str(body)[:200]!r}",
                backend=self.kind, model=self._requested_model, status=status,
            )
        return body

    @staticmethod
    def _error_detail(resp: Any) -> str:
        try:
            body = resp.json()
        except ValueError:
            return resp.text[:300] or "(empty body)"
        if isinstance(body, dict):
            err = body.get("error", body.get("detail", body))
            if isinstance(err, dict):
                return str(err.get("message", err))[:300]
            return str(err)[:300]
        return str(body)[:300]

    def _bad(self, what: str, body: Any) -> LLMBadResponse:
        return LLMBadResponse(
            f"{self.base_url} answer has {what}: {json.dumps(body)[:300]}; the server may not support "
            f"llm.mode={self.mode!r}" + (" with llm.echo=true (try llm.echo=false)" if self.echo else ""),
            backend=self.kind, model=self.model,
        )

    # -- sizes (for budgets and rate limits, before anything is sent) --------------------------------

    def calls_for(self, req: ScoreRequest) -> int:
        """HTTP calls one request takes: one per label with echo, else one."""
        return len(req.labels) if (self.mode == "completions-logprobs" and self.echo) else 1

    def estimate_tokens(self, req: ScoreRequest) -> int:
        """Billed tokens of one request (see :func:`estimate_request_tokens`)."""
        return estimate_request_tokens(req, mode=self.mode, echo=self.echo, text_max_tokens=self.text_max_tokens)

    # -- scoring -------------------------------------------------------------------------------------

    def score(self, requests: Sequence[ScoreRequest]) -> list[LabelScores]:
        """Score a batch of requests (concurrently); results come back in request order.

        Raises:
            LLMError: the first failed request's error (see :meth:`score_partial` for per-request results).
        """
        out = self.score_partial(requests)
        for item in out:
            if isinstance(item, LLMError):
                raise item
        return out  # type: ignore[return-value]

    def score_partial(self, requests: Sequence[ScoreRequest]) -> list[LabelScores | LLMError]:
        """Score a batch; each slot holds the request's scores or the error it failed with.

        The client uses this to retry only the requests that failed, so a successful answer is never
        paid for twice.
        """
        if not requests:
            return []
        for req in requests:
            if not req.labels or any(not lab for lab in req.labels):
                raise LLMConfigError(f"request has empty label words {req.labels!r}; use non-empty labels",
                                     backend=self.kind, model=self.model)
        if len(requests) == 1 or self.max_concurrency == 1:
            return [self._score_one_safe(r) for r in requests]
        pool = self._executor()
        return list(pool.map(self._score_one_safe, requests))

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="asyndbt-http")
            return self._pool

    def _score_one_safe(self, req: ScoreRequest) -> LabelScores | LLMError:
        try:
            return self._score_one(req)
        except LLMError as exc:
            return exc

    def _score_one(self, req: ScoreRequest) -> LabelScores:
        if self.mode == "completions-logprobs" and self.echo:
            return self._score_echo(req)
        if self.mode in ("completions-logprobs", "chat-logprobs"):
            return self._score_first_token(req)
        return self._score_text(req)

    def _completion_payload(self, prompt: str, **extra: Any) -> dict[str, Any]:
        return {"model": self.model, "prompt": prompt, "temperature": 0.0, **extra}

    def _chat_payload(self, prompt: str, **extra: Any) -> dict[str, Any]:
        return {"model": self.model, "messages": [{"role": "user", "content": prompt}], "temperature": 0.0, **extra}

    @staticmethod
    def _usage(body: dict[str, Any]) -> tuple[int, int]:
        usage = body.get("usage") or {}
        try:
            return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        except (TypeError, ValueError):
            return 0, 0

    def _choice(self, body: dict[str, Any]) -> dict[str, Any]:
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise self._bad("no choices", body)
        return choices[0]

    def _score_echo(self, req: ScoreRequest) -> LabelScores:
        prompt = req.prompt
        seq: list[float] = []
        label_tokens: list[int] = []
        evaluated = completion = 0
        prompt_tokens = 0
        for label in req.labels:
            body = self._request("POST", "/completions",
                                 self._completion_payload(prompt + label, max_tokens=1, echo=True, logprobs=0))
            lp = self._choice(body).get("logprobs")
            if not isinstance(lp, dict):
                raise self._bad("no logprobs", body)
            offsets, values = lp.get("text_offset"), lp.get("token_logprobs")
            if not isinstance(offsets, list) or not isinstance(values, list) or len(offsets) != len(values):
                raise self._bad("no echoed text_offset/token_logprobs", body)
            start, end = len(prompt), len(prompt) + len(label)
            total, n = 0.0, 0
            for i, (off, val) in enumerate(zip(offsets, values, strict=True)):
                tok_end = offsets[i + 1] if i + 1 < len(offsets) else math.inf
                # tokens overlapping the label's characters [start, end)
                if off < end and tok_end > start:
                    if val is None:
                        raise self._bad("a null log-probability inside the label (prompt not echoed?)", body)
                    total += float(val)
                    n += 1
            if n == 0:
                raise self._bad(f"no echoed token inside the label {label!r}", body)
            seq.append(total)
            label_tokens.append(n)
            p_tok, c_tok = self._usage(body)
            evaluated += p_tok
            completion += c_tok
            if not prompt_tokens and p_tok:
                prompt_tokens = max(0, p_tok - n)
        return LabelScores(seq_logprobs=tuple(seq), prompt_tokens=prompt_tokens, prefix_tokens=0,
                           label_tokens=tuple(label_tokens), evaluated_tokens=evaluated,
                           completion_tokens=completion)

    def _top_alternatives(self, body: dict[str, Any]) -> dict[str, float]:
        choice = self._choice(body)
        lp = choice.get("logprobs")
        if not isinstance(lp, dict):
            raise self._bad("no logprobs", body)
        if self.mode == "chat-logprobs":
            content = lp.get("content")
            if not isinstance(content, list):
                raise self._bad("no logprobs.content", body)
            if not content:  # the model stopped at once (EOS): nothing to read
                return {}
            tops = content[0].get("top_logprobs") or []
            out = {}
            for t in tops:
                if isinstance(t, dict) and "token" in t and "logprob" in t:
                    out[str(t["token"])] = max(out.get(str(t["token"]), -math.inf), float(t["logprob"]))
            return out
        tops = lp.get("top_logprobs")
        if not isinstance(tops, list):
            raise self._bad("no top_logprobs", body)
        if not tops or tops[0] is None:
            return {}
        if not isinstance(tops[0], dict):
            raise self._bad("malformed top_logprobs", body)
        return {str(k): float(v) for k, v in tops[0].items()}

    def _score_first_token(self, req: ScoreRequest) -> LabelScores:
        if self.mode == "chat-logprobs":
            payload = self._chat_payload(req.prompt, max_tokens=1, logprobs=True, top_logprobs=self.top_logprobs)
            body = self._request("POST", "/chat/completions", payload)
        else:
            payload = self._completion_payload(req.prompt, max_tokens=1, logprobs=self.top_logprobs)
            body = self._request("POST", "/completions", payload)
        alts = self._top_alternatives(body)
        seq = tuple(first_token_logprob(label, alts) for label in req.labels)
        p_tok, c_tok = self._usage(body)
        return LabelScores(seq_logprobs=seq, prompt_tokens=p_tok, prefix_tokens=0, label_tokens=(),
                           evaluated_tokens=p_tok, completion_tokens=c_tok)

    def _score_text(self, req: ScoreRequest) -> LabelScores:
        if self.mode == "chat-text":
            body = self._request("POST", "/chat/completions",
                                 self._chat_payload(req.prompt, max_tokens=self.text_max_tokens))
            msg = self._choice(body).get("message")
            text = msg.get("content") if isinstance(msg, dict) else None
        else:
            body = self._request("POST", "/completions",
                                 self._completion_payload(req.prompt, max_tokens=self.text_max_tokens))
            text = self._choice(body).get("text")
        if not isinstance(text, str) and text is not None:
            raise self._bad("no text", body)
        seq = smoothed_one_hot(parse_label(text or "", req.labels), len(req.labels), self.text_smoothing)
        p_tok, c_tok = self._usage(body)
        return LabelScores(seq_logprobs=seq, prompt_tokens=p_tok, prefix_tokens=0, label_tokens=(),
                           evaluated_tokens=p_tok, completion_tokens=c_tok)

    def close(self) -> None:
        """Shut down the thread pool and the HTTP client (if this backend created it)."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
        if self._own_client:
            self._client.close()


def estimate_request_tokens(req: ScoreRequest, *, mode: str, echo: bool, text_max_tokens: int) -> int:
    """Billed tokens of one request, estimated without a tokenizer (~3 characters per token, rounded up).

    English BPE text runs at about 4 characters per token, so this overestimates on purpose: budgets
    are checked against it before the request is sent, and ``--dry-run`` prices a run with it. With
    ``completions-logprobs`` and echo, each label is its own call carrying the whole prompt.
    """
    prompt = math.ceil(len(req.prompt) / 3)
    if mode == "completions-logprobs" and echo:
        return sum(prompt + math.ceil(len(lab) / 3) + 1 for lab in req.labels)
    completion = 1 if mode in ("completions-logprobs", "chat-logprobs") else text_max_tokens
    return prompt + completion + (8 if mode.startswith("chat") else 0)  # + chat template


def first_token_logprob(label: str, alternatives: dict[str, float]) -> float:
    """Log-probability of ``label``'s first token read from the top alternatives of one position.

    The longest alternative that is a non-blank prefix of the label wins; failing that, the same
    test with case and surrounding whitespace ignored. A label with no match gets an upper bound on
    its probability: the smaller of the lowest listed log-probability and the log of the mass the
    listed alternatives leave over.

    Example:
        >>> first_token_logprob(" Great", {" Great": -0.1, " G": -3.0, " Terrible": -2.5})
        -0.1
        >>> round(first_token_logprob(" Awful", {" Great": -0.1, " Terrible": -2.5}), 3)  # log(leftover mass)
        -4.337
    """
    best: tuple[int, float] | None = None
    for tok, lp in alternatives.items():
        if tok.strip() and label.startswith(tok) and (best is None or len(tok) > best[0]):
            best = (len(tok), lp)
    if best is None:
        norm = label.strip().lower()
        for tok, lp in alternatives.items():
            t = tok.strip().lower()
            if t and norm.startswith(t) and (best is None or len(t) > best[0]):
                best = (len(t), lp)
    if best is not None:
        return best[1]
    if not alternatives:
        return math.log(1e-6)
    listed = list(alternatives.values())
    leftover = 1.0 - sum(math.exp(x) for x in listed)
    return min(min(listed), math.log(max(leftover, 1e-12)))


def parse_label(text: str, labels: Sequence[str]) -> int | None:
    """Index of the longest label whose stripped, lower-cased text starts the answer, or None.

    Example:
        >>> parse_label(" great, really", (" Terrible", " Great"))
        1
        >>> parse_label("I cannot say", (" Terrible", " Great")) is None
        True
    """
    answer = text.strip().lower().lstrip("\"'*:- ")
    best: tuple[int, int] | None = None
    for i, lab in enumerate(labels):
        norm = lab.strip().lower()
        if norm and answer.startswith(norm) and (best is None or len(norm) > best[0]):
            best = (len(norm), i)
    return None if best is None else best[1]


def smoothed_one_hot(index: int | None, k: int, eps: float) -> tuple[float, ...]:
    """Log of ``eps/k + (1 - eps) * onehot(index)``; uniform when ``index`` is None.

    Example:
        >>> [round(x, 4) for x in smoothed_one_hot(1, 2, 0.1)]
        [-2.9957, -0.0513]
    """
    if index is None:
        return tuple([-math.log(k)] * k)
    return tuple(math.log(eps / k + (1.0 - eps) * (i == index)) for i in range(k))
