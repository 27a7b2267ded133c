"""One bad file costs that file, never the ingest (issue 41): text is made valid where every
loader's output passes, and a file that the chunker or the embedder fails on is reported by name
while the others are indexed. The loaders are fuzzed with mutated real files of every format."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag_app.ingest.document import LoadError
from rag_app.ingest.encoding import valid_text
from rag_app.ingest.loaders import load_bytes
from rag_app.ingest.ocr import OcrPage, PageReader
from rag_app.service.app import App

import format_files
from broken_files import docx_bytes, pdf_bytes
from conftest import make_settings
from fakes import FakeEmbedder

# Tika's test RTF writes Gothic letters as UTF-16 surrogate pairs in signed 16-bit escapes.
GOTHIC_RTF = (rb"{\rtf1\ansi\deff0{\fonttbl{\f0 Times;}}\f0 Gothic \u-10240?\u-8398? letters, and a lone"
              rb" \u-10240? half. The filing deadline is the third of March.\par}")


class TokenizerLikeEmbedder(FakeEmbedder):
    """Refuses what the real tokenizer refuses (text that is not valid UTF-8), and anything
    holding ``poison`` (standing for a bug met on one file's text)."""

    def __init__(self, poison: str = "\x00never") -> None:
        self.poison = poison

    def _check(self, text: str) -> None:
        text.encode("utf-8")  # UnicodeEncodeError on a lone surrogate, as the tokenizer's TypeError
        if self.poison in text:
            raise TypeError("TextEncodeInput must be Union[TextInputSequence, Tuple[InputSequence, InputSequence]]")

    def count_tokens(self, text: str) -> int:
        self._check(text)
        return super().count_tokens(text)

    def encode(self, texts: Sequence[str], progress: object = None) -> np.ndarray:
        for text in texts:
            self._check(text)
        return super().encode(texts)


def test_valid_text_joins_surrogate_pairs_and_replaces_lone_ones() -> None:
    assert valid_text("a \ud800\udf32 b") == "a \U00010332 b"
    assert valid_text("lone \ud800 and \udf32 and \uffff") == "lone \ufffd and \ufffd and \ufffd"
    assert valid_text("déjà vu 𐌲") == "déjà vu 𐌲"


def test_an_rtf_with_surrogate_escapes_is_read_and_indexed(tmp_path: Path) -> None:
    document = load_bytes(Path("gothic.rtf"), GOTHIC_RTF)
    text = document.sections[0].text
    assert "Gothic \U00010332 letters" in text and "lone \ufffd half" in text
    data = tmp_path / "data"
    data.mkdir()
    (data / "gothic.rtf").write_bytes(GOTHIC_RTF)
    (data / "notes.md").write_text("# Notes\n\nThe filing deadline moved to April.\n", encoding="utf-8")
    with App(make_settings(data, tmp_path / "index"), create=True, embedder=TokenizerLikeEmbedder()) as app:
        report = app.ingest()
        assert (report.added, report.failed) == (2, [])
        assert app.search("filing deadline third of March", k=1)[0].path == "gothic.rtf"


@pytest.mark.parametrize("step", ["chunk", "embed"])
def test_a_file_the_chunker_or_embedder_fails_on_is_reported_and_the_others_indexed(tmp_path: Path, step: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for i in range(5):
        (data / f"good-{i}.md").write_text(f"# Note {i}\n\nHerons nest in colony number {i}.\n", encoding="utf-8")
    (data / "odd.md").write_text("# Odd\n\nThis text holds POISON for the tokenizer.\n", encoding="utf-8")
    embedder = TokenizerLikeEmbedder("POISON")
    if step == "embed":  # the chunker counts tokens without the check: only encode fails
        embedder.count_tokens = FakeEmbedder.count_tokens.__get__(embedder)  # type: ignore[method-assign]
    with App(make_settings(data, tmp_path / "index"), create=True, embedder=embedder) as app:
        report = app.ingest()
        assert report.added == 5
        assert [f.path for f in report.failed] == ["odd.md"]
        assert "TypeError" in report.failed[0].reason
        assert sorted(d.path for d in app.store.documents()) == [f"good-{i}.md" for i in range(5)]
        again = app.ingest()  # the failure is remembered: not read again while the file is unchanged
        assert (again.added, again.unchanged, [f.path for f in again.failed]) == (0, 5, ["odd.md"])


class NoOcr(PageReader):
    """Page images give no text (the fuzzing is about the parsers, not Tesseract's speed)."""

    def read(self, image: object) -> OcrPage:
        return OcrPage("")


SEEDS: dict[str, bytes] = {
    ".pdf": pdf_bytes(["The harbour opens at six.", "Boats leave at nine."]),
    ".docx": docx_bytes(),
    ".pptx": format_files.pptx_bytes(),
    ".xlsx": format_files.xlsx_bytes(),
    ".csv": format_files.csv_bytes(),
    ".eml": format_files.eml_bytes(),
    ".epub": format_files.epub_bytes(),
    ".odt": format_files.odt_bytes(),
    ".ods": format_files.ods_bytes(),
    ".odp": format_files.odp_bytes(),
    ".rtf": GOTHIC_RTF,
    ".msg": format_files.msg_bytes(),
    ".xls": format_files.xls_bytes(),
    ".html": "<html><body><p>Le café <b>ouvre</b> à sept heures.</p></body></html>".encode(),
    ".md": "# Titre\n\nLe café ouvre à sept heures.\n".encode(),
}


@st.composite
def mutated_files(draw: st.DrawFn) -> tuple[str, bytes]:
    """A real file of some format, truncated, bit-flipped, spliced with random bytes, or given
    the extension of another format."""
    suffix = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[suffix])
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["truncate", "flip", "splice", "extension"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "truncate":
            del data[at:]
        elif kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "splice":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        else:
            suffix = draw(st.sampled_from(sorted(SEEDS)))
    return suffix, bytes(data)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(mutated_files())
def test_fuzzed_files_are_read_or_refused_with_a_reason_never_a_crash(case: tuple[str, bytes]) -> None:
    suffix, data = case
    try:
        document = load_bytes(Path(f"fuzzed{suffix}"), data, ocr=NoOcr())
    except LoadError as exc:
        assert exc.reason
        return
    for section in document.sections:
        section.text.encode("utf-8")
        section.heading.encode("utf-8")
    for key, value in document.metadata.items():
        (key + value).encode("utf-8")


@pytest.mark.parametrize("step", ["chunk", "embed"])
def test_a_step_that_fails_on_every_file_stops_the_ingest_and_keeps_the_index(tmp_path: Path, step: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        (data / f"note-{i}.md").write_text(f"# Note {i}\n\nHerons nest in colony {i}.\n", encoding="utf-8")
    settings = make_settings(data, tmp_path / "index")
    with App(settings, create=True, embedder=FakeEmbedder()) as app:
        assert app.ingest().added == 3
    for i in range(3):  # every file changed, and the model is broken: not the files' fault
        (data / f"note-{i}.md").write_text(f"# Note {i}\n\nEgrets nest in colony {i}.\n", encoding="utf-8")
    broken = TokenizerLikeEmbedder(poison="")  # "" is in every text
    if step == "embed":
        broken.count_tokens = FakeEmbedder.count_tokens.__get__(broken)  # type: ignore[method-assign]
    with App(settings, embedder=broken) as app, pytest.raises(TypeError):
        app.ingest()
    with App(settings, embedder=FakeEmbedder()) as app:
        assert len(app.store.documents()) == 3 and app.search("herons nest", k=1)[0].path.startswith("note-")
