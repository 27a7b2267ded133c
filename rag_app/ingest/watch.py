"""Keep the index in step with the data folder: ingest again whenever files change.

File events come from the operating system through watchfiles (inotify on Linux; it polls where
there are no events, e.g. some network folders). Events are debounced: a burst of changes (a
folder copied in, an editor saving twice) gives one ingest once the folder has been quiet for
``debounce_ms``. Each ingest is the ordinary incremental one, so only what changed is read and
embedded, and it takes the index's writer lock (waiting for a manual ``rag-app ingest``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rag_app.config import Settings
from rag_app.embedding import Embedder, embedder_from_settings
from rag_app.ingest.pipeline import IngestError, ingest
from rag_app.ingest.report import IngestReport
from rag_app.store import IndexUnavailableError

log = logging.getLogger(__name__)

DEBOUNCE_MS = 2000


@dataclass
class WatchEvent:
    """One pass of the watcher: the ingest it ran, or why it could not run."""

    report: IngestReport | None = None
    error: str = ""
    changed: list[str] = field(default_factory=list)  # paths relative to the data folder


def watch(
    settings: Settings,
    on_event: Callable[[WatchEvent], None],
    *,
    stop: threading.Event | None = None,
    embedder: Embedder | None = None,
    debounce_ms: int = DEBOUNCE_MS,
) -> None:
    """Ingest ``settings.paths.data_dir`` now, then after every (debounced) change, until ``stop`` is set.

    ``on_event`` receives each outcome; an ingest that fails (the folder vanished, the index
    needs a rebuild) is reported through it and the watch goes on. Raises `IngestError` if
    the data folder does not exist when the watch starts.
    """
    from watchfiles import watch as file_changes

    data_dir = Path(settings.paths.data_dir)
    if not data_dir.is_dir():
        raise IngestError(f"Data folder not found: {data_dir}. Create it, or pass --data-dir.")
    embedder = embedder or embedder_from_settings(settings)
    first = True
    # The first ingest runs at the watcher's first yield, once it is listening: a file saved
    # while that ingest runs is not missed. Later empty yields are timeouts: nothing to do.
    for changes in file_changes(data_dir, watch_filter=_visible(data_dir), debounce=debounce_ms,
                                stop_event=stop, raise_interrupt=False, yield_on_timeout=True,
                                rust_timeout=debounce_ms):
        if not changes and not first:
            continue
        first = False
        changed = sorted({Path(path).relative_to(data_dir).as_posix() for _, path in changes})
        if changed:
            log.info("Changed in %s: %s", data_dir, ", ".join(changed))
        on_event(_ingest(settings, embedder, changed))


def _ingest(settings: Settings, embedder: Embedder, changed: list[str]) -> WatchEvent:
    try:
        return WatchEvent(report=ingest(settings, embedder=embedder, wait=True), changed=changed)
    except (IngestError, IndexUnavailableError) as exc:
        log.warning("Could not update the index: %s", exc)
        return WatchEvent(error=str(exc), changed=changed)


def _visible(data_dir: Path) -> Callable[[object, str], bool]:
    """Ignore hidden files and folders (as ingestion does)."""

    def keep(_change: object, path: str) -> bool:
        try:
            parts = Path(path).relative_to(data_dir).parts
        except ValueError:
            return False
        return not any(part.startswith(".") for part in parts)

    return keep
