# Every target creates .venv on first use and installs the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test test-sqlite test-postgres serve bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/coalition demo

# The suite runs on SQLite and, when it answers, on PostgreSQL
# (COALITION_TEST_POSTGRES_URL, default the local server). With
# COALITION_REQUIRE_POSTGRES=1 (as in CI) a missing PostgreSQL fails the run.
test: $(STAMP)
	$(BIN)/pytest -n 2 -p no:cacheprovider

# Serves DATABASE_URL; unset, the demo's database once `make demo` has made it (else instance/coalition.db).
DEMO_DB := $(CURDIR)/instance/demo.db
serve: $(STAMP)
	export DATABASE_URL="$${DATABASE_URL:-$$(test -f $(DEMO_DB) && echo sqlite:///$(DEMO_DB))}"; \
	test -n "$$DATABASE_URL" || unset DATABASE_URL; \
	$(BIN)/coalition db upgrade && $(BIN)/coalition serve --host $(HOST) --port $(PORT)

# The bench's table, then the scale run (1M members, 20M postings; PostgreSQL, about 15 minutes; SCALE=0 skips it).
SCALE ?= 1
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)
	if [ "$(SCALE)" != 0 ]; then $(BIN)/python -m bench.scale; fi

clean:
	rm -rf $(VENV) instance .pytest_cache .hypothesis
