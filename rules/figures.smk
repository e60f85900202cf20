# rules/figures.smk (to be written)
