# rag_app: `make run` installs everything, ingests data/ and opens the chat page;
# `make test` runs the tests. Both install into .venv first when needed.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
APP    := $(VENV)/bin/rag-app
STAMP  := $(VENV)/.installed
EVAL_DIR ?= ../shared/eval
CORPUS ?= data

.PHONY: install run serve ingest test test-fast lint browser bench bench-ingest bench-answer bench-typing bench-scale bench-sources bench-formats bench-first-run bench-api bench-prompt-lookup bench-llm-server bench-fuzz-ingest bench-injection bench-addressed bench-soak bench-check bench-scope eval demo-docs clean

install: $(STAMP)

# One line a step with its time (the whole output in .venv/install.log): torch pinned first (the
# CPU build), llama.cpp compiled in the background into a wheel cache keyed by version, flags and
# CPU, the default embedder and answer model installed and checked. See scripts/install.sh.
$(STAMP): pyproject.toml rag_app/catalogue.toml scripts/install.sh
	@PYTHON=$(PYTHON) scripts/install.sh
	@touch $(STAMP)

ingest: install
	$(APP) ingest

# Ingest first if there is no index yet, then serve the chat page on 127.0.0.1.
run: install
	test -f indexes/index.sqlite3 || $(APP) ingest
	$(APP) serve

serve: run

# Debian's Chromium for the browser tests (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
	  else sudo apt-get update -q && sudo apt-get install -y -q chromium; fi; }

test: install browser
	RAG_APP_FUZZ_EXAMPLES=200 $(PY) -m pytest -q

# The fast tier: no model, no browser; the fake embedder and generator chosen by their settings
# (embedding_model = "fake", runtime = "fake"; tests/fakes.py). About a minute.
# It needs only the package and its test extras (no PyTorch, no models, no compiler).
FAST_STAMP := $(VENV)/.installed-fast
$(FAST_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet -e ".[test]"
	touch $(FAST_STAMP)

test-fast: $(FAST_STAMP)
	$(PY) -m pytest -q tests/unit

# Style and likely bugs (pyflakes, bugbear, imports, pyupgrade), then types (mypy), as configured
# in pyproject.toml; then the CLI reference (docs/cli.md) must be the current --help pages.
lint: install
	$(VENV)/bin/ruff check rag_app tests benchmarks scripts
	$(VENV)/bin/mypy
	$(PY) -m rag_app.cli.reference --check docs/cli.md

bench: bench-ingest bench-answer

bench-ingest: install
	$(PY) -m benchmarks.bench_ingest $(CORPUS)

bench-answer: install
	$(PY) -m benchmarks.bench_answer

# The chat page in headless Chromium: 20 demo questions typed at 4 characters a second, the time
# from Enter to the sources, the first answer token and the checked answer (read-ahead, issue 25).
bench-typing: install browser
	$(PY) -m benchmarks.bench_typing $(CORPUS)

# Synthetic indexes of 100k and 1M chunks (about 25 min and 8 GB of disk in /tmp), and a kill test.
SIZES ?= 100000 1000000
STORE ?= sqlite  # or milvus: the same figures on the Milvus store
bench-scale: install
	$(PY) -m benchmarks.bench_scale --sizes $(SIZES) --kill-test --store $(STORE)

# What search finds inside each file of a corpus of real documents in many formats (slides,
# sheets, e-books, e-mail, scans): a table per format. Target: every phrase of >= 90% of the files.
FORMATS ?= ../shared/formats-corpus
bench-formats: install
	$(PY) -m benchmarks.bench_formats $(FORMATS)

# The API: `rag-app ask` through a running server against the API and --local, then 8 clients
# asking for 2 minutes (errors, answers the same as alone, queue wait p95, memory).
bench-api: install
	$(PY) -m benchmarks.bench_api $(CORPUS)

# Prompt-lookup decoding against plain decoding on the demo prompts (issue 25: measured, not kept).
bench-prompt-lookup: install
	$(PY) -m benchmarks.bench_prompt_lookup

# Answers written by llama_cpp.server against the same model in this process (issue 27).
# 84 documents that give the assistant orders beside 12 true ones: obeyed? verified? (issue 41)
bench-injection: install
	$(PY) -m benchmarks.bench_injection

# 8 users asking, searching and uploading for 30 minutes against one server, an ingest and a
# rebuild in the middle: errors, memory and open files over time (docs/soak.png)
bench-soak: install
	$(PY) -m benchmarks.bench_soak $(CORPUS) --plot docs/soak.png

# What the integrity checks cost on an index grown to 500 MB (a copy of the demo index)
# A question scoped to one file of a 100,000-chunk index: inside the search, and how long it takes.
bench-scope: install
	$(PY) -m benchmarks.bench_scope

bench-check: install
	$(PY) -m benchmarks.bench_check indexes --mb 500

# The detector of text written to the assistant: injections caught, ordinary text flagged
bench-addressed: install
	$(PY) -m benchmarks.bench_addressed --eval-dir $(EVAL_DIR)

# A folder of real files plus 200 damaged copies through the real `rag-app ingest` (issue 41).
bench-fuzz-ingest: install
	$(PY) -m benchmarks.fuzz_ingest $(FORMATS)

bench-llm-server: install
	$(PY) -m benchmarks.bench_llm_server

# The first `make run` of a new user: a clean clone until the chat page answers (COLD=1: empty
# pip and wheel caches). Target: 5 minutes with warm caches.
bench-first-run:
	benchmarks/first_run.sh $(if $(COLD),--cold,)

# The source panel: PDF pages located, rendered and highlighted, cold and cached (target: under 1 s).
PDFS ?= $(EVAL_DIR)/financebench-sample/pdfs
bench-sources: install
	$(PY) -m benchmarks.bench_sources $(PDFS)

eval: install
	@if [ -d "$(EVAL_DIR)" ]; then $(PY) -m rag_app.cli.eval_suite $(EVAL_DIR); \
	else echo "No evaluation data in $(EVAL_DIR); set EVAL_DIR=path"; fi

# Rebuild the demo PDF and DOCX from the text kept in the script.
demo-docs: install
	$(PY) scripts/build_demo_docs.py

clean:
	rm -rf indexes/*.sqlite3* indexes/*.faiss* indexes/.ingest.lock indexes.rebuild test-artifacts
