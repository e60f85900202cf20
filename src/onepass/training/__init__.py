"""Layer 3, the paper's training engine: algorithms, run configuration, data, models, tasks,
one run (``run``), a chunk of seeds in one process (``chunk``) and its checkpoints.

Built on :mod:`onepass.hypersgd` and :mod:`onepass.records`; the baselines, studies, analysis and
pipeline build on it.
"""
