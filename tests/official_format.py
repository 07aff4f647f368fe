"""Writing a checkpoint file as the official 2020 Cream code did."""
import argparse

import torch


def randomise_bn(net, seed):
    """Running statistics that differ between nets, so that loading the
    wrong ones shows in the outputs."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def write_official_checkpoint(path, plain, ema):
    """torch's legacy format, the training arguments as an object, plain and
    EMA weights under the official keys."""
    checkpoint = {
        'epoch': 499, 'arch': 'cream-14', 'version': 2, 'metric': 53.8,
        'state_dict': plain.state_dict(), 'state_dict_ema': ema.state_dict(),
        'optimizer': torch.optim.SGD(plain.parameters(), lr=0.1).state_dict(),
        'args': argparse.Namespace(LR=0.064, EPOCHS=500),
    }
    torch.save(checkpoint, path, _use_new_zipfile_serialization=False)
