_base_ = './cream-287_8xb128_in1k.py'

model = dict(backbone=dict(arch='cream-604'))
