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

serve: $(STAMP)
	$(BIN)/coalition db upgrade
	$(BIN)/coalition serve --host $(HOST) --port $(PORT)

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance .pytest_cache .hypothesis
