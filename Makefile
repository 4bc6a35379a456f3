# Two commands: `make run` (set up and serve on SQLite) and `make test` (set up and run the suite).
# Another address: `make run PORT=8080`, or `make run HOST=0.0.0.0 PORT=8080` to listen on every interface.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run demo test lint format install migrate bench css clean

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

.env:
	PORT=$(PORT) $(PY) -m core.localenv

migrate: install .env
	$(PY) manage.py check_database
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_admin

# Rolls up what came in since the last start (figures are exact either way; rollups make long windows fast).
run: migrate
	$(PY) manage.py refresh_rollups
	$(PY) manage.py runserver $(HOST):$(PORT)

# Sample data, the default alert rules, and the alert checker running beside the server.
# Both run in the background and the shell waits, so Ctrl-C, a TERM sent to the shell or the server
# exiting by itself (port in use) all go through the trap, which stops the other one too.
demo: migrate
	$(PY) manage.py generate_sample_data --count 20000 --days 30 --if-empty
	$(PY) manage.py refresh_rollups
	$(PY) manage.py check_alerts --create-defaults
	@echo "Alert checks run every 60 s beside the server; their output goes to logs/check_alerts.log."
	$(PY) manage.py check_alerts --loop --interval 60 >>logs/check_alerts.log 2>&1 & checker=$$!; \
	$(PY) manage.py runserver $(HOST):$(PORT) & server=$$!; \
	trap 'kill $$server $$checker 2>/dev/null; wait' EXIT INT TERM HUP; \
	wait $$server

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff check + format check, configured in pyproject.toml; `make format` applies both.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	$(PY) bench/run.py $(BENCH_ARGS)

# Rebuild the committed Tailwind CSS (static/css/app.css) and the vendored Chart.js from static/src.
css:
	cd static/src && npm ci --no-audit --no-fund && npm run build

clean:
	rm -rf $(VENV) .pytest_cache
