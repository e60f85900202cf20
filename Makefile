# The two commands of the README: `make reproduce` and `make test`. Both create .venv if missing.
#   make reproduce DATA_MIRROR=/path/to/mirror      # raw files from a local copy (UCI ships in data/)
#   make reproduce CONFIG=config/paper.yaml CORES=all
# Other targets: venv, install, reproduction (rebuild docs/reproduction), lint, bench, dryrun, rulegraph.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SNAKEMAKE := $(VENV)/bin/snakemake
CORES ?= all
CONFIG ?= config/config.yaml
DATA_MIRROR ?=
SNAKEMAKE_ARGS ?=

MIRROR_ARG := $(if $(DATA_MIRROR),--config data_mirror=$(abspath $(DATA_MIRROR)),)

.PHONY: venv install test reproduce reproduction lint bench dryrun rulegraph

# Created only when missing; `make install` re-installs into an existing one.
$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[workflow,bayesopt,ray,lightning,dev]'

venv: $(PY)

install: $(PY)
	$(PY) -m pip install -e '.[workflow,bayesopt,ray,lightning,dev]'

reproduce: $(PY)
	$(SNAKEMAKE) --cores $(CORES) --configfile $(CONFIG) $(MIRROR_ARG) $(SNAKEMAKE_ARGS)

# The reproduction shipped in docs/reproduction/ (UCI Energy at the paper's size, every UCI set at
# 10 seeds; about an hour on 2 cores): run it, then render its tables and figures into docs/.
reproduction: $(PY)
	@start=$$(date +%s); \
	$(SNAKEMAKE) --cores $(CORES) --configfile config/reproduction.yaml $(MIRROR_ARG) $(SNAKEMAKE_ARGS) && \
	$(PY) -m onepass.pipeline.reproduction --config config/reproduction.yaml --results results \
		--out docs/reproduction --command "make reproduction CORES=$(CORES)" \
		--wall-seconds $$(( $$(date +%s) - start )) --cores $$(nproc)

test: $(PY)
	$(PY) -m pytest

lint: $(PY)
	$(VENV)/bin/ruff check .
	$(SNAKEMAKE) --lint

# bench_algorithms.py trains on real UCI Energy: build it first (from data/, or DATA_MIRROR as for reproduce).
bench: $(PY)
	$(SNAKEMAKE) --cores 1 $(MIRROR_ARG) -- resources/data/uci_energy/data.pt
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

dryrun: $(PY)
	time $(SNAKEMAKE) -n --quiet rules --configfile config/paper.yaml

# docs/rulegraph.png, shown in the README (needs graphviz's `dot`).
rulegraph: $(PY)
	$(SNAKEMAKE) --rulegraph --configfile config/paper.yaml | dot -Tpng > docs/rulegraph.png
