"""Layer 4, black-box baselines the paper compares with: Bayesian optimisation and Ray Tune
(ASHA, PBT). Each trains through :mod:`onepass.training`.
"""
