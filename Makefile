# `make run` and `make test` set everything up on a fresh machine (Python 3.11+, git, apt).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The test suite needs poppler (pdftotext, pdfsig, pdffonts) as real outside validators, and
# NSS's certutil to make the certificate database that pdfsig trusts a test CA from, Node.js
# and npm for the interoperability test (tests/interop), and Debian's Chromium for the
# browser tests (tests/browser): `playwright install` fetches Playwright's own browser
# builds from a download host that this network may not reach.
SYSTEM_TOOLS := pdftotext pdfsig pdffonts pdftoppm certutil node npm
CHROMIUM := /usr/bin/chromium
# SoftHSM2, a PKCS#11 token in software, stands in for a hardware token in tests/hsm.
SOFTHSM := /usr/lib/softhsm/libsofthsm2.so

.PHONY: run test lint format system-deps clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/diplomas init --no-input
	$(BIN)/diplomas serve --host $(HOST) --port $(PORT)

system-deps:
	@packages=""; \
	for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null || case $$t in \
	  certutil) packages="$$packages libnss3-tools";; \
	  node) packages="$$packages nodejs";; \
	  npm) packages="$$packages npm";; \
	  *) packages="$$packages poppler-utils";; \
	esac; done; \
	[ -x $(CHROMIUM) ] || packages="$$packages chromium"; \
	[ -e $(SOFTHSM) ] || packages="$$packages softhsm2"; \
	packages=$$(echo $$packages | tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/ *$$//'); \
	if [ -n "$$packages" ]; then \
	  echo "installing $$packages for the tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  log=$$(mktemp); \
	  { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$packages; } >$$log 2>&1 \
	    || { cat $$log; rm -f $$log; exit 1; }; \
	  rm -f $$log; \
	fi

test: $(VENV)/.installed-dev system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check diplomas tests bench
	$(BIN)/ruff format --check diplomas tests bench
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff format diplomas tests bench
	$(BIN)/ruff check --fix diplomas tests bench

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/issue.py --n 200

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
