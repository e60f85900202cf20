"""The Snakemake pipeline's planning, as plain Python (no Snakemake needed to import or test it).

The Snakefile and `rules/common.smk` call these functions once, when Snakemake parses the
workflow, from the config alone (never from the files on disk): the config checks (every error
names the key path), the expansion of experiments into sub-experiments, algorithms and seed chunks,
the job arguments and resources, the black-box baselines' plan (`hpo`) and which files each
aggregation reads (`aggregation`). Keeping them here lets unit tests cover them directly, and keeps
the rule files to what needs Snakemake's `config` and `workflow` objects.

Dependency direction: this package may import anything in `onepass`; nothing else in `onepass`
imports it (the library must not depend on its pipeline).
"""
