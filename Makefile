# make demo : set up .venv (if missing) and run the main job, offline
# make test : set up .venv (if missing), build the docs (warnings are errors), run the whole test suite
# make docs : build the documentation site into docs/_build/html
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Re-install whenever pyproject.toml changes.
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test test-fast docs bench clean

# The marker is written last; a venv without a working pip (its creation was interrupted) is made anew,
# a working one is kept.
$(VENV)/.created:
	$(BIN)/python -m pip --version >/dev/null 2>&1 || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	touch $@

$(STAMP): pyproject.toml | $(VENV)/.created
	rm -f $(VENV)/.installed-*
	$(BIN)/python -m pip install --quiet -e '.[all,dev,docs]'
	touch $@

demo: $(STAMP)
	$(BIN)/stitch demo --out runs/demo

test: docs
	$(BIN)/python -m pytest -q

# -E: every page is read again, so a warning in an unchanged file still fails the build
docs: $(STAMP)
	$(BIN)/sphinx-build -E -W --keep-going -q -b html docs docs/_build/html

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache build *.egg-info docs/_build docs/api/namespace.md docs/api/cli.md
