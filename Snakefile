# onepass: the paper's experiments as a Snakemake workflow.
# (skeleton; the pipeline work fills in config validation and `rule all`)
configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/aggregate.smk"
include: "rules/figures.smk"
include: "rules/tables.smk"
