"""Soak (`make bench-soak`): a team on one server for half an hour, with an ingest and a rebuild in
the middle (issue 41).

    python -m benchmarks.bench_soak [CORPUS_DIR] [--users 8] [--minutes 30] [--plot docs/soak.png]

A fresh index of the corpus (default: the demo corpus) is served by `rag-app serve` in a
subprocess (`bench_api.start_server`). ``--users`` users each loop without pause: ask one of the
demo questions (non-streamed, temperature 0), search, and now and then upload a small file and
delete it again. At a third of the run 20 files are added to the data folder and `rag-app ingest`
runs beside the server; at two thirds, `rag-app ingest --rebuild`. Every 10 s the server's resident
memory, open file descriptors and threads are sampled. Reported: requests by status (429 is the
server saying "busy", anything else of 400+ is an error), answers different from the same
question asked alone before the run, latency, memory growth over the last two thirds of the run
(after the model and the caches are warm), the spread of open files there, and a plot.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from benchmarks.bench_api import ROOT, _cli, _env, ask, rss_mb, start_server
from benchmarks.bench_typing import QUESTIONS, percentiles

SAMPLE_S = 10


def open_files(pid: int) -> int:
    """How many file descriptors process ``pid`` holds."""
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def threads(pid: int) -> int:
    """How many threads process ``pid`` runs."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def search(url: str, query: str) -> int:
    """The status of one search."""
    return httpx.post(url + "v1/search", json={"query": query, "top_k": 5}, timeout=600).status_code


def upload_and_delete(url: str, user: int, n: int) -> list[int]:
    """Upload a small note into the default collection, then delete it: the two statuses."""
    name = f"soak-{user}-{n}.md"
    text = f"# Soak note {user}-{n}\n\nUser {user} wrote note {n} at {time.time():.0f}.\n"
    documents = url + "v1/collections/default/documents"
    put = httpx.post(documents, files={"file": (name, text.encode(), "text/markdown")}, timeout=900)
    gone = httpx.delete(f"{documents}/{name}", timeout=900)
    return [put.status_code, gone.status_code]


def run(url: str, pid: int, root: Path, data: Path, users: int, seconds: float) -> dict[str, Any]:
    """The soak of the module docstring; returns its figures and samples."""
    alone = {q: ask(url, q)[1] for q in QUESTIONS}
    started = time.monotonic()
    stop = started + seconds
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    different: list[str] = []
    lock = threading.Lock()

    def user(number: int) -> None:
        rng = random.Random(number)
        n = 0
        while time.monotonic() < stop:
            n += 1
            roll = rng.random()
            try:
                if roll < 0.7:
                    question = rng.choice(QUESTIONS)
                    status, text, took = ask(url, question)
                    with lock:
                        statuses[status] += 1
                        if status == 200:
                            latencies.append(took)
                            if text != alone[question]:
                                different.append(question)
                elif roll < 0.92:
                    status = search(url, rng.choice(QUESTIONS))
                    with lock:
                        statuses[status] += 1
                else:
                    for status in upload_and_delete(url, number, n):
                        with lock:
                            statuses[status] += 1
            except httpx.HTTPError as exc:  # the server did not answer at all
                with lock:
                    statuses[-1] += 1
                print(f"user {number}: {type(exc).__name__}: {exc}", flush=True)

    events: list[tuple[float, str]] = []

    def maintenance() -> None:
        time.sleep(seconds / 3)
        for i in range(20):
            (data / f"added-{i:02d}.md").write_text(f"# Added {i}\n\nA note added during the soak, number {i}.\n",
                                                    encoding="utf-8")
        events.append((time.monotonic() - started, "ingest"))
        subprocess.run(_cli(root, "ingest", "--data-dir", str(data), "--wait"), env=_env(root), cwd=root,
                       capture_output=True, check=False)
        time.sleep(max(0.0, started + 2 * seconds / 3 - time.monotonic()))
        events.append((time.monotonic() - started, "rebuild"))
        subprocess.run(_cli(root, "ingest", "--data-dir", str(data), "--rebuild", "--wait"), env=_env(root),
                       cwd=root, capture_output=True, check=False)

    workers = [threading.Thread(target=user, args=(i,)) for i in range(users)] + [threading.Thread(target=maintenance)]
    for worker in workers:
        worker.start()
    samples: list[dict[str, float]] = []
    while any(w.is_alive() for w in workers[:users]):
        samples.append({"t": round(time.monotonic() - started, 1), "rss_mb": rss_mb(pid), "open_files": open_files(pid),
                        "threads": threads(pid)})
        time.sleep(SAMPLE_S)
    for worker in workers:
        worker.join()
    warm = [s for s in samples if s["t"] >= seconds / 3] or samples
    errors = {str(code): count for code, count in statuses.items() if code >= 400 and code != 429 or code < 0}
    return {
        "users": users, "minutes": round(seconds / 60, 1), "requests": sum(statuses.values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items())}, "errors": errors,
        "answers": len(latencies), "different_from_alone": len(different), "latency_s": percentiles(latencies),
        "rss_mb": {"start": round(samples[0]["rss_mb"]), "warm_start": round(warm[0]["rss_mb"]),
                   "end": round(samples[-1]["rss_mb"]), "max": round(max(s["rss_mb"] for s in samples))},
        "memory_growth_warm": round((warm[-1]["rss_mb"] - warm[0]["rss_mb"]) / warm[0]["rss_mb"], 4),
        "open_files_warm": {"min": min(s["open_files"] for s in warm), "max": max(s["open_files"] for s in warm)},
        "events": events, "samples": samples,
    }


def plot(result: dict[str, Any], path: Path, cpu: str) -> None:
    """Memory, open files and threads over the run, the ingest and the rebuild marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result["samples"]
    minutes = [s["t"] / 60 for s in samples]
    figure, (memory, files) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    memory.plot(minutes, [s["rss_mb"] for s in samples], color="tab:blue")
    memory.set_ylabel("server memory (MB)")
    files.plot(minutes, [s["open_files"] for s in samples], color="tab:green", label="open files")
    files.plot(minutes, [s["threads"] for s in samples], color="tab:orange", label="threads")
    files.set_ylabel("count")
    files.set_xlabel("minutes")
    files.legend(loc="upper left")
    for axis in (memory, files):
        for at, name in result["events"]:
            axis.axvline(at / 60, color="grey", linestyle="--", linewidth=1)
            axis.text(at / 60, axis.get_ylim()[1], f" {name}", va="top", fontsize=8, color="grey")
    figure.suptitle(f"Soak: {result['users']} users, {result['minutes']} min, {result['requests']} requests, "
                    f"{sum(result['errors'].values())} errors ({cpu})", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", nargs="?", type=Path, default=ROOT / "data")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--plot", type=Path, help="write the PNG of memory and open files over time")
    parser.add_argument("--json", type=Path, help="write the figures and samples there")
    args = parser.parse_args()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "CPU")
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        root = Path(tmp)
        data = root / "data"
        shutil.copytree(args.corpus, data)
        process, url = start_server(root, data)
        try:
            result = run(url, process.pid, root, data, args.users, args.minutes * 60)
        finally:
            process.terminate()
            process.wait(timeout=60)
    summary = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    if args.plot:
        plot(result, args.plot, cpu)
    ok = not result["errors"] and result["memory_growth_warm"] <= 0.03
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
