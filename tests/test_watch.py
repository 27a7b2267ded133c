"""`rag-app watch` and `serve --watch`: the index follows the data folder."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

from rag_app.embedding import Embedder
from rag_app.ingest.watch import WatchEvent, watch

from conftest import make_settings


def test_new_changed_and_deleted_files_are_ingested_after_a_quiet_moment(tmp_path: Path, embedder: Embedder) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "first.md").write_text("# First\n\nThe first note talks about herons.\n", encoding="utf-8")
    settings = make_settings(data, tmp_path / "index")
    events: queue.Queue[WatchEvent] = queue.Queue()
    stop = threading.Event()
    watcher = threading.Thread(target=watch, args=(settings, events.put),
                               kwargs={"stop": stop, "embedder": embedder, "debounce_ms": 500})
    watcher.start()
    try:
        initial = events.get(timeout=120)
        assert initial.report is not None and initial.report.added == 1 and initial.changed == []

        # A burst of writes (a file saved three times, another one added) gives one ingest.
        for text in ("storks", "cranes", "egrets"):
            (data / "second.md").write_text(f"# Second\n\nA note about {text}.\n", encoding="utf-8")
        (data / ".hidden.md").write_text("ignored", encoding="utf-8")
        burst = events.get(timeout=120)
        assert burst.report is not None and burst.report.added == 1 and burst.changed == ["second.md"]

        (data / "first.md").unlink()
        removal = events.get(timeout=120)
        assert removal.report is not None and removal.report.removed == 1
        assert removal.report.chunks_total > 0 and events.empty()
    finally:
        stop.set()
        watcher.join(timeout=30)
    assert not watcher.is_alive()
