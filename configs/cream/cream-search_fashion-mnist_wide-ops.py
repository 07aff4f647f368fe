# The embedded search on a space whose archs differ more: the Cream space with
# expansion ratios 1, 3 and 6 instead of 4 and 6 (once-for-all searches
# 3, 4 and 6). On the Cream space itself the archs of the embedded search are
# interchangeable: trained alone, they differ by less than the training noise
# (docs/en/benchmarks.md, "Can the truth resolve?"), so no benchmark on it can
# tell a good search from a bad one.
_base_ = './cream-search_fashion-mnist.py'

model = dict(
    supernet=dict(space=dict(_delete_=True, base='cream', name='cream-wide-ops',
                             ops=['k3e1', 'k3e3', 'k3e6', 'k5e1', 'k5e3', 'k5e6',
                                  'k7e1', 'k7e3', 'k7e6'])),
    constraint=dict(flops=(2.4, 2.8)))
