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
# builds from a download host that this network may not reach. wrk drives the load
# benchmarks (bench/verify_load.py, verify_edge.py, verify_tail.py).
SYSTEM_TOOLS := pdftotext pdfsig pdffonts pdftoppm certutil node npm wrk
CHROMIUM := /usr/bin/chromium
# SoftHSM2, a PKCS#11 token in software, stands in for a hardware token in tests/hsm.
SOFTHSM := /usr/lib/softhsm/libsofthsm2.so

# Every Python package comes from requirements/, exact versions with their hashes (pip
# refuses a file whose hash is not there); the project itself is then installed without
# dependencies. `make lock` remakes those files from pyproject.toml (see the README).
LOCK := requirements/lock.txt
RUNTIME_LOCK := requirements/runtime.txt
BUILD_LOCK := requirements/build.txt
TOOLS_LOCK := requirements/tools.txt
LOCK_INDEX ?= https://pypi.org/simple
UV_COMPILE = $(BIN)/uv pip compile --quiet --no-config --default-index $(LOCK_INDEX) \
  --python-version 3.11 --python-platform x86_64-unknown-linux-gnu --generate-hashes \
  --custom-compile-command 'make lock' $(LOCK_ARGS)
# A dependency that pyproject.toml names but the lock lacks (or pins outside its range)
# shows up here, instead of as an ImportError somewhere in the tests.
PIP_CHECK = $(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; \
  echo "the installed packages do not match pyproject.toml: run 'make lock' to update $(LOCK)"; \
  exit 1; }

.PHONY: run test lint format system-deps clean bench lock lock-upgrade audit screenshots

# No `pip install --upgrade pip`: that would fetch an unpinned pip; the lock pins pip.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml $(RUNTIME_LOCK) $(BUILD_LOCK) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r $(BUILD_LOCK) -r $(RUNTIME_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@$(PIP_CHECK)
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@$(PIP_CHECK)
	touch $@ $(VENV)/.installed

$(VENV)/.installed-tools: $(TOOLS_LOCK) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r $(TOOLS_LOCK)
	touch $@

# Keeps the versions already locked and adds what pyproject.toml gained: the same command
# on the same index gives the same files. `make lock-upgrade` moves everything to the newest.
lock: $(VENV)/.installed-tools
	$(UV_COMPILE) pyproject.toml requirements/build.in --extra dev -o $(LOCK)
	$(UV_COMPILE) pyproject.toml -c $(LOCK) -o $(RUNTIME_LOCK)
	$(UV_COMPILE) requirements/build.in -c $(LOCK) -o $(BUILD_LOCK)
	$(UV_COMPILE) requirements/tools.in -o $(TOOLS_LOCK)

lock-upgrade:
	$(MAKE) lock LOCK_ARGS=--upgrade

# pip-audit asks an advisory service about every pinned version; --strict makes a package
# it could not ask about a failure, never a clean result. The service must be reachable:
# pypi.org's JSON API by default, AUDIT_SERVICE=osv for api.osv.dev (AUDIT_ARGS for more).
AUDIT_SERVICE ?= pypi
AUDIT_LOCKS ?= $(LOCK) $(TOOLS_LOCK)
AUDIT_ARGS ?=
# AUDIT_UNREACHABLE=warn: a service that cannot be reached is reported, not a failure (for
# a CI machine with no route to any advisory service); a vulnerability found still fails.
AUDIT_UNREACHABLE ?= fail
audit: $(VENV)/.installed-dev
	@out=$$(mktemp); \
	if $(BIN)/pip-audit --strict --disable-pip --require-hashes --progress-spinner off \
	  --vulnerability-service $(AUDIT_SERVICE) $(AUDIT_ARGS) $(addprefix -r ,$(AUDIT_LOCKS)) \
	  >$$out 2>&1; then cat $$out; rm -f $$out; exit 0; fi; \
	if grep -q -e 'could not be audited' -e 'Error: HTTPConnectionPool' \
	  -e 'Error: HTTPSConnectionPool' -e 'ServiceError' -e 'Could not connect' $$out; then \
	  grep -v -e '^ ' -e '^Traceback' $$out | tail -n 1; \
	  echo "make audit: the advisory service ($(AUDIT_SERVICE)) did not answer for every locked"; \
	  echo "package, so the lock was NOT audited (this is no clean result). Run it where pypi.org's"; \
	  echo "JSON API answers, or with AUDIT_SERVICE=osv where api.osv.dev does."; \
	  if [ "$(AUDIT_UNREACHABLE)" = warn ]; then rm -f $$out; exit 0; fi; \
	else cat $$out; \
	  echo "make audit: locked packages have published vulnerabilities (above, with the fixed"; \
	  echo "versions). Raise each one's floor in pyproject.toml to a fixed release (a package"; \
	  echo "that another pulls in: list it there with that floor and say why), 'make lock',"; \
	  echo "run the tests, then 'make audit' again."; \
	fi >&2; rm -f $$out; exit 1

run: $(VENV)/.installed
	$(BIN)/diplomas init --no-input
	$(BIN)/diplomas serve --host $(HOST) --port $(PORT)

system-deps:
	@packages=""; \
	for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null || case $$t in \
	  certutil) packages="$$packages libnss3-tools";; \
	  node) packages="$$packages nodejs";; \
	  npm) packages="$$packages npm";; \
	  wrk) packages="$$packages wrk";; \
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

# The console's and the public pages' screenshots (Persian and English, phone and desktop)
# as PNG files in $(SCREENSHOTS), from the browser tests that also check them: the
# verification page in each state as verify-<state>-<fa|en>-<phone|desktop>.png, the
# holder's private page as holder-<state>-<fa|en>-<phone|desktop>.png.
SCREENSHOTS ?= screenshots
screenshots: $(VENV)/.installed-dev system-deps
	DIPLOMAS_SCREENSHOTS=$(abspath $(SCREENSHOTS)) $(BIN)/python -m pytest -q -p no:randomly \
	  tests/browser/test_console.py -k test_each_page
	DIPLOMAS_SCREENSHOTS=$(abspath $(SCREENSHOTS)) $(BIN)/python -m pytest -q -p no:randomly \
	  tests/browser/test_verify_states.py -k test_each_state
	DIPLOMAS_SCREENSHOTS=$(abspath $(SCREENSHOTS)) $(BIN)/python -m pytest -q -p no:randomly \
	  tests/browser/test_holder_page.py -k test_the_private_page
	@echo "screenshots in $(SCREENSHOTS)/"

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
