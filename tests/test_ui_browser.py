"""The chat page end to end in headless Chromium (Debian's package, driven by Playwright).

`rag-app serve` runs in a subprocess on a free port over a private copy of the demo corpus.
Screenshots of each state go to test-artifacts/. No browser is ever downloaded: Playwright is
pointed at /usr/bin/chromium (install it with `make browser` or `apt-get install chromium`).
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import DEMO_DATA, ROOT, make_settings, serve_process
from demo_facts import DEMO_FACTS, NOT_IN_CORPUS_EN
from scans import page_image, scanned_pdf

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "test-artifacts"
ANSWER_TIMEOUT_MS = 300_000
FACT = next(f for f in DEMO_FACTS if f.file == "how_llms_work.pdf" and f.page == 2)
UPLOAD_NAME = "zorblax_reactor.md"
UPLOAD_TEXT = (
    "# The Zorblax reactor\n\n"
    "The Zorblax reactor on the moon Quenta produces exactly 7,431 megawatts of electric power.\n"
    "The Zorblax reactor was designed by the engineer Mirela Vantosh.\n"
)
UPLOAD_QUESTION = "How many megawatts of electric power does the Zorblax reactor on Quenta produce?"


SCAN_NAME = "compte-rendu-scanne.pdf"  # a scanned page (no text layer) beside the demo corpus


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    index_dir: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[Server]:
    """`rag-app serve` over a fresh index of a copy of the demo corpus and a scanned page."""
    from rag_app.ingest.pipeline import ingest

    root = tmp_path_factory.mktemp("ui")
    data, index = root / "data", root / "index"
    shutil.copytree(DEMO_DATA, data)
    (data / SCAN_NAME).write_bytes(scanned_pdf(page_image()))
    ingest(make_settings(data, index), embedder=embedder)
    with serve_process(root, data, index) as (url, process):
        yield Server(url, process, data, index)


@pytest.fixture
def page(browser, server: Server):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_selector("#question textarea")
    page.wait_for_selector("#index-status strong")  # the index status has loaded
    yield page
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def ask(page, question: str, *, expect_stream: bool = False) -> None:
    """Type a question, send it and wait until its final message (with timings) is shown."""
    before = page.locator("#chat .rag-timings").count()
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    if expect_stream:  # tokens appear before the answer is verified
        page.wait_for_function(
            "() => [...document.querySelectorAll('#chat .rag-streaming')]"
            ".some(e => e.innerText.replace('▌', '').trim().length > 0)",
            timeout=ANSWER_TIMEOUT_MS, polling=50,
        )
    page.wait_for_function(
        f"() => document.querySelectorAll('#chat .rag-timings').length > {before}",
        timeout=ANSWER_TIMEOUT_MS,
    )


def last_answer(page):
    return page.locator("#chat .rag-timings").last.locator("xpath=..")


def test_answer_streams_and_cites_the_right_file(page) -> None:
    status = page.inner_text("#index-status")
    assert "9 documents" in status and "multilingual-e5-small" in status
    ask(page, FACT.question, expect_stream=True)
    shot(page, "1-answer")
    answer = last_answer(page)
    heads = answer.locator(".rag-source-head").all_inner_texts()
    assert any(FACT.file in h and f"page {FACT.page}" in h for h in heads), heads
    # A right answer leads with a plain verdict; how sure the checks are is in the details.
    assert answer.locator(".rag-verdict.checked").inner_text() == "✓ Checked against the passages"
    assert "chance of being right" in answer.locator(".rag-confidence").text_content()
    assert answer.locator(".rag-source mark").count() >= 1  # the supporting sentence is highlighted
    assert page.locator("#chat .rag-refusal").count() == 0

    # A follow-up that only makes sense after the first question is answered from the same file.
    ask(page, "And how many layers?")
    shot(page, "1b-follow-up")
    assert page.locator("#chat .rag-refusal").count() == 0
    assert any(FACT.file in h for h in last_answer(page).locator(".rag-source-head").all_inner_texts())


# Notes, in the page's clock, when the new message first lists the passages found and when it
# first shows answer text, and whether answer text was ever shown without the passages beside it.
WATCH_ORDER = """() => {
  const t = window.__order = {textAlone: false};
  const seen = () => {
    const now = performance.now();
    const found = [...document.querySelectorAll('#chat .rag-sources-title')]
      .some(e => e.innerText.startsWith('Found in your documents'));
    const text = [...document.querySelectorAll('#chat .rag-streaming')]
      .some(e => e.innerText.replace('▌', '').trim().length > 0);
    if (found && !t.sources) t.sources = now;
    if (text && !t.text) t.text = now;
    if (text && !found && !t.sources) t.textAlone = true;
  };
  new MutationObserver(seen).observe(document.querySelector('#chat'),
                                     {subtree: true, childList: true, characterData: true});
}"""


def test_the_passages_found_show_before_the_first_answer_word(page) -> None:
    fact = next(f for f in DEMO_FACTS if f.question != FACT.question)
    page.evaluate(WATCH_ORDER)
    ask(page, fact.question, expect_stream=True)
    order = page.evaluate("() => window.__order")
    shot(page, "1c-sources-first")
    assert order.get("sources") and order.get("text"), order
    assert order["sources"] < order["text"] and not order["textAlone"], order


def source_frame(page):
    """The source panel's frame, once a page has loaded in it."""
    page.wait_for_function("() => { const f = document.getElementById('rag-source-frame');"
                           " return f && f.contentDocument && f.contentDocument.getElementById('where'); }",
                           timeout=30_000)
    return page.frame_locator("#rag-source-frame")


def test_a_citation_opens_its_pdf_page_highlighted_and_the_pages_can_be_turned(page) -> None:
    ask(page, FACT.question)
    answer = last_answer(page)
    item = answer.locator(".rag-source", has_text=f"page {FACT.page}").filter(has_text=FACT.file).first
    item.locator("a.rag-open").click()
    frame = source_frame(page)
    where = frame.locator("#where")
    where.wait_for()
    assert FACT.file in where.inner_text() and f"page {FACT.page} of 5" in where.inner_text()
    image = frame.locator("#page-image")
    assert image.get_attribute("data-page") == str(FACT.page)
    assert image.get_attribute("data-highlighted") == "true"  # the passage was found on the page
    image.evaluate("img => img.complete || new Promise(done => img.onload = done)")
    assert image.evaluate("img => img.naturalWidth") > 500
    assert frame.locator(".passage-text").count() == 1
    shot(page, "1c-source-pdf")

    frame.locator("nav a.next").click()
    frame.locator(f"#page-image[data-page='{FACT.page + 1}']").wait_for()
    assert f"page {FACT.page + 1} of 5" in frame.locator("#where").inner_text()
    assert frame.locator(".passage-text").count() == 0  # no passage on this page
    frame.locator("nav a.back").click()
    frame.locator(f"#page-image[data-page='{FACT.page}']").wait_for()
    assert frame.locator("nav a.file").get_attribute("href").startswith("/rag/file/how_llms_work.pdf")


def test_a_scanned_page_shows_its_ocr_passage_highlighted_on_the_page_image(page, server: Server) -> None:
    from rag_app.store import IndexStore

    with IndexStore.open(server.index_dir, create=False) as store:
        (chunk,) = store.document_chunks(SCAN_NAME)
    page.goto(f"{server.url}rag/source/{chunk.id}")
    where = page.locator("#where")
    assert SCAN_NAME in where.inner_text() and "page 1 of 1" in where.inner_text()
    image = page.locator("#page-image")
    assert image.get_attribute("data-highlighted") == "true"  # located on the words OCR read
    image.evaluate("img => img.complete || new Promise(done => img.onload = done)")
    assert image.evaluate("img => img.naturalWidth") > 500
    shot(page, "1d-source-scanned-pdf")


def test_a_markdown_source_opens_in_its_section_with_the_passage_marked(page) -> None:
    fact = next(f for f in DEMO_FACTS if f.file == "chunking_and_embeddings.md")
    ask(page, fact.question)
    item = last_answer(page).locator(".rag-source").filter(has_text=fact.file).first
    item.locator("a.rag-open").click()
    frame = source_frame(page)
    assert fact.file in frame.locator("#where").inner_text()
    marked = frame.locator("#section mark.passage")
    assert marked.count() == 1 and len(marked.inner_text()) > 40
    shot(page, "1d-source-markdown")


def test_files_outside_the_data_folder_are_refused(server: Server) -> None:
    import urllib.error

    base = server.url.rstrip("/")
    with urllib.request.urlopen(f"{base}/rag/file/how_llms_work.pdf", timeout=10) as response:
        assert response.status == 200 and response.read(5) == b"%PDF-"
    outside = server.data_dir.parent / "secret.txt"
    outside.write_text("not for the browser")
    (server.data_dir / "link.txt").symlink_to(outside)
    try:
        for path in ("..%2Fsecret.txt", "%2E%2E/%2E%2E/etc/passwd", "link.txt", "/etc/passwd", "missing.pdf"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"{base}/rag/file/{path}", timeout=10)
            assert refused.value.code in (403, 404), path
        request = urllib.request.Request(f"{base}/rag/file/how_llms_work.pdf", headers={"Host": "evil.example"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 403
    finally:
        (server.data_dir / "link.txt").unlink()


def test_out_of_corpus_question_is_refused_with_closest_passages(page) -> None:
    ask(page, NOT_IN_CORPUS_EN[1])
    shot(page, "2-refusal")
    refusal = page.locator("#chat .rag-refusal")
    assert refusal.count() == 1 and "Not in your documents" in refusal.inner_text()
    assert "Closest passages" in page.inner_text("#chat")
    assert page.locator("#chat .rag-source").count() >= 1
    page.click("#clear")
    page.wait_for_function("() => document.querySelectorAll('#chat .rag-refusal').length === 0")


def test_uploaded_file_is_indexed_and_cited(page, server: Server, tmp_path: Path) -> None:
    upload = tmp_path / UPLOAD_NAME
    upload.write_text(UPLOAD_TEXT, encoding="utf-8")
    page.get_by_role("tab", name="Documents").click()
    page.set_input_files("#upload input[type=file]", str(upload))
    page.wait_for_function(
        "() => document.querySelector('#upload-status').innerText.includes('Index updated')",
        timeout=ANSWER_TIMEOUT_MS,
    )
    assert (server.data_dir / UPLOAD_NAME).read_text(encoding="utf-8") == UPLOAD_TEXT
    page.wait_for_function(f"() => document.querySelector('#documents').innerText.includes('{UPLOAD_NAME}')")
    assert "10 documents" in page.inner_text("#index-status")
    shot(page, "3-uploaded")

    # The same name again is refused rather than overwritten.
    page.set_input_files("#upload input[type=file]", str(upload))
    page.wait_for_function(
        "() => document.querySelector('#upload-status').innerText.includes('already in the data folder')",
        timeout=ANSWER_TIMEOUT_MS,
    )

    page.get_by_role("tab", name="Chat").click()
    ask(page, UPLOAD_QUESTION)
    shot(page, "4-upload-answer")
    heads = last_answer(page).locator(".rag-source-head").all_inner_texts()
    assert any(UPLOAD_NAME in h for h in heads), heads
    assert "7,431" in last_answer(page).inner_text()


def test_no_request_leaves_the_machine(browser, server: Server) -> None:
    import psutil

    context = browser.new_context()
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(server.url)
    page.wait_for_selector("#index-status strong")
    ask(page, FACT.question)
    page.get_by_role("tab", name="Documents").click()
    page.get_by_role("tab", name="Settings").click()
    page.wait_for_timeout(1000)  # Gradio keeps a stream open: "network idle" never comes
    context.close()

    assert requests, "no request was recorded"
    remote = [url for url in requests
              if urlsplit(url).scheme not in ("data", "blob")
              and urlsplit(url).hostname not in ("127.0.0.1", "localhost")]
    assert remote == []
    # Nor does the server hold a connection to anything but this machine.
    peers = [c.raddr.ip for c in psutil.Process(server.process.pid).net_connections(kind="inet") if c.raddr]
    assert all(ipaddress.ip_address(ip).is_loopback for ip in peers), peers


def test_two_tabs_ask_at_once(browser, server: Server) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    first, second = context.new_page(), context.new_page()
    for tab in (first, second):
        tab.goto(server.url)
        tab.wait_for_selector("#question textarea")
    other = next(f for f in DEMO_FACTS if f.file == "hybrid_search.html")
    for tab, question in ((first, FACT.question), (second, other.question)):
        tab.fill("#question textarea", question)
        tab.press("#question textarea", "Enter")
    for tab in (first, second):
        tab.wait_for_selector("#chat .rag-timings", timeout=ANSWER_TIMEOUT_MS)
    shot(second, "5-second-tab")
    assert FACT.file in first.inner_text("#chat")
    assert other.file in second.inner_text("#chat")
    context.close()
