# Two commands on a fresh machine: `make demo` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test up up-celery install clean bench

# Local AWS (localaws/, its own package) is installed next to the product for the demo and the
# tests; the product's wheel and runtime requirements do not contain it.
$(STAMP): requirements.txt requirements-celery.txt constraints.txt pyproject.toml localaws/requirements.txt \
		localaws/pyproject.toml scripts/install_tools.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-celery.txt -r localaws/requirements.txt \
		-c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e . -e ./localaws
	$(BIN)/python scripts/install_tools.py
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

# One worker per core (pytest-xdist), each with its own Airflow home and local AWS; worksteal because a
# DAG run takes a minute and a unit test milliseconds. The 10 slowest tests end CI's output.
test: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist worksteal --durations=10

up: $(STAMP)
	bash scripts/up.sh

# The CeleryExecutor deployment on this machine's PostgreSQL and Redis (README: "Running on Celery").
up-celery: $(STAMP)
	bash scripts/up_celery.sh

bench: $(STAMP)
	$(BIN)/python bench/gates.py

clean:
	rm -rf .demo .localaws
