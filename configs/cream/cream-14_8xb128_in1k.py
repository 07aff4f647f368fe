_base_ = './cream-43_8xb128_in1k.py'

model = dict(backbone=dict(arch='cream-14'))
train_dataloader = dict(dataset=dict(resolution=64))
val_dataloader = dict(dataset=dict(resolution=64))
test_dataloader = val_dataloader
