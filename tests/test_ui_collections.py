"""The chat page's collection picker and its logins, end to end in headless Chromium.

`rag-app serve --host 0.0.0.0` runs over two collections (``default``: a note on storks;
``recipes``: a recipe) with two keys: "owner" reads both, "cook" reads ``recipes`` only. Served
beyond loopback, the page asks everyone for a login. Logged in as the owner, the picker offers
both collections and each answers and takes uploads on its own; logged in as the cook through
this machine's network address, the page shows recipes only, through every route.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rag_app.service.keys import KeyStore
from rag_app.service.library import Library

from conftest import ROOT, make_settings, serve_process

pytestmark = pytest.mark.browser

ANSWER_TIMEOUT_MS = 300_000
ARTIFACTS = ROOT / "test-artifacts"
STORKS = "# White storks\n\nWhite storks build their nests on church towers and chimneys in Alsace.\n"
SOUP = "# Onion soup\n\nThe onion soup of Lyon simmers for exactly forty-five minutes before the cheese goes on.\n"
BREAD = "# Rye bread\n\nThe rye bread dough of Quenta rises for exactly three hours in a cold oven.\n"


@dataclass
class Served:
    url: str  # on loopback
    root: Path
    recipes: Path
    owner: str  # the key reading both collections
    cook: str  # the key reading recipes only


def network_address() -> str | None:
    """This machine's address on its network (not loopback), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the interface
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[Served]:
    from rag_app.ingest.pipeline import ingest

    root = tmp_path_factory.mktemp("collections")
    data, recipes = root / "data", root / "recipes"
    data.mkdir()
    recipes.mkdir()
    (data / "storks.md").write_text(STORKS, encoding="utf-8")
    (recipes / "soup.md").write_text(SOUP, encoding="utf-8")
    settings = make_settings(data, root / "index", collections_dir=root / "collections")
    library = Library(settings)
    library.add("recipes", recipes)
    for name in library.names():
        ingest(library.settings_for(name), embedder=embedder)
    keys = KeyStore(root / "api-keys.json")
    owner, cook = keys.add("owner", ["default", "recipes"]), keys.add("cook", ["recipes"])
    with serve_process(root, data, root / "index", host="0.0.0.0") as (url, _):
        yield Served(url, root, recipes, owner, cook)


def log_in(page, url: str, name: str, key: str) -> None:
    """Open the page at ``url`` and log in with the key ``name``."""
    page.goto(url)
    page.locator("input[type=text]").first.fill(name)
    page.locator("input[type=password]").fill(key)
    page.locator("input[type=password]").press("Enter")
    page.wait_for_selector("#index-status strong")


def ask(page, question: str) -> None:
    before = page.locator("#chat .rag-timings").count()
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    page.wait_for_function(f"() => document.querySelectorAll('#chat .rag-timings').length > {before}",
                           timeout=ANSWER_TIMEOUT_MS)


def pick(page, name: str) -> None:
    """Choose collection ``name`` in the picker and wait for the status line to show it."""
    page.locator("#collection input").click()
    page.get_by_role("option", name=name, exact=True).click()
    shown = "!s.includes('Collection ')" if name == "default" else f"s.includes('Collection {name}')"
    page.wait_for_function(f"() => {{ const s = document.querySelector('#index-status').innerText; return {shown}; }}")


def test_the_picker_chooses_the_collection_that_answers_and_takes_uploads(browser, served: Served,
                                                                          tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    try:
        log_in(page, served.url, "owner", served.owner)
        assert page.locator("#collection input").input_value() == "default"
        ask(page, "Where do white storks build their nests?")
        assert "storks.md" in page.locator("#chat .rag-sources").last.inner_text()

        pick(page, "recipes")
        assert page.locator("#chat .rag-timings").count() == 0  # a new conversation
        ask(page, "How long does the onion soup of Lyon simmer?")
        answer = page.locator("#chat .rag-timings").last.locator("xpath=..")
        assert "forty-five" in answer.inner_text() and "soup.md" in answer.locator(".rag-sources").inner_text()
        answer.locator("a.rag-open").first.click()  # its source opens in the panel, from recipes
        frame = page.frame_locator("#rag-source-frame")
        assert "forty-five" in frame.locator("#passage").inner_text()
        assert "c=recipes" in page.locator("#rag-source-frame").get_attribute("src")

        upload = tmp_path / "bread.md"
        upload.write_text(BREAD, encoding="utf-8")
        page.get_by_role("tab", name="Documents").click()
        page.set_input_files("#upload input[type=file]", str(upload))
        page.wait_for_function("() => document.querySelector('#upload-status').innerText.includes('Index updated')",
                               timeout=ANSWER_TIMEOUT_MS)
        assert (served.recipes / "bread.md").is_file() and not (served.root / "data" / "bread.md").exists()
        assert "bread.md" in page.inner_text("#documents") and "storks.md" not in page.inner_text("#documents")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "collections-picker.png"), full_page=True)

        pick(page, "default")
        page.wait_for_function("() => document.querySelector('#documents').innerText.includes('storks.md')")
        assert "bread.md" not in page.inner_text("#documents")
    finally:
        context.close()
        (served.recipes / "bread.md").unlink(missing_ok=True)


def test_off_this_machine_a_login_sees_only_its_key_s_collection_through_every_route(browser,
                                                                                    served: Served) -> None:
    address = network_address()
    if address is None:
        pytest.skip("this machine has no network address other than loopback")
    url = served.url.replace("127.0.0.1", address)
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    try:
        page.goto(url)
        page.wait_for_selector("input[type=password]")
        assert context.request.get(url + "rag/file/storks.md").status == 404  # nothing before a login
        page.locator("input[type=text]").first.fill("cook")
        page.locator("input[type=password]").fill("not the key")
        page.locator("input[type=password]").press("Enter")
        page.wait_for_selector("text=/incorrect/i")
        log_in(page, url, "cook", served.cook)
        assert not page.locator("#collection input").is_visible()  # one collection: no picker
        page.get_by_role("tab", name="Documents").click()
        page.wait_for_function("() => document.querySelector('#documents').innerText.includes('soup.md')")
        assert "storks.md" not in page.inner_text("#documents")
        page.get_by_role("tab", name="Chat").click()
        ask(page, "Where do white storks build their nests?")
        assert "storks.md" not in page.locator("#chat").inner_text()

        # The same login through the source routes and Gradio's own API: recipes only.
        http = context.request
        assert http.get(url + "rag/file/soup.md?c=recipes").status == 200
        for route in ("rag/file/storks.md", "rag/document/storks.md", "rag/file/storks.md?c=default"):
            assert http.get(url + route).status == 404, route
        call = http.post(url + "gradio_api/call/respond",
                         data=json.dumps({"data": ["Where do white storks build their nests?", [], [], 5, 0.1, 64,
                                                   "default"]}),
                         headers={"Content-Type": "application/json"})
        assert call.ok, call.text()
        events = http.get(url + f"gradio_api/call/respond/{call.json()['event_id']}", timeout=ANSWER_TIMEOUT_MS)
        reply = events.text()  # refused by the picker's choices (the cook's), else by the page's own check
        assert "not in the list of choices" in reply or "no collection named" in reply, reply
        assert "storks.md" not in reply and "church towers" not in reply

        # Wrong logins count per address (one of them above): the tenth is the last one checked.
        wrong = [http.post(url + "login", form={"username": "cook", "password": "guess"}).status for _ in range(10)]
        assert wrong == [400] * 9 + [429]
        assert http.post(url + "login", form={"username": "cook", "password": served.cook}).status == 429
    finally:
        context.close()
