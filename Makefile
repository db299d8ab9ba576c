# Two commands do all the set-up: `make run` and `make test`.
# Both (re)install the project into .venv when it is missing or pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all
SNAKEMAKE := $(BIN)/snakemake

.PHONY: install run test lint format figures report benchmarks clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(SNAKEMAKE) --cores $(CORES)

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src workflow tests benchmarks
	$(BIN)/ruff format --check src workflow/scripts tests benchmarks
	$(BIN)/snakefmt --check workflow
	$(SNAKEMAKE) --lint --cores 1

format: $(STAMP)
	$(BIN)/ruff check --fix src workflow tests benchmarks
	$(BIN)/ruff format src workflow/scripts tests benchmarks
	$(BIN)/snakefmt workflow

figures: $(STAMP)
	$(SNAKEMAKE) --cores $(CORES) figures

report: $(STAMP)
	$(SNAKEMAKE) --cores $(CORES) --report results/report.zip

benchmarks: $(STAMP)
	$(BIN)/python benchmarks/tiling.py
	$(BIN)/python benchmarks/covariates.py
	$(BIN)/python benchmarks/deepcluster.py

clean:
	rm -rf results logs .snakemake
