"""Shared fixtures: the real bundled embedder and an index of the demo corpus, built once.

Every test outside tests/unit is marked ``slow`` here (it loads a real model, a browser or a
subprocess); tests/unit is the fast tier (`make test-fast`). No test reads the settings file or
the ``RAG_APP_*`` variables of the machine running it: a test that needs one sets it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic_settings import SettingsConfigDict

from rag_app.config import Settings
from rag_app.embedding import Embedder, open_embedder
from rag_app.store import IndexStore

ROOT = Path(__file__).resolve().parent.parent
DEMO_DATA = ROOT / "data"
MODELS = ROOT / "models"  # where `make install` builds the default embedder and puts the model
UNIT = ROOT / "tests" / "unit"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test outside tests/unit as slow."""
    for item in items:
        if UNIT not in Path(item.path).parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def isolated_from_the_users_settings(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No rag_app.toml and no RAG_APP_* variable of the machine reach a test (subprocesses included)."""
    for key in [k for k in os.environ if k.startswith("RAG_APP_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("RAG_APP_CONFIG", str(tmp_path_factory.getbasetemp() / "no-rag_app.toml"))
    monkeypatch.setenv("RAG_APP_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The default embedder (multilingual-e5-small, as `make install` built it), loaded once."""
    return open_embedder("", MODELS)


class IsolatedSettings(Settings):
    """Settings from the arguments and the defaults only: no rag_app.toml, no RAG_APP_* variable."""

    model_config = SettingsConfigDict(**{**Settings.model_config, "toml_file": None})

    @classmethod
    def settings_customise_sources(  # noqa: ANN206
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings  # noqa: ANN001
    ):
        return (init_settings,)


# Three small documents the fast tests over fake models ask about, and a reply they support.
DOCUMENTS = {
    "herons.md": "# Herons\n\nGrey herons hunt fish in shallow water. Herons nest in colonies called heronries.\n",
    "storks.md": "# Storks\n\nWhite storks nest on church towers. Storks migrate to Africa in winter.\n",
    "pasta.md": "# Pasta\n\nCook the pasta in salted boiling water for ten minutes, then drain it.\n",
}
SUPPORTED = "White storks nest on church towers [1]."


def folder(tmp_path: Path) -> Path:
    """``tmp_path``/data holding the three small `DOCUMENTS` (herons, storks, pasta)."""
    data = tmp_path / "data"
    data.mkdir()
    for name, text in DOCUMENTS.items():
        (data / name).write_text(text, encoding="utf-8")
    return data


def make_settings(data_dir: Path, index_dir: Path, **extra: object) -> Settings:
    """Settings for a test corpus, ignoring any rag_app.toml or RAG_APP_* of the machine."""
    parent = Path(index_dir).parent
    defaults = {"models_dir": MODELS, "cache_dir": parent / "cache", "collections_dir": parent / "collections",
                "keys_file": parent / "api-keys.json"}
    return IsolatedSettings(data_dir=data_dir, index_dir=index_dir, **{**defaults, **extra})


@pytest.fixture
def demo_copy(tmp_path: Path) -> Path:
    """A private copy of the demo corpus that a test may change."""
    target = tmp_path / "data"
    shutil.copytree(DEMO_DATA, target)
    return target


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Settings:
    """Settings of an index of the demo corpus, ingested once per run (treat as read-only)."""
    from rag_app.ingest.pipeline import ingest

    root = tmp_path_factory.mktemp("demo")
    data = root / "data"
    shutil.copytree(DEMO_DATA, data)
    settings = make_settings(data, root / "index")
    ingest(settings, embedder=embedder)
    return settings


def assert_consistent(index_dir: Path) -> int:
    """Vector search ids == SQLite chunk ids == FTS5 rows; returns the chunk count."""
    with IndexStore.open(index_dir, create=False) as store:
        chunk_ids = store.chunk_ids()
        assert store.vector_ids().tolist() == chunk_ids
        assert store.fts_count() == len(chunk_ids)
        return len(chunk_ids)


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Milvus on 127.0.0.1 for the whole run: the core that milvus-lite embeds, serving its
    gRPC port (so several processes share it, as they would a Milvus standalone)."""
    from milvus_lite.server import Server
    from pymilvus import MilvusClient

    port = free_port()
    server = Server(str(tmp_path_factory.mktemp("milvus") / "tests.db"), address=f"127.0.0.1:{port}")
    assert server.init() and server.start(), "milvus-lite did not start"
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            MilvusClient(uri=uri, timeout=5).close()
            break
        except Exception:  # not listening yet
            if time.monotonic() > deadline:
                server.stop()
                raise
            time.sleep(0.3)
    yield uri
    server.stop()


START_TIMEOUT_S = 240
CHROMIUM = os.environ.get("RAG_APP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def write_bulk_files(data: Path, count: int) -> None:
    """``count`` text files of four paragraphs in a new folder ``data``: an ingest of several
    batches (at ``ingest_batch_chunks = 6``), long enough to be killed in the middle."""
    data.mkdir()
    for i in range(count):
        body = "\n\n".join(f"File {i} paragraph {j}: words about subject {i * 100 + j}." * 4 for j in range(4))
        (data / f"bulk{i:02d}.txt").write_text(body, encoding="utf-8")


def kill_after_commits(proc: subprocess.Popen[str], chunks: int = 12) -> None:
    """SIGKILL an ingest subprocess that prints "committed N" once N chunks are committed, as
    soon as ``chunks`` are (a test failure if it ends first)."""
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("committed") and int(line.split()[1]) >= chunks:
            break
    else:
        pytest.fail("the ingest subprocess ended before it was killed")
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_process(root: Path, data: Path, index: Path,
                  host: str = "127.0.0.1") -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`rag-app serve` in a subprocess on a free port of ``host`` over ``data`` and ``index``, run
    in ``root`` (its collections/ and api-keys.json are there), with the default models and no
    settings of this machine; yields its loopback URL (ending in "/") and the process, once it
    answers."""
    port = free_port()
    env = dict(os.environ, RAG_APP_CONFIG=str(root / "no-config.toml"))
    env = {k: v for k, v in env.items() if not k.startswith("RAG_APP_") or k == "RAG_APP_CONFIG"}
    env["RAG_APP_MODELS_DIR"] = str(ROOT / "models")  # the default model `make install` put there
    env["RAG_APP_CACHE_DIR"] = str(root / "cache")  # where it tells the command line it runs
    log = open(root / "serve.log", "wb")  # noqa: SIM115 - the server writes to it until the end
    process = subprocess.Popen(
        [sys.executable, "-m", "rag_app.cli", "serve", "--host", host, "--port", str(port),
         "--index-dir", str(index), "--data-dir", str(data)],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"rag-app serve exited: {(root / 'serve.log').read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("rag-app serve did not answer in time")
            time.sleep(1)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium, driven by Playwright; never a downloaded one."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"No Chromium at {CHROMIUM}: run `make browser` (apt-get install chromium).")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()
