# The two commands of the README: `make run` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat setup.py | cksum | cut -d' ' -f1)

.PHONY: run test install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): setup.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# A fresh machine to a running back office with demo data: the schema is migrated
# every time (a no-op when current), the demo data is made on the first run only.
run: $(STAMP)
	$(BIN)/backoffice init-db
	test -f instance/demo-credentials.json || $(BIN)/backoffice demo
	@echo "Demo logins, keys and tokens: instance/demo-credentials.json"
	BACKOFFICE_ENV=development BACKOFFICE_ALLOW_PRIVATE_POSTBACKS=1 $(BIN)/backoffice run

# The layer contracts (.importlinter), then the whole suite, on SQLite and (when it
# answers) PostgreSQL.
test: $(STAMP)
	PYTHONPATH=tests $(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
