# sgevent: the two set-up commands are `make run-shd` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: venv test test-slow test-nojit bench-engine run-shd clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $@

## make test: create .venv if missing, install with test extras, run the default suite
test: venv
	$(PY) -m pytest -q

## make test-slow: the long sweeps marked `slow`
test-slow: venv
	$(PY) -m pytest -q -m slow

## make test-nojit: kernels as plain Python (NUMBA_DISABLE_JIT=1) on the small engine cases
test-nojit: venv
	NUMBA_DISABLE_JIT=1 $(PY) -m pytest -q tests/test_engine.py -k "small"

## make bench-engine: SHD-sized forward pass, event engine vs clock reference
bench-engine: venv
	$(PY) bench/engine.py

## make run-shd: the main job (train on SHD). Needs the trainer, which has not landed yet.
run-shd: venv
	@echo "make run-shd: training has not landed yet (the engine, reference and data loaders have);" >&2
	@echo "see README.md, Status. Nothing was run." >&2
	@exit 2

clean:
	rm -rf $(VENV) build *.egg-info
