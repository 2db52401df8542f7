# DuckMesh: the two commands a new user needs.
#   make build [SCALE=0.1]   venv + pinned deps, source data, dbt deps + build, product summary
#   make test                the whole test suite (pytest), Spark equivalence included
#   make build-spark         the same mesh on a local Spark (README "Scale out")
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SCALE  ?= 0.1
STAMP  := $(VENV)/.installed-stamp
SPARK_STAMP := $(VENV)/.spark-stamp

.PHONY: build build-spark test lint install clean browser java

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e .
	@touch $(STAMP)

install: $(STAMP)

# dbt-spark and pyspark (the `spark` extra), for the Spark target and its test
$(SPARK_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[spark]'
	@touch $(SPARK_STAMP)

# Java for Spark: the machine's, else Debian's headless JRE 17 (needs root or sudo)
java:
	@command -v java >/dev/null || (apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless) \
	  || (sudo apt-get update -qq && sudo apt-get install -y -qq openjdk-17-jre-headless)

build-spark: $(SPARK_STAMP) java
	$(BIN)/duckmesh scale-out build --scale $(SCALE)

build: $(STAMP)
	$(BIN)/duckmesh build --scale $(SCALE)

# headless Chromium for the catalog site test (Debian's package; needs root or sudo)
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium) \
	  || (sudo apt-get update -qq && sudo apt-get install -y -qq chromium)

test: $(STAMP) $(SPARK_STAMP) browser java
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/duckmesh lint

clean:
	rm -rf target dbt_packages logs data published mesh.duckdb mesh.duckdb.wal
