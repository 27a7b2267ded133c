"""What the integrity checks cost on a large index (`make bench-check`; issue 41).

    python -m benchmarks.bench_check INDEX_DIR [--mb 500]

Copies the index in INDEX_DIR to a temporary folder and grows it to about ``--mb`` megabytes by
repeating its documents, chunks (each copy's text changed) and vectors, then times the quick
check (what every open runs), the full check, and an open with and without the quick check, the
file in the page cache; as root, also an open after the page cache is dropped (a cold disk).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

from rag_app.store import IndexStore
from rag_app.store.schema import DB_NAME


def grow(index: Path, megabytes: float) -> int:
    """Repeat the rows of ``index`` until its file holds ``megabytes``; returns the chunk count."""
    conn = sqlite3.connect(index / DB_NAME, isolation_level=None)
    first_documents = conn.execute("SELECT max(id) FROM documents").fetchone()[0]
    first_chunks = conn.execute("SELECT max(id) FROM chunks").fetchone()[0]
    copy = 0
    while (index / DB_NAME).stat().st_size < megabytes * 1e6:
        copy += 1
        conn.execute("BEGIN")
        offset = conn.execute("SELECT max(id) FROM documents").fetchone()[0]
        conn.execute("INSERT INTO documents(id, path, content_hash, size, mtime, title, metadata, ingested_at) "
                     "SELECT id + ?, path || ?, content_hash, size, mtime, title, metadata, ingested_at "
                     "FROM documents WHERE id <= ?", (offset, f" (copy {copy})", first_documents))
        for row in conn.execute("SELECT id, document_id, ordinal, text, text_hash, page, heading, char_start, "
                                "char_end FROM chunks WHERE id <= ?", (first_chunks,)).fetchall():
            added = conn.execute(
                "INSERT INTO chunks(document_id, ordinal, text, text_hash, page, heading, char_start, char_end) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (row[1] + offset, row[2], f"{row[3]} (copy {copy})", row[4], row[5], row[6], row[7], row[8]))
            conn.execute("INSERT INTO vectors(id, embedding) SELECT ?, embedding FROM vectors WHERE id = ?",
                         (added.lastrowid, row[0]))
        conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    chunks = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    conn.close()
    return int(chunks)


def timed_open(index: Path, verify: bool) -> float:
    started = time.perf_counter()
    with IndexStore.open(index, verify=verify):
        pass
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", type=Path)
    parser.add_argument("--mb", type=float, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="check-") as tmp:
        index = Path(tmp) / "index"
        shutil.copytree(args.index, index)
        chunks = grow(index, args.mb)
        size = (index / DB_NAME).stat().st_size / 1e6
        print(f"index: {size:.0f} MB, {chunks} chunks")
        with IndexStore.open(index, verify=False) as store:
            for label, full in (("quick", False), ("full", True)):
                report = store.check(full=full, vectors=False)
                print(f"{label} check: {report.seconds:.2f} s (whole: {report.ok})")
        print(f"open with the quick check: {timed_open(index, True):.2f} s; without: {timed_open(index, False):.2f} s")
        if os.geteuid() == 0:
            subprocess.run(["sync"], check=True)
            Path("/proc/sys/vm/drop_caches").write_text("3\n")
            print(f"open with the quick check, page cache dropped: {timed_open(index, True):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
