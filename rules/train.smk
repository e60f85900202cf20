# rules/train.smk (to be written)
