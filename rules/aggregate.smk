# rules/aggregate.smk (to be written)
