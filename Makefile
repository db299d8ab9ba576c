# Two commands do all the set-up: `make run` and `make test`.
# Both (re)install the project into .venv when it is missing or pyproject.toml or
# constraints.txt changed; pip takes the versions in constraints.txt (the tested set).
# `make test-fast` runs the unit tests only: every test without a slow, slurm or browser marker
# (all of tests/unit/, and the quick dry runs of tests/workflow/).
# pytest exits 5 when it collects no test: make stops on it like on any failure.
# `make install FAISS=gpu` installs faiss's GPU wheel (the `gpu` extra) instead of faiss-cpu.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FAISS ?= cpu
# the wheel `make install` removes first: both install the one `faiss` package
FAISS_WHEELS_cpu := faiss-gpu-cu12
FAISS_WHEELS_gpu := faiss-cpu
STAMP := $(VENV)/.installed-$(FAISS)
CORES ?= all
SNAKEMAKE := $(BIN)/snakemake
PY_PATHS := src workflow tests benchmarks experiments tools
FAST_MARKERS := not slow and not slurm and not browser
# Whole test files on parallel workers, one per core (at most 4), longest files first (the
# order tests/conftest.py gives them); TEST_WORKERS=0 runs them all in this one process.
TEST_WORKERS ?= auto
XDIST := -n $(TEST_WORKERS) --maxprocesses 4 --dist loadfile --no-loadscope-reorder

.PHONY: constraints install run study test test-fast lint format deps settings-docs wheel figures report benchmarks scale-benchmark clean

$(STAMP): pyproject.toml constraints.txt
	@case '$(FAISS)' in cpu|gpu) ;; *) echo "FAISS must be cpu or gpu, not '$(FAISS)'" >&2; exit 2;; esac
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip uninstall --quiet --yes $(FAISS_WHEELS_$(FAISS)) 2>/dev/null || true
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[$(FAISS),test]'
	rm -f $(VENV)/.installed $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(SNAKEMAKE) --cores $(CORES)

# Two demo cities x two scales x two seeds, with the comparisons (config/study_demo.yaml).
study: $(STAMP)
	$(SNAKEMAKE) --cores $(CORES) --configfile config/study_demo.yaml

test: $(STAMP)
	$(BIN)/pytest $(XDIST)

test-fast: $(STAMP)
	$(BIN)/pytest $(XDIST) -m "$(FAST_MARKERS)"

# The same commands as .pre-commit-config.yaml's hooks.
lint: $(STAMP)
	$(BIN)/ruff check $(PY_PATHS)
	$(BIN)/ruff format --check $(PY_PATHS)
	$(BIN)/snakefmt --check workflow
	$(BIN)/python tools/conda_envs.py --check
	$(BIN)/python tools/settings_docs.py --check
	$(SNAKEMAKE) --lint --cores 1

format: $(STAMP)
	$(BIN)/ruff check --fix $(PY_PATHS)
	$(BIN)/ruff format $(PY_PATHS)
	$(BIN)/snakefmt workflow

# constraints.txt: the versions installed now, as the tested set `make install` asks pip for.
constraints: $(STAMP)
	{ sed -n '1,3p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -v '^satcluster'; } > constraints.txt.tmp
	mv constraints.txt.tmp constraints.txt

# environment.yml and workflow/envs/satcluster.yaml from pyproject.toml's dependencies.
deps: $(STAMP)
	$(BIN)/python tools/conda_envs.py

# The deepcluster block of workflow/schemas/config.schema.yaml and its table in config/README.md
# from the DeepCluster settings (src/satcluster/deepcluster/settings.py).
settings-docs: $(STAMP)
	$(BIN)/python tools/settings_docs.py

# The library as a wheel in dist/ (what a module deployment or a conda rule env installs).
wheel: $(STAMP)
	$(BIN)/python -m build --wheel --no-isolation --outdir dist

figures: $(STAMP)
	$(SNAKEMAKE) --cores $(CORES) figures

report: $(STAMP)
	$(SNAKEMAKE) --cores $(CORES) --report results/report.zip

benchmarks: $(STAMP)
	$(BIN)/python benchmarks/tiling.py
	$(BIN)/python benchmarks/covariates.py
	$(BIN)/python benchmarks/deepcluster.py

# Time and peak memory of every stage on demo cities of 10^4, 3 x 10^4 and 10^5 tiles
# (about 25 minutes on an idle 2-core machine; see BENCHMARKS.md).
scale-benchmark: $(STAMP)
	$(BIN)/python benchmarks/scale.py

clean:
	rm -rf results logs .snakemake
