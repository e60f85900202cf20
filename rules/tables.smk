# rules/tables.smk (to be written)
