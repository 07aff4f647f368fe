# SPOS (Guo et al., ECCV 2020) on the embedded default, in the Cream search's
# machinery: the same supernet, sampling, constraint, schedule and seeds, CE
# only, no teacher and no meta-matching network; the board is kept by the
# official rule as a record, and the choice is made from it as Cream's is.
_base_ = './cream-search_fashion-mnist.py'

model = dict(distill=False)
