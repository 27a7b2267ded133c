"""API benchmark (`make bench-api`): the command line through a running server, then a bounded load.

    python -m benchmarks.bench_api [CORPUS_DIR] [--clients 8] [--seconds 120] [--asks 3] [--json]

A fresh index of the corpus (default: the demo corpus in data/) is served by `rag-app serve`
in a subprocess on a free loopback port (its own cache folder, no settings of this machine).

1. **ask**: the same question "What is GGUF?" asked, in turn and ``--asks`` times each, of
   - the server's API, streamed (what the chat page sees: its first token is the page's),
   - `rag-app ask` with the server running (the command finds it and streams from it),
   - `rag-app ask --local` (a new process loading PyTorch and the models, as before).
   For each: time to the first token of the reply and wall time, medians. Target (issue 26):
   the command's first token within 0.5 s of the API's.
2. **load**: ``--clients`` clients ask the demo questions (`bench_typing.QUESTIONS`) without a
   pause for ``--seconds``, non-streamed, temperature 0 (the model's seed is fixed). Before, each
   question is asked alone once; every answer under load must be the same. Reported: errors by
   status (only 429 is allowed), answers different from the one asked alone, latency p50/p95,
   the queue wait (latency under load minus the same question's latency alone) p50/p95/max, and
   the server's resident memory at start, at the end and at most (sampled every 2 s).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from benchmarks.bench_typing import QUESTIONS, _free_port, percentiles

ROOT = Path(__file__).resolve().parent.parent
ASKED = "What is GGUF?"


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_APP_")}
    env.update(RAG_APP_CONFIG=str(root / "no-config.toml"), RAG_APP_CACHE_DIR=str(root / "cache"),
               RAG_APP_MODELS_DIR=str(ROOT / "models"))
    return env


def _cli(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "rag_app.cli", *args, "--index-dir", str(root / "index")]


def start_server(root: Path, data: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`rag-app serve` over ``data`` (indexed first), once it answers: the process and its URL."""
    subprocess.run(_cli(root, "ingest", "--data-dir", str(data)), env=_env(root), cwd=root, check=True,
                   capture_output=True)
    port = _free_port()
    log = open(root / "serve.log", "wb")  # noqa: SIM115 - written by the server until it stops
    process = subprocess.Popen(_cli(root, "serve", "--port", str(port), "--data-dir", str(data)), env=_env(root),
                               cwd=root, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(300):
        try:
            if httpx.get(url + "v1/models", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            break
        time.sleep(1)
    process.kill()
    raise SystemExit("rag-app serve did not start: " + (root / "serve.log").read_text(errors="replace"))


def api_first_token(url: str, question: str) -> tuple[float, float]:
    """(first reply token, done) in seconds, for ``question`` streamed from the API."""
    started = time.perf_counter()
    first = None
    body = {"model": "rag_app/default", "stream": True, "messages": [{"role": "user", "content": question}]}
    with httpx.stream("POST", url + "v1/chat/completions", json=body, timeout=600) as response:
        for line in response.iter_lines():
            if first is None and line.startswith("data: {") and '"content": "' in line and '"content": ""' not in line:
                first = time.perf_counter() - started
    return (first if first is not None else float("nan")), time.perf_counter() - started


def cli_first_token(root: Path, question: str, *flags: str) -> tuple[float, float]:
    """(first reply token, done) in seconds, for `rag-app ask` as a new process."""
    started = time.perf_counter()
    process = subprocess.Popen(_cli(root, "ask", question, *flags), env=_env(root), cwd=root,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    first = None
    for line in process.stdout:  # the line after "Model reply (being checked):" starts the reply
        if first is None and b"Model reply" in line:
            process.stdout.read(1)
            first = time.perf_counter() - started
    process.wait()
    return (first if first is not None else float("nan")), time.perf_counter() - started


def rss_mb(pid: int) -> float:
    """The resident memory of process ``pid``, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ask(url: str, question: str) -> tuple[int, str, float]:
    """(status, answer text, seconds) of one non-streamed question."""
    started = time.perf_counter()
    body = {"model": "rag_app/default", "temperature": 0, "messages": [{"role": "user", "content": question}]}
    response = httpx.post(url + "v1/chat/completions", json=body, timeout=900)
    text = response.json()["choices"][0]["message"]["content"] if response.status_code == 200 else ""
    return response.status_code, text, time.perf_counter() - started


def load(url: str, pid: int, clients: int, seconds: float) -> dict[str, Any]:
    """The load run of the module docstring."""
    alone = {q: ask(url, q) for q in QUESTIONS}
    stop = time.monotonic() + seconds
    results: list[tuple[str, int, str, float]] = []
    memory: list[float] = [rss_mb(pid)]
    lock = threading.Lock()

    def client(offset: int) -> None:
        n = offset
        while time.monotonic() < stop:
            question = QUESTIONS[n % len(QUESTIONS)]
            n += 1
            status, text, seconds_taken = ask(url, question)
            with lock:
                results.append((question, status, text, seconds_taken))
            if status == 429:
                time.sleep(1)

    threads = [threading.Thread(target=client, args=(i * 3,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        memory.append(rss_mb(pid))
        time.sleep(2)
    memory.append(rss_mb(pid))
    answered = [r for r in results if r[1] == 200]
    waits = [r[3] - alone[r[0]][2] for r in answered]
    return {
        "clients": clients, "seconds": seconds, "answers": len(answered),
        "errors": dict(Counter(r[1] for r in results if r[1] != 200)),
        "different_from_alone": sum(1 for r in answered if r[2] != alone[r[0]][1]),
        "latency_s": percentiles([r[3] for r in answered]),
        "queue_wait_s": {**percentiles(waits), "max": round(max(waits), 2) if waits else None},
        "alone_s": percentiles([a[2] for a in alone.values()]),
        "rss_mb": {"start": round(memory[0]), "end": round(memory[-1]), "max": round(max(memory))},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", nargs="?", type=Path, default=ROOT / "data")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--asks", type=int, default=3)
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-api-"))
    data = root / "data"
    shutil.copytree(args.corpus, data)
    process, url = start_server(root, data)
    report: dict[str, Any] = {}
    try:
        api_first_token(url, ASKED)  # the model loaded and warm, as a served page's would be
        runs: dict[str, list[tuple[float, float]]] = {"api": [], "ask": [], "ask --local": []}
        for _ in range(args.asks):
            runs["api"].append(api_first_token(url, ASKED))
            runs["ask"].append(cli_first_token(root, ASKED))
            runs["ask --local"].append(cli_first_token(root, ASKED, "--local"))
        report["ask"] = {name: {"first_token_s": round(statistics.median(r[0] for r in rows), 2),
                                "wall_s": round(statistics.median(r[1] for r in rows), 2)}
                         for name, rows in runs.items()}
        if not args.skip_load:
            report["load"] = load(url, process.pid, args.clients, args.seconds)
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{'':14}{'first token':>12}{'wall':>8}")
    for name, row in report["ask"].items():
        print(f"{name:14}{row['first_token_s']:>11.2f}s{row['wall_s']:>7.2f}s")
    if "load" in report:
        print(json.dumps(report["load"], indent=2))


if __name__ == "__main__":
    main()
