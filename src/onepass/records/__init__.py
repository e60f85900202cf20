"""Layer 2, results on disk: the scalar log of a run and the aggregation of training chunks.

Used by the training engine (to log) and by the analysis (to read); imports nothing above it.
"""
