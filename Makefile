# siyu: the two commands are `make run` and `make test`; everything else here serves them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV_VERSION := 0.13.9
RUN_STAMP  := $(VENV)/.run-installed
DEV_STAMP  := $(VENV)/.dev-installed
PYTEST_WORKERS ?= 2

.PHONY: run test lint format messages makemessages clean bench-quick

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(RUN_STAMP): requirements.lock pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

$(DEV_STAMP): requirements-dev.lock requirements.lock pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements-dev.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(RUN_STAMP) $@

messages: $(RUN_STAMP)
	@$(BIN)/python scripts/compile_messages.py

## make run: install, migrate, load demo data on first start, serve console + API + worker.
run: $(RUN_STAMP) messages
	$(BIN)/siyu serve

## make test: the whole suite on SQLite, then again on PostgreSQL when SIYU_TEST_DATABASE_URL is set.
test: $(DEV_STAMP) messages
	@if [ -n "$$SIYU_TEST_DATABASE_URL" ]; then \
	  echo "== test suite on SQLite =="; \
	  env -u SIYU_TEST_DATABASE_URL SIYU_POSTGRES_PASS_FOLLOWS=1 $(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS) && \
	  echo "== test suite on PostgreSQL ($$SIYU_TEST_DATABASE_URL) ==" && \
	  $(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS); \
	else \
	  $(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS); \
	fi

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## make makemessages: refresh the .po catalogues after changing UI strings (needs GNU gettext).
makemessages: $(DEV_STAMP)
	cd src/siyu && ../../$(BIN)/siyu makemessages -l zh_Hans -l en --ignore "*/migrations/*"

bench-quick: $(DEV_STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
