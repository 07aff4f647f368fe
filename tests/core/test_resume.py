"""mmengine's resume on torch >= 2.6, where torch.load keeps weights_only on."""
import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from cream_det import CreamNet


class TinyClassifier(BaseModel):
    def __init__(self):
        super().__init__()
        self.net = CreamNet('cream-14', num_classes=4)

    def forward(self, inputs, labels, mode='loss'):
        logits = self.net(inputs)
        if mode == 'loss':
            return {'loss': F.cross_entropy(logits, labels)}
        return logits


class RandomImages(Dataset):
    def __len__(self):
        return 16

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return dict(inputs=torch.randn(3, 64, 64, generator=g), labels=torch.tensor(i % 4))


def _runner(work_dir, max_iters, resume=False):
    torch.manual_seed(0)  # the model is built before the runner seeds anything
    return Runner(
        model=TinyClassifier(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=RandomImages(), batch_size=4, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=True, seed=0),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0), resume=resume, load_from=None)


def test_resume_continues_the_run_exactly(tmp_path):
    straight = _runner(tmp_path / 'straight', 4)
    straight.train()

    _runner(tmp_path / 'split', 2).train()
    resumed = _runner(tmp_path / 'split', 4, resume=True)
    resumed.train()

    assert resumed.iter == 4
    for (name, a), b in zip(straight.model.state_dict().items(),
                            resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
