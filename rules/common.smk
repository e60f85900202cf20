# rules/common.smk (to be written)
