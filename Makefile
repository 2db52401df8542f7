# DuckMesh: the two commands a new user needs.
#   make build [SCALE=0.1]   venv + pinned deps, source data, dbt deps + build, product summary
#   make test                the whole test suite (pytest)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SCALE  ?= 0.1
STAMP  := $(VENV)/.installed-stamp

.PHONY: build test lint install clean browser

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e .
	@touch $(STAMP)

install: $(STAMP)

build: $(STAMP)
	$(BIN)/duckmesh build --scale $(SCALE)

# headless Chromium for the catalog site test (Debian's package; needs root or sudo)
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium) \
	  || (sudo apt-get update -qq && sudo apt-get install -y -qq chromium)

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/duckmesh lint

clean:
	rm -rf target dbt_packages logs data published mesh.duckdb mesh.duckdb.wal
