"""Fuzzed ingest (`make bench-fuzz-ingest`): a real folder plus damaged copies of its files, through
the real `rag-app ingest`; nothing may take the ingest down (issue 41).

    python -m benchmarks.fuzz_ingest [../shared/formats-corpus] [--fuzzed 200] [--seed 0]

Copies the corpus's files and writes ``--fuzzed`` mutated copies beside them (each a real file
truncated, bit-flipped, spliced with random bytes or renamed to another format's extension;
seeded), then runs `rag-app ingest --json` on the folder with the configured models. Checks: the
exit code is 0 (1 only with --strict), no traceback, every file of the corpus that ingests alone
is indexed, and every file is either indexed or reported by name with a reason. Prints the counts
and the first reasons of each kind.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

NOT_DOCUMENTS = {"MANIFEST.json", "README.md"}


def mutate(data: bytes, suffixes: list[str], rng: random.Random) -> tuple[bytes, str]:
    """``data`` damaged one to three ways, and the extension to give it ("" to keep its own)."""
    out = bytearray(data)
    suffix = ""
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["truncate", "flip", "splice", "extension"])
        at = rng.randrange(max(len(out), 1))
        if kind == "truncate":
            del out[at:]
        elif kind == "flip" and out:
            for _ in range(rng.randint(1, 16)):
                out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        elif kind == "splice":
            out[at:at] = rng.randbytes(rng.randint(1, 256))
        else:
            suffix = rng.choice(suffixes)
    return bytes(out), suffix


def make_folder(corpus: Path, target: Path, fuzzed: int, seed: int) -> list[str]:
    """Copy the corpus's documents into ``target`` with ``fuzzed`` mutated copies; returns the
    names of the originals."""
    rng = random.Random(seed)
    originals = sorted(p for p in corpus.iterdir() if p.is_file() and p.name not in NOT_DOCUMENTS)
    suffixes = sorted({p.suffix for p in originals})
    target.mkdir(parents=True)
    for path in originals:
        shutil.copy2(path, target / path.name)
    for i in range(fuzzed):
        source = originals[i % len(originals)]
        data, suffix = mutate(source.read_bytes(), suffixes, rng)
        (target / f"fuzzed-{i:03d}-{source.stem}{suffix or source.suffix}").write_bytes(data)
    return [p.name for p in originals]


def ingest(data: Path, index: Path, *extra: str) -> tuple[int, dict, str]:
    """Run the real CLI: (exit code, its --json report, its stderr)."""
    done = subprocess.run([sys.executable, "-m", "rag_app.cli", "ingest", "--data-dir", str(data),
                           "--index-dir", str(index), "--json", *extra], capture_output=True, text=True)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        report = {}
    return done.returncode, report, done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, nargs="?", default=Path("../shared/formats-corpus"))
    parser.add_argument("--fuzzed", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fuzz-ingest-") as tmp:
        root = Path(tmp)
        alone = root / "alone"
        originals = make_folder(args.corpus, alone, 0, args.seed)
        _, alone_report, _ = ingest(alone, root / "alone-index")
        good = set(originals) - {f["path"] for f in alone_report.get("failed", [])}
        folder = root / "data"
        make_folder(args.corpus, folder, args.fuzzed, args.seed)
        code, report, stderr = ingest(folder, root / "index")
        strict_code, _, _ = ingest(folder, root / "index", "--strict")
        failed = {f["path"]: f["reason"] for f in report.get("failed", [])}
        files = sorted(p.name for p in folder.iterdir())
        indexed = report.get("added", 0)
        unaccounted = len(files) - indexed - len(failed) - len(report.get("skipped", []))
        lost_good = sorted(good & set(failed))
        reasons = Counter(reason.split(" (")[0].split(":")[0] for reason in failed.values())
    print(f"files: {len(files)} ({len(originals)} originals, {args.fuzzed} fuzzed, seed {args.seed})")
    print(f"exit code {code} (with --strict: {strict_code}); traceback: {'Traceback' in stderr}")
    print(f"indexed {indexed}, reported {len(failed)}, skipped {len(report.get('skipped', []))}, "
          f"unaccounted {unaccounted}")
    print(f"originals that ingest alone: {len(good)}; of them not indexed here: {lost_good or 'none'}")
    for reason, count in reasons.most_common(12):
        print(f"  {count:4d}  {reason}")
    ok = code == 0 and strict_code == 1 and "Traceback" not in stderr and not lost_good and unaccounted == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
