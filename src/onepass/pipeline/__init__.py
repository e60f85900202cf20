"""The Snakemake pipeline's planning, as plain Python (no Snakemake needed to import or test it).

`rules/common.smk` and `rules/hpo_common.smk` call these functions once, when Snakemake parses the
workflow: the config checks (every error names the key path), the expansion of experiments into
sub-experiments, algorithms and seed chunks, and the job arguments and resources. Keeping them here
lets unit tests cover them directly, and keeps the rule files to what needs Snakemake's `config`
and `workflow` objects.

Dependency direction: this package may import anything in `onepass`; nothing else in `onepass`
imports it (the library must not depend on its pipeline).
"""
