# Two commands: `make run` (set up and serve on SQLite) and `make test` (set up and run the suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run demo test install migrate bench css clean

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

run: migrate
	$(PY) manage.py runserver $(HOST):$(PORT)

demo: migrate
	$(PY) manage.py generate_sample_data --count 20000 --days 30 --if-empty
	$(PY) manage.py runserver $(HOST):$(PORT)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(PY) bench/run.py $(BENCH_ARGS)

# Rebuild the committed Tailwind CSS (static/css/app.css) and the vendored Chart.js from static/src.
css:
	cd static/src && npm ci --no-audit --no-fund && npm run build

clean:
	rm -rf $(VENV) .pytest_cache
