# DuckMesh: the two commands a new user needs.
#   make build [SCALE=0.01]  venv + pinned deps, source data, dbt deps + build, product summary
#                            (default scale: the last build's, else 0.1); then ./duckmesh ...
#   make test                the whole test suite on DuckDB (pytest); the other engines'
#                            equivalence suites are make test-engines
#   make test-fast           the inner loop: unit and integration tests (no fault suite, no
#                            test that builds meshes of its own)
#   make check               ruff and mypy over the platform (make test runs it)
#   make build-spark         the same mesh on a local Spark (README "Scale out")
#   make contracts           datacontract-cli in .venv-contracts (the contracts' outside check)
#   make consumer            dbt + dbt-loom + s3fs in .venv-consumer: an outside project's
#                            environment (docs/sharing.md; the sharing tests run it)
#   make s3                  boto3 (the `s3` extra) for `duckmesh publish --to s3://` and `pull`
#   make legacy              the ADBC PostgreSQL driver (the `legacy` extra): legacy database
#                            sources (docs/legacy-sources.md)
#   make lineage             the OpenLineage client (the `lineage` extra): `duckmesh lineage emit`
#   make warehouses          dbt-snowflake + fakesnow in .venv-snowflake, dbt-bigquery + the
#                            crucible emulator in .venv-bigquery (docs/warehouses.md)
#   make test-engines        the mesh on Spark and on both warehouse emulators, each checked
#                            equal to DuckDB (not in make test); make test-warehouses: the same
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# empty: the scale of the last build, else 0.1 (duckmesh build --help)
SCALE  ?=
STAMP  := $(VENV)/.installed-stamp
SPARK_STAMP := $(VENV)/.spark-stamp
TEST_STAMP := $(VENV)/.test-stamp
CONTRACTS_VENV := .venv-contracts
CONTRACTS_STAMP := $(CONTRACTS_VENV)/.installed-stamp
CONSUMER_VENV := .venv-consumer
CONSUMER_STAMP := $(CONSUMER_VENV)/.installed-stamp
S3_STAMP := $(VENV)/.s3-stamp
LEGACY_STAMP := $(VENV)/.legacy-stamp
LINEAGE_STAMP := $(VENV)/.lineage-stamp
SNOWFLAKE_VENV := .venv-snowflake
SNOWFLAKE_STAMP := $(SNOWFLAKE_VENV)/.installed-stamp
BIGQUERY_VENV := .venv-bigquery
BIGQUERY_STAMP := $(BIGQUERY_VENV)/.installed-stamp
# one test file per worker at a time (module fixtures are built once), in the order
# conftest.py gives: the files that build meshes first, longest first. Three workers on two
# cores: a test waits on dbt, a subprocess or a sleep often enough that two workers left
# CPU idle (docs/performance-history.md, "Test loop"); TEST_WORKERS=2 for the old setting.
TEST_WORKERS ?= 3
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

.PHONY: build build-spark test test-fast test-engines test-warehouses check lint install clean browser java contracts consumer s3 legacy lineage warehouses system-check

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing the pinned packages into $(VENV)/: dbt-core, dbt-duckdb, duckdb, sqlfluff, sqlglot and their"
	@echo "dependencies: first build only, quiet until done (89 s on a busy 2-core VM)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e .
	@touch $(STAMP)

install: $(STAMP)

# pip-install the pinned extras $(1) of this package into $(VENV)/, saying what they hold
# ($(2)); the test target's extras come through a variable (a comma splits call's arguments)
TEST_EXTRAS := test,s3,legacy,lineage
define install_extras
	@echo "installing the $(1) extra(s) into $(VENV)/: $(2) (quiet until done)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[$(1)]'
endef

# dbt-spark and pyspark (the `spark` extra), for the Spark target and its test
$(SPARK_STAMP): $(STAMP)
	$(call install_extras,spark,dbt-spark and pyspark)
	@touch $(SPARK_STAMP)

# pytest, pytest-xdist, ruff, mypy, Playwright's Python package, moto (the `test` extra),
# boto3 (the `s3` extra, which the sharing tests use), the ADBC PostgreSQL driver (`legacy`)
# and the OpenLineage client (`lineage`), which their tests use
$(TEST_STAMP): $(STAMP)
	$(call install_extras,$(TEST_EXTRAS),pytest and pytest-xdist; ruff; mypy; playwright; moto; boto3; adbc; openlineage)
	@touch $(TEST_STAMP) $(S3_STAMP) $(LEGACY_STAMP) $(LINEAGE_STAMP)

# boto3 for `duckmesh publish --to s3://...` and `duckmesh pull` (docs/sharing.md)
$(S3_STAMP): $(STAMP)
	$(call install_extras,s3,boto3)
	@touch $(S3_STAMP)

s3: $(S3_STAMP)

# the ADBC PostgreSQL driver and pyarrow, for legacy database sources
$(LEGACY_STAMP): $(STAMP)
	$(call install_extras,legacy,adbc-driver-postgresql and pyarrow)
	@touch $(LEGACY_STAMP)

legacy: $(LEGACY_STAMP)

# the OpenLineage client, for `duckmesh lineage emit` and DUCKMESH_OPENLINEAGE builds
$(LINEAGE_STAMP): $(STAMP)
	$(call install_extras,lineage,openlineage-python)
	@touch $(LINEAGE_STAMP)

lineage: $(LINEAGE_STAMP)

# datacontract-cli, which tests/test_catalog_contracts.py runs on every exported ODCS
# contract (lint, and test against its Parquet port): it pins an older duckdb than the
# mesh, so it lives in its own venv, pinned by constraints-contracts.txt
$(CONTRACTS_STAMP): constraints-contracts.txt
	@test -x $(CONTRACTS_VENV)/bin/python || $(PYTHON) -m venv $(CONTRACTS_VENV)
	@echo "installing datacontract-cli into $(CONTRACTS_VENV)/ for the contract tests (quiet until done, about 85 s on a 2-core VM)"
	$(CONTRACTS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	  -c constraints-contracts.txt 'datacontract-cli[duckdb,parquet]'
	@touch $(CONTRACTS_STAMP)

contracts: $(CONTRACTS_STAMP)

# an outside consumer's dbt: dbt-core, dbt-duckdb, dbt-loom and s3fs, pinned by
# constraints-consumer.txt. dbt-loom brings boto3, Azure and Google client libraries, so it
# never goes into the platform's venv; tests/test_sharing.py runs the outside project with it
$(CONSUMER_STAMP): constraints-consumer.txt
	@test -x $(CONSUMER_VENV)/bin/python || $(PYTHON) -m venv $(CONSUMER_VENV)
	@echo "installing dbt-loom, dbt-duckdb and s3fs into $(CONSUMER_VENV)/ for the outside-consumer tests (quiet until done)"
	$(CONSUMER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	  -c constraints-consumer.txt dbt-core dbt-duckdb dbt-loom s3fs
	@touch $(CONSUMER_STAMP)

consumer: $(CONSUMER_STAMP)

# The warehouses (docs/warehouses.md): each adapter and its local emulator in a venv of its
# own, pinned by constraints-<warehouse>.txt. fakesnow pins sqlglot 30.22 and needs
# snowflake-connector-python 4.8; dbt-bigquery brings about 450 MB of Google libraries and
# crucible pins duckdb 1.5.6: none of it goes into the platform's .venv.
$(SNOWFLAKE_STAMP): constraints-snowflake.txt
	@test -x $(SNOWFLAKE_VENV)/bin/python || $(PYTHON) -m venv $(SNOWFLAKE_VENV)
	@echo "installing dbt-snowflake and fakesnow into $(SNOWFLAKE_VENV)/ (quiet until done, about 100 s)"
	$(SNOWFLAKE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	  -c constraints-snowflake.txt dbt-core dbt-snowflake snowflake-connector-python 'fakesnow[server]'
	@touch $(SNOWFLAKE_STAMP)

$(BIGQUERY_STAMP): constraints-bigquery.txt
	@test -x $(BIGQUERY_VENV)/bin/python || $(PYTHON) -m venv $(BIGQUERY_VENV)
	@echo "installing dbt-bigquery and the crucible emulator into $(BIGQUERY_VENV)/ (quiet until done, about 95 s)"
	$(BIGQUERY_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	  -c constraints-bigquery.txt dbt-core dbt-bigquery 'crucible-emulator[server]'
	@touch $(BIGQUERY_STAMP)

warehouses: $(SNOWFLAKE_STAMP) $(BIGQUERY_STAMP)

# Java for Spark: the machine's, else Debian's headless JRE 17 (needs root or sudo); asked
# for by name (make java), never by make test
java:
	@command -v java >/dev/null || (apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless) \
	  || (sudo apt-get update -qq && sudo apt-get install -y -qq openjdk-17-jre-headless)

build-spark: $(SPARK_STAMP) java
	$(BIN)/duckmesh scale-out build --scale $(or $(SCALE),0.1)

build: $(STAMP)
	$(BIN)/duckmesh build $(if $(SCALE),--scale $(SCALE))

# headless Chromium for the catalog site test (Debian's package, driven by Playwright's
# Python package through executable_path: no browser download; needs root or sudo)
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium) \
	  || (sudo apt-get update -qq && sudo apt-get install -y -qq chromium)

# ruff (config in pyproject.toml) over the Python, mypy over the platform package
check: $(TEST_STAMP)
	$(BIN)/ruff check scripts tests
	$(BIN)/mypy

# the system packages some tests use (a JRE for Spark, Chromium for the site, PostgreSQL
# for a legacy source): named and checked here, never installed (README "Development";
# .ci/run installs them explicitly); their tests skip with a one-line reason when absent
system-check:
	@command -v java >/dev/null || echo "make test-engines: java not found: the Spark tests will skip" \
	  "(install: apt-get install -y openjdk-17-jre-headless)"
	@test -x /usr/bin/chromium || command -v chromium >/dev/null || echo "make test: chromium" \
	  "not found: the catalog site tests will skip (install: apt-get install -y chromium)"
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  echo "make test: PostgreSQL not found: the legacy source tests will skip" \
	  "(install: apt-get install -y postgresql)"

test: $(STAMP) $(TEST_STAMP) $(CONTRACTS_STAMP) $(CONSUMER_STAMP) system-check check
	$(PYTEST) -m "not spark and not warehouses"

test-fast: $(TEST_STAMP) system-check
	$(PYTEST) -m "not spark and not faults and not e2e and not warehouses"

# the other engines' equivalence suites: Spark (tests/test_scale_out*.py, a local session
# on Java) and the warehouse emulators (tests/test_warehouses.py); each builds the
# session's mesh on its engine and compares every product with the DuckDB build
test-engines: $(SPARK_STAMP) $(TEST_STAMP) warehouses system-check
	$(PYTEST) -m "spark or warehouses"

test-warehouses: test-engines

lint: $(STAMP)
	$(BIN)/duckmesh lint

clean:
	rm -rf target dbt_packages logs data published mesh.duckdb mesh.duckdb.wal mesh.products.duckdb mesh.products.duckdb.wal
