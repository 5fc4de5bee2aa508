# Fresh-machine entry points: `make demo` (the main job) and `make test`.
# The venv is created on first use; torch comes first from the cached CPU wheel (torch==2.13.0),
# then the project under constraints/cpu.txt so pip never pulls a CUDA build.
# A second venv holds verl for tests/test_verl.py (verl pins an older transformers than grit's): `make test`
# builds it when it can (61 s here with pip's cache, 5.6 min on a busy machine); without it the verl tests skip.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.grit-installed
VERL_VENV ?= .venv-verl
VERL_STAMP := $(VERL_VENV)/.grit-installed

.PHONY: demo test lint install verl-env

$(STAMP): pyproject.toml constraints/cpu.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]' -c constraints/cpu.txt
	touch $(STAMP)

install: $(STAMP)

# grit goes in without its dependencies: verl's reward side needs only grit's pure core.
$(VERL_STAMP): pyproject.toml constraints/verl.txt
	test -x $(VERL_VENV)/bin/python || python3 -m venv $(VERL_VENV)
	$(VERL_VENV)/bin/python -m pip install -q --upgrade pip
	$(VERL_VENV)/bin/python -m pip install -q torch==2.13.0
	$(VERL_VENV)/bin/python -m pip install -q verl -c constraints/verl.txt
	$(VERL_VENV)/bin/python -m pip install -q --no-deps -e .
	touch $(VERL_STAMP)

verl-env: $(VERL_STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/grit demo

test: $(STAMP)
	-$(MAKE) verl-env
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
