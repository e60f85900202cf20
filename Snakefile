# onepass: the paper's experiments as a Snakemake workflow.
#
#   snakemake --cores all                                   # default laptop run (config/config.yaml)
#   snakemake -n --configfile config/paper.yaml             # plan the whole paper
#   snakemake results/figures/CDF_uci_energy.pdf            # one figure and what it needs
#   snakemake --profile profiles/slurm --configfile config/paper.yaml
#
# The config is checked (onepass.pipeline.checks, then workflow/schemas/config.schema.yaml) and every
# plan is computed once, here, from the config alone (never from what is on disk), so a broken config
# stops here with the offending key named and a dry run plans the same jobs whatever exists.
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("9.0")


# The default config applies only when no --configfile is given: Snakemake would otherwise merge
# the given file *into* it, and e.g. config/paper.yaml would inherit the laptop config's chunk sizes
# and figures. `--config key=value` still applies on top of whichever file is used.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "rules/common.smk"


# A config mistake ends here with one line naming the key (no traceback: the config is wrong, not
# the code), before any job is planned.
try:
    check_config_files(workflow.configfiles)
    # job resources: the dataset registry's, under an optional override file
    _catalog = config.get("catalog")
    CATALOG = load_catalog(Path(_catalog), _catalog) if _catalog else load_catalog()
    check_config(config, CATALOG, load_schema(Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"))
    try:
        validate(config, "workflow/schemas/config.schema.yaml")
    except WorkflowError as error:
        raise ConfigError(schema_error_message(error)) from None
    PLAN, EXPERIMENT_NAMES = build_plan(config, CATALOG)
    # the black-box baselines (rules/hpo.smk): enabled experiments only; see onepass.pipeline.hpo
    HPO_BAYESOPT = hpo_plans.bayesopt_plan(config, CATALOG)
    HPO_RAY = hpo_plans.ray_plan(config, CATALOG)
    HPO_RAY_TABLES = hpo_plans.ray_tables(HPO_RAY)
    HPO_RAY_FIGURES = hpo_plans.ray_figures(HPO_RAY)
    hpo_plans.check_ray_outputs(config, HPO_RAY_TABLES, HPO_RAY_FIGURES)
    HPO_TARGETS = hpo_plans.hpo_targets(HPO_BAYESOPT, HPO_RAY, HPO_RAY_TABLES, HPO_RAY_FIGURES)
    # every experiment whose results/scalars/<exp>.* a job makes, with its source kind and inputs
    AGGREGATES = aggregation_plan(PLAN, HPO_BAYESOPT, HPO_RAY)
except ConfigError as error:
    sys.exit(str(error))

# Training needs its experiment, algorithm and chunk to look like this; the constraints keep
# `results/scalars/{experiment}.parquet` and the run paths from matching each other's files.
wildcard_constraints:
    experiment=r"[A-Za-z0-9_.\-]+",
    algorithm=r"[A-Za-z_]+",
    chunk=r"seeds\d+-\d+",


include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/aggregate.smk"
include: "rules/figures.smk"
include: "rules/tables.smk"
include: "rules/hpo.smk"


SCALARS = [f"results/scalars/{name}{suffix}" for name in PLAN for suffix in (".parquet", "_final.csv")]


localrules:
    all,
    scalars,


rule all:
    """Every figure and table the config enables, the aggregate of every training experiment and
    every enabled black-box baseline (rules/hpo.smk)."""
    default_target: True
    input:
        [f"results/figures/{name}.pdf" for name in config.get("figures") or {}],
        [f"results/tables/{name}.{ext}" for name in config.get("tables") or {} for ext in ("tex", "csv")],
        SCALARS,
        HPO_TARGETS,


rule scalars:
    """Train and aggregate every training experiment of the config, without figures or tables."""
    input:
        SCALARS,
