# The two README commands: `make report` and `make test`. Everything else is for developers.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OUT    := build

SAMPLE := $(sort $(wildcard surveys/sample/*.csv))
WAVES  := $(filter-out %complaints.csv,$(SAMPLE))
EXTRAS := --targets surveys/targets.toml --complaints surveys/sample/complaints.csv \
          --peers surveys/benchmark.toml

.PHONY: report test bench sample catalog clean help

help:
	@echo "make report   set up .venv and write the demo report from surveys/sample"
	@echo "make test     set up .venv with test extras and run the test suite"
	@echo "make bench    speed and memory benchmarks (data generated under bench-data/, never committed)"
	@echo "make sample   regenerate the committed sample waves in surveys/sample"
	@echo "make catalog  bring the translation catalogs in step with the templates"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per extra, rebuilt when the project's metadata changes.
$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@ $(VENV)/.run-installed

report: $(VENV)/.run-installed
	@mkdir -p $(OUT)
	$(BIN)/servqual report $(WAVES) --instrument surveys/instrument.toml $(EXTRAS) \
		--out $(OUT)/servqual-report.html --json $(OUT)/servqual-results.json
	$(BIN)/servqual report $(WAVES) --instrument surveys/instrument.toml $(EXTRAS) \
		--lang zh-CN --out $(OUT)/servqual-report.zh-CN.html

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest -n auto --dist worksteal --durations=15

bench: $(VENV)/.test-installed
	$(BIN)/python -m benchmarks $(BENCH)

sample: $(VENV)/.run-installed
	$(BIN)/servqual sample --out surveys/sample

catalog: $(VENV)/.run-installed
	$(BIN)/python tools/catalog.py

clean:
	rm -rf $(OUT) dist .pytest_cache .hypothesis bench-data
