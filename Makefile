# make demo : set up .venv (if missing) and run the main job, offline
# make test : set up .venv (if missing) and run the whole test suite (slow end-to-end runs included)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Re-install whenever pyproject.toml changes.
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test test-fast bench clean

# The marker is written last; a venv without a working pip (its creation was interrupted) is made anew,
# a working one is kept.
$(VENV)/.created:
	$(BIN)/python -m pip --version >/dev/null 2>&1 || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	touch $@

$(STAMP): pyproject.toml | $(VENV)/.created
	rm -f $(VENV)/.installed-*
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $@

demo: $(STAMP)
	$(BIN)/stitch demo --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache build *.egg-info
