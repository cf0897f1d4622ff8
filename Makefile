# Two commands (see README): `make demo` and `make test`. Everything lives in .venv; nothing global.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.napwidget-installed
BUNDLE := napwidget/static/widget.js
PYTEST_ARGS ?=

.PHONY: setup js demo demo-html test test-py test-js browser bench lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# torch==2.13.0 first: it resolves to the CPU wheel here; a looser pin lets pip pull a multi-GB CUDA build.
$(STAMP): pyproject.toml | $(PY) $(BUNDLE)
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

js/node_modules/.package-lock.json: js/package.json js/package-lock.json
	cd js && npm ci --no-audit --no-fund

$(BUNDLE): js/node_modules/.package-lock.json $(shell find js/src -type f 2>/dev/null) js/build.mjs
	cd js && npm run build

js: $(BUNDLE)

setup: $(STAMP) $(BUNDLE)

demo: setup
	$(BIN)/napwidget demo

demo-html: setup
	$(BIN)/napwidget demo --html napwidget-demo.html

# Debian's chromium for the browser tests (Playwright drives it; `playwright install` cannot download here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }

test-js: $(BUNDLE)
	cd js && npx vitest run

# pytest exits 5 when a selection collects nothing on purpose (e.g. PYTEST_ARGS="-m nothing"): not a failure.
test-py: setup browser
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests selected"; rc=0; fi; exit $$rc

test: test-js test-py

# Lint, no rewrite: ruff (rules and line length 110 in pyproject.toml) and biome (js/biome.json, linter only,
# formatter off) on js/src. Both always run; the target fails if either finds something. Not part of `make test`.
RUFF_VERSION ?= 0.17.5
lint: $(PY) js/node_modules/.package-lock.json
	@$(BIN)/ruff --version 2>/dev/null | grep -q "$(RUFF_VERSION)" || $(PY) -m pip install -q "ruff==$(RUFF_VERSION)"
	@rc=0; $(BIN)/ruff check napwidget tests benchmarks || rc=1; \
	  (cd js && npx biome lint src) || rc=1; exit $$rc

bench: setup
	$(PY) benchmarks/bench_extract.py
	$(PY) benchmarks/bench_clustering.py

clean:
	rm -rf $(VENV) js/node_modules napwidget/static build dist *.egg-info
