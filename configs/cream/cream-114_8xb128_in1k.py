_base_ = './cream-287_8xb128_in1k.py'

model = dict(backbone=dict(arch='cream-114'))
train_dataloader = dict(dataset=dict(resolution=160))
val_dataloader = dict(dataset=dict(resolution=160))
test_dataloader = val_dataloader
