# Two commands for a new user: `make demo` and `make test`. Both set up everything they need.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: demo test setup browser node bench lint clean test-wagtail-matrix

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

# Debian's chromium for the browser tests; installed when missing and we are root.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium is missing: install Debian's chromium package (apt-get install chromium)" >&2; exit 1; fi

# terser (pinned in package-lock.json) minifies the tracker; the tests prove the shipped file is its output.
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; } || \
		{ echo "npm is missing: install Node.js (apt-get install nodejs npm)" >&2; exit 1; }
	npm ci --no-audit --no-fund --silent
	touch $@

node: node_modules/.installed

# Flags for `darksocial demo`, e.g. make demo DEMO_FLAGS="--no-wait" or DEMO_FLAGS="--site-port 8010 --port 8011".
DEMO_FLAGS ?=

demo: setup
	$(VENV)/bin/darksocial demo $(DEMO_FLAGS)

test: setup browser node
	$(PY) -m pytest

# The Wagtail app on the Wagtail/Django combinations CI does not run (CI: Wagtail 8.0 on Django 5.2), each in a
# throwaway venv: `make test-wagtail-matrix`, or e.g. `make test-wagtail-matrix WAGTAIL_MATRIX=7.4:5.2`.
# Django 6 needs Python >= 3.12: MATRIX_PYTHON names the interpreter.
MATRIX_PYTHON ?= python3.12
WAGTAIL_MATRIX ?= 7.4:5.2 7.4:6.0 8.0:6.0
test-wagtail-matrix: browser
	@set -e; for combo in $(WAGTAIL_MATRIX); do \
		wagtail=$${combo%%:*}; django=$${combo##*:}; tmp=$$(mktemp -d); \
		echo "== Wagtail $$wagtail.x on Django $$django.x ($(MATRIX_PYTHON), $$tmp)"; \
		$(MATRIX_PYTHON) -m venv $$tmp/venv; \
		$$tmp/venv/bin/pip install --quiet -e '.[dev]' "wagtail==$$wagtail.*" "Django==$$django.*"; \
		$$tmp/venv/bin/python -m pytest -q -p no:cacheprovider tests/wagtail_darksocial || { rm -rf $$tmp; exit 1; }; \
		rm -rf $$tmp; \
	done

bench: setup browser node
	$(PY) -m bench

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build dist *.egg-info node_modules darksocial-demo
