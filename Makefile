# Two commands do all the set-up on a fresh machine (Debian, Python >= 3.11, root or sudo
# for the system packages the tests need):
#   make serve   virtualenv + install + database + demo data, then ciweb-api on 127.0.0.1:9000
#   make test    virtualenv + install + system test services, then the whole test suite
# Everything else here is a step of those two.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONF := --config-file etc/ciweb.conf --config-file etc/ciweb-dev.conf
PYTEST_ARGS ?=

.PHONY: serve test lint venv system-deps sample-config bench clean

$(BIN)/.installed: setup.cfg setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lint,brotli,postgres]'
	touch $@

venv: $(BIN)/.installed

serve: venv
	$(BIN)/ciweb-manage $(CONF) db upgrade
	$(BIN)/ciweb-manage $(CONF) demo
	$(BIN)/ciweb-manage $(CONF) dashboard install
	$(BIN)/ciweb-api $(CONF)

system-deps:
	tools/install-system-deps

test: venv system-deps
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check ciweb tests bench
	$(BIN)/mypy

sample-config: venv
	$(BIN)/oslo-config-generator --config-file etc/ciweb-config-generator.conf

bench: venv system-deps
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) state build *.egg-info .pytest_cache .mypy_cache .ruff_cache
