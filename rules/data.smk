# rules/data.smk (to be written)
