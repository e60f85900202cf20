# The two commands of the README: `make reproduce` and `make test`. Both create .venv if missing.
#   make reproduce DATA_MIRROR=/path/to/mirror      # raw files from a local copy (UCI ships in data/)
#   make reproduce CONFIG=config/paper.yaml CORES=all
# Other targets: venv, install, test-fast, reproduction (rebuild docs/reproduction), lint, bench, dryrun, rulegraph.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SNAKEMAKE := $(VENV)/bin/snakemake
CORES ?= all
CONFIG ?= config/config.yaml
DATA_MIRROR ?=
SNAKEMAKE_ARGS ?=

MIRROR_ARG := $(if $(DATA_MIRROR),--config data_mirror=$(abspath $(DATA_MIRROR)),)

.PHONY: venv install test test-fast reproduce reproduction lint bench dryrun rulegraph

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

# The reproductions shipped in docs/reproduction/, one config each, rendered into docs/ when done:
#   make reproduction                          config/reproduction.yaml: UCI Energy at the paper's size
#                                              and every UCI set at 10 seeds (about 1 hour on 2 cores)
#   make reproduction REPRODUCTION=kin8nm      config/reproduction_kin8nm.yaml; likewise power (both at the
#                                              paper's 200 seeds: 2.5-4.5 hours each on 2 cores),
#                                              figures (proof of concept, hypergradients), sensitivity
# Interrupted? Run the same command again: Snakemake resumes from the finished chunks (lower seeds run
# first, so a stopped run has a paired prefix of seeds for every algorithm). Each start
# appends the commit it runs to results/reproduction_<name>.commits; the manifest lists them all
# (its wall time is the last invocation's).
REPRODUCTION ?=
REPRODUCTION_CONFIG := config/reproduction$(if $(REPRODUCTION),_$(REPRODUCTION),).yaml
REPRODUCTION_MANIFEST := manifest$(if $(REPRODUCTION),_$(REPRODUCTION),).json
REPRODUCTION_COMMITS := results/reproduction$(if $(REPRODUCTION),_$(REPRODUCTION),).commits
reproduction: $(PY)
	@test -f $(REPRODUCTION_CONFIG) || { echo "error: $(REPRODUCTION_CONFIG) does not exist (REPRODUCTION=$(REPRODUCTION)); see config/reproduction_*.yaml" >&2; exit 2; }
	@{ git rev-parse HEAD 2>/dev/null || echo 'unknown (not a git checkout)'; } >> $(REPRODUCTION_COMMITS)
	@start=$$(date +%s); \
	$(SNAKEMAKE) --cores $(CORES) --configfile $(REPRODUCTION_CONFIG) $(MIRROR_ARG) $(SNAKEMAKE_ARGS) && \
	$(PY) -m onepass.pipeline.reproduction --config $(REPRODUCTION_CONFIG) --results results \
		--out docs/reproduction --manifest $(REPRODUCTION_MANIFEST) --run-commits-file $(REPRODUCTION_COMMITS) \
		--command "make reproduction$(if $(REPRODUCTION), REPRODUCTION=$(REPRODUCTION),) CORES=$(CORES)" \
		--wall-seconds $$(( $$(date +%s) - start )) --cores $$(nproc)

# `make test` (what CI runs) is the whole suite; `make test-fast` leaves out the end-to-end runs marked
# slow (Snakemake workflows, resumes, SLURM), for quick checks while developing.
test: $(PY)
	$(PY) -m pytest

test-fast: $(PY)
	$(PY) -m pytest -m "not slow and not cluster"

# Snakemake's lint runs through .ci/lint_workflow.py: it fails on every lint except "Specify a conda
# environment or container for each rule", because the jobs run in the environment that runs Snakemake
# (.venv or the activated environment.yml; see the README), not in per-rule conda environments.
lint: $(PY)
	$(VENV)/bin/ruff check .
	$(PY) .ci/lint_workflow.py $(SNAKEMAKE)

# bench_algorithms.py trains on real UCI Energy: build it first (from data/, or DATA_MIRROR as for reproduce).
bench: $(PY)
	$(SNAKEMAKE) --cores 1 $(MIRROR_ARG) -- resources/data/uci_energy/data.pt
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

dryrun: $(PY)
	time $(SNAKEMAKE) -n --quiet rules --configfile config/paper.yaml

# docs/rulegraph.png, shown in the README (needs graphviz's `dot`).
rulegraph: $(PY)
	$(SNAKEMAKE) --rulegraph --configfile config/paper.yaml | dot -Tpng > docs/rulegraph.png
