"""Throughput of the HTTP backend against a local ``llama_cpp.server``, and the cache-hit speedup.

Starts ``python -m llama_cpp.server`` with the default embedded model (n_threads 2) on a free
loopback port, scores the same tiny classification prompts through ``OpenAICompatibleBackend`` with
1, 4 and 8 requests in flight (first-token mode; echo mode once, for its cost), then scores them again
through an ``LLMClient`` whose cache already holds them. Writes ``bench/results/llm_client.json``.

llama-cpp-python's server runs one model behind a lock: requests are served one at a time, so on
this machine concurrency can only hide HTTP and JSON latency, not add compute.

Run: ``python bench/llm_client.py [--requests 16]``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import RESULTS, machine_info  # noqa: E402

SENTENCES = ["a moving, beautiful film", "dull and lifeless", "an utter delight", "boring beyond belief",
             "it is fine, I guess", "the worst film of the year", "sharp and funny", "a tedious mess"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    """Run the benchmark and write the result file."""
    import httpx

    from asyndbt.llm import LLMClient, OpenAICompatibleBackend, ScoreCache, ScoreRequest, resolve_model

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=16, help="score requests per concurrency level")
    args = ap.parse_args()

    prefix = 'Review: "a moving, beautiful film"\nSentiment: Great\n\nReview: "dull and lifeless"\nSentiment: Terrible\n\n'
    reqs = [ScoreRequest(prefix, f'Review: "{SENTENCES[i % len(SENTENCES)]} ({i})"\nSentiment:', (" Great", " Terrible"))
            for i in range(args.requests)]
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(resolve_model(None)), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", "512", "--n_threads", "2", "--n_threads_batch", "2"]
    load_before = _load()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cells: dict[str, object] = {}
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("llama_cpp.server did not start")
            time.sleep(0.3)
        warm = OpenAICompatibleBackend(url, None, echo=False, top_logprobs=5, max_concurrency=1)
        warm.score(reqs[:2])  # load pages, fill the server's prefix cache
        warm.close()
        for conc in (1, 4, 8):
            be = OpenAICompatibleBackend(url, None, echo=False, top_logprobs=5, max_concurrency=conc)
            t0 = time.perf_counter()
            out = be.score(reqs)
            dt = time.perf_counter() - t0
            be.close()
            cells[f"first-token/concurrency={conc}"] = {
                "requests": len(reqs), "seconds": round(dt, 3), "prompts_per_s": round(len(reqs) / dt, 3),
                "prompt_tokens_mean": round(sum(s.prompt_tokens for s in out) / len(out), 1),
                "load_after": _load(),
            }
            print(f"concurrency {conc}: {len(reqs) / dt:.2f} prompts/s", flush=True)
        be = OpenAICompatibleBackend(url, None, echo=True, max_concurrency=1, timeout=300.0)
        n_echo = 1
        t0 = time.perf_counter()
        be.score(reqs[:n_echo])
        dt = time.perf_counter() - t0
        be.close()
        cells["echo/concurrency=1"] = {"requests": n_echo, "seconds": round(dt, 3),
                                       "prompts_per_s": round(n_echo / dt, 3), "load_after": _load()}
        print(f"echo: {n_echo / dt:.3f} prompts/s", flush=True)

        be = OpenAICompatibleBackend(url, None, echo=False, top_logprobs=5, max_concurrency=4)
        client = LLMClient(be, cache=ScoreCache())
        t0 = time.perf_counter()
        client.score(reqs)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(5):
            client.score(reqs)
        hot = (time.perf_counter() - t0) / 5
        be.close()
        cells["cache"] = {"requests": len(reqs), "miss_seconds": round(cold, 4), "hit_seconds": round(hot, 6),
                          "speedup": round(cold / hot, 1), "backend_attempts": client.ledger.totals()["backend_attempts"]}
        print(f"cache: {cold:.3f} s cold, {hot * 1e3:.2f} ms hot ({cold / hot:.0f}x)", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    load_after = _load()
    note = ("llama_cpp.server serves one request at a time (one model behind a lock); with 2 cores, "
            "concurrency only hides HTTP/JSON latency. First-token mode: one call per prompt, max_tokens=1, "
            "top_logprobs=5. Echo mode ranks the full 262k-token vocabulary in Python per echoed token on "
            "the server, hence its cost.")
    if max(load_before[0], load_after[0]) > 1.5:
        note += (f" Machine was busy (another benchmark running): load average {load_before} before, "
                 f"{load_after} after; numbers are pessimistic.")
    result = {"meta": {**machine_info(), "server": "llama_cpp.server", "model": resolve_model(None).name,
                       "server_threads": 2, "n_ctx": 512, "load_before": load_before, "load_after": load_after,
                       "note": note},
              "cells": cells}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "llm_client.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {RESULTS / 'llm_client.json'}")


if __name__ == "__main__":
    main()
