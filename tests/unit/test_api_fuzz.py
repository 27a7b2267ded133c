"""Every API route fuzzed from its own OpenAPI description (schemathesis, property-based): no
request, however odd, gets a server error or a traceback, and a key never reads a collection it
was not given (issue 41). Bounded: `EXAMPLES` requests per route and key (200 in `make test`)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings

from rag_app.api import api_routes
from rag_app.api.guard import Guard
from rag_app.api.openapi import OPENAPI_PATH
from rag_app.service.keys import KeyStore
from rag_app.service.library import Library

from conftest import SUPPORTED, folder, make_settings
from fakes import FakeEmbedder, FakeGenerator

# Per route (6 fuzzed) and caller (2): 2,400 requests in `make test` (RAG_APP_FUZZ_EXAMPLES=200),
# 480 in the fast tier alone (`make test-fast`, which must stay quick).
EXAMPLES = int(os.environ.get("RAG_APP_FUZZ_EXAMPLES", "40"))
SECRET = "the bread bakes at two hundred and twenty degrees"  # only in the "recipes" collection


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, str]]:
    root = tmp_path_factory.mktemp("fuzz")
    library = Library(make_settings(folder(root), root / "index"), create=True, embedder=FakeEmbedder(),
                      generator=FakeGenerator(SUPPORTED))
    library.app().ingest()
    recipes = root / "recipes"
    recipes.mkdir()
    (recipes / "bread.md").write_text(f"# Bread\n\nNote: {SECRET}.\n", encoding="utf-8")
    library.add("recipes", recipes)
    library.app("recipes").ingest()
    keys = KeyStore(library.settings.serve.keys_file)
    key = keys.add("reader", ["default"])
    yield FastAPI(routes=api_routes(library, Guard(keys))), key
    library.close()


def _no_server_error_nor_other_collection(case: schemathesis.Case, headers: dict[str, str]) -> None:
    response = case.call(headers=headers)
    body = response.text
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {body}"
    assert "Traceback" not in body and 'File "' not in body
    assert SECRET not in body and "bread.md" not in body  # the key (or none) never reaches "recipes"
    if response.status_code == 404 and response.json() == {"detail": "Not Found"}:
        return  # no route matched (e.g. a newline in a path): the web framework's own 404
    if response.status_code >= 400:  # every refusal in OpenAI's shape, saying why
        error = response.json().get("error")
        assert error and error["message"] and error["type"], f"{case.method} {case.formatted_path}: {body}"


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("caller", ["key-for-default", "no-key"])
def test_no_request_gets_a_server_error_or_reads_outside_its_key(api: tuple[FastAPI, str], caller: str) -> None:
    headers = {"Authorization": f"Bearer {api[1]}"} if caller == "key-for-default" else {}
    described = schemathesis.openapi.from_asgi(OPENAPI_PATH, api[0])
    operations = [result.ok() for result in described.get_all_operations()]
    assert len(operations) == 6
    for operation in operations:
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck),
                  database=None)
        @given(case=operation.as_strategy())
        def fuzz(case: schemathesis.Case) -> None:
            _no_server_error_nor_other_collection(case, headers)

        fuzz()


def test_the_description_lists_every_route(api: tuple[FastAPI, str]) -> None:
    from fastapi.testclient import TestClient

    served = TestClient(api[0], client=("127.0.0.1", 1)).get(OPENAPI_PATH).json()
    described = {(path, method.upper()) for path, item in served["paths"].items() for method in item}
    routes = {(route.path.replace("{path:path}", "{path}"), method)  # type: ignore[attr-defined]
              for route in api[0].routes  # type: ignore[attr-defined]
              if route.path.startswith("/v1/") and route.path != OPENAPI_PATH  # type: ignore[attr-defined]
              for method in route.methods if method != "HEAD"}  # type: ignore[attr-defined]
    assert described == routes


