# `make run` and `make test` work from a fresh clone: they build .venv first when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export TF_CPP_MIN_LOG_LEVEL ?= 2
# DATA_DIR (database, media, generated secret) is read by the settings; export it when given.
ifdef DATA_DIR
export DATA_DIR
endif

.PHONY: setup setup-test run test migrate

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $@

setup: $(VENV)/.installed

setup-test: $(VENV)/.installed-test

migrate: setup
	$(PY) manage.py migrate --noinput

# The development server (with Django's debug pages: never in production, see docs/deploy.md) and
# the background workers, on the embedded broker; Ctrl-C stops them all.
run: migrate
	DJANGO_DEBUG=1 PORT=$(PORT) $(VENV)/bin/honcho start -f Procfile -p $(PORT)

# The browser tests need /usr/bin/chromium (apt-get install chromium); without it they skip.
test: setup-test
	$(PY) -m pytest
