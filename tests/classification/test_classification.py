"""The pretraining pipeline: classifier, the official recipe's pieces, EMA in
evaluation, official checkpoints through tools/test.py, backbone export and
inference."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DATASETS, MODELS, PARAM_SCHEDULERS
from mmengine.runner import Runner
from PIL import Image
from skimage import data as skimage_data

import cream_det  # noqa: F401
from cream_det import CreamClassifier, CreamNet
from cream_det.classification import inference_classifier, init_classifier
from cream_det.checkpoint import read_checkpoint
from official_format import randomise_bn, write_official_checkpoint

ROOT = osp.join(osp.dirname(__file__), '..', '..')
CONFIGS = osp.join(ROOT, 'configs', 'cream')
FASHION = osp.join(CONFIGS, 'cream_fashion-mnist.py')
PUBLISHED = {'cream-14': 64, 'cream-43': 96, 'cream-114': 160, 'cream-287': 224,
             'cream-481': 224, 'cream-604': 224}


def _small_fashion_cfg(work_dir, train=512, test=500):
    """The embedded config on a few hundred images, one epoch."""
    cfg = Config.fromfile(FASHION)
    cfg.work_dir = str(work_dir)
    cfg.train_dataloader.dataset.indices = (0, train)
    cfg.train_dataloader.batch_size = 64
    cfg.test_dataloader.dataset.indices = (0, test)
    cfg.val_dataloader.dataset.indices = (0, test)
    cfg.train_cfg.max_epochs = 1
    cfg.param_scheduler[0].end = 4
    cfg.default_hooks.logger.interval = 1
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        loader.num_workers, loader.persistent_workers = 0, False
    return cfg


# -- the model --------------------------------------------------------------
def test_classifier_loss_and_predictions():
    model = CreamClassifier(dict(arch='cream-14', num_classes=10), label_smoothing=0.1)
    x, y = torch.randn(3, 3, 64, 64), [1, 2, 3]
    loss = model(x, y, mode='loss')['loss']
    assert loss.ndim == 0 and loss > 0
    predictions = model.eval()(x, y, mode='predict')
    assert [p['gt_label'] for p in predictions] == y
    assert all(p['pred_score'].shape == (10,) for p in predictions)
    torch.testing.assert_close(torch.stack([p['pred_score'] for p in predictions]).sum(1),
                               torch.ones(3))
    with pytest.raises(ValueError, match='out_indices must be unset'):
        CreamClassifier(dict(arch='cream-14', out_indices=(1, 2)))


def test_top_k_accuracy_metric():
    metric = cream_det.classification.TopKAccuracy(topk=(1, 2))
    scores = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7]])
    metric.process(None, [dict(pred_score=s, gt_label=y) for s, y in zip(scores, [0, 2, 0])])
    assert metric.evaluate(3) == {'accuracy/top1': pytest.approx(100 / 3),
                                  'accuracy/top2': pytest.approx(200 / 3)}


def test_checkpoints_carry_the_arch_they_were_trained_for():
    from types import SimpleNamespace
    from cream_det.classification import ArchInMetaHook
    model = CreamClassifier(dict(arch='cream-43', num_classes=10))
    checkpoint = {'meta': {'epoch': 1}}
    ArchInMetaHook().before_save_checkpoint(SimpleNamespace(model=model), checkpoint)
    assert checkpoint['meta']['epoch'] == 1
    assert cream_det.resolve_arch(checkpoint['meta']['arch']) == model.backbone.arch


# -- the recipe -------------------------------------------------------------
@pytest.mark.parametrize('name', sorted(PUBLISHED))
def test_each_published_config_builds_its_model_at_its_resolution(name):
    cfg = Config.fromfile(osp.join(CONFIGS, f'{name}_8xb128_in1k.py'))
    model = MODELS.build(cfg.model)
    assert model.backbone.arch == cream_det.resolve_arch(name)
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        assert loader.dataset.resolution == PUBLISHED[name] == model.backbone.arch.resolution
    assert model.backbone.drop_rate == 0.2 and model.label_smoothing == 0.1
    assert cfg.custom_hooks[0].type == 'EMAHook' and cfg.custom_hooks[0].momentum == 1e-4


def test_recipe_optimizer_is_timm_rmsproptf_without_decay_on_bn_and_bias():
    from timm.optim import RMSpropTF
    cfg = Config.fromfile(osp.join(CONFIGS, 'cream-287_8xb128_in1k.py'))
    model = MODELS.build(cfg.model)
    optimizer = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    assert isinstance(optimizer, RMSpropTF)
    group = optimizer.param_groups[0]
    assert (group['eps'], group['alpha'], group['momentum']) == (1e-3, 0.9, 0.9)
    decay = {id(p): g['weight_decay'] for g in optimizer.param_groups for p in g['params']}
    for name, p in model.named_parameters():
        assert decay[id(p)] == (1e-5 if p.ndim > 1 else 0.), name
    assert cfg.auto_scale_lr.base_batch_size == 1024 and group['lr'] == 0.064


def _lr_per_epoch(cfg, epochs, epoch_length=10):
    """The lr at the start of each epoch, stepping the config's schedulers as
    mmengine's runner does (iteration-based ones each iteration)."""
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.optim_wrapper.optimizer.lr)
    schedulers = []
    for c in cfg.param_scheduler:
        c = dict(c)
        if c.pop('convert_to_iter_based', False):
            cls = PARAM_SCHEDULERS.get(c.pop('type'))
            schedulers.append(cls.build_iter_from_epoch(optimizer, epoch_length=epoch_length,
                                                        **c))
        else:
            schedulers.append(PARAM_SCHEDULERS.build(c, default_args=dict(optimizer=optimizer)))
    lrs = []
    for _ in range(epochs):
        lrs.append(optimizer.param_groups[0]['lr'])
        for _ in range(epoch_length):
            optimizer.step()
            for s in schedulers:
                if not s.by_epoch:
                    s.step()
        for s in schedulers:
            if s.by_epoch:
                s.step()
    return lrs


def test_schedule_shapes_follow_the_official_timm_schedulers():
    cosine = _lr_per_epoch(Config.fromfile(osp.join(CONFIGS, 'cream-287_8xb128_in1k.py')), 510)
    assert cosine[0] == pytest.approx(1e-6)
    assert cosine[3] == pytest.approx(0.064, rel=1e-3)  # warm-up over 3 epochs
    assert cosine[250] == pytest.approx((0.064 + 1e-5) / 2, rel=1e-2)  # half-way down
    assert cosine[500] == pytest.approx(1e-5, rel=1e-3) == cosine[509]  # 10 cool-down epochs
    step = _lr_per_epoch(Config.fromfile(osp.join(CONFIGS, 'cream-14_8xb128_in1k.py')), 13)
    # timm: lr = 0.064 * 0.973 ** floor(epoch / 2.4) after the warm-up.
    for epoch in range(3, 13):
        assert step[epoch] == pytest.approx(0.064 * 0.973 ** (epoch * 10 // 24), rel=1e-6), epoch


@pytest.fixture(scope='module')
def image_folder(tmp_path_factory):
    """The ImageNet layout with real photos from scikit-image as JPEG files."""
    root = tmp_path_factory.mktemp('imagenet')
    photos = {'astronaut': skimage_data.astronaut(), 'coffee': skimage_data.coffee(),
              'chelsea': skimage_data.chelsea()}
    for split in ('train', 'val'):
        for name, photo in photos.items():
            (root / split / name).mkdir(parents=True)
            for i in range(2):
                Image.fromarray(photo).save(root / split / name / f'{i}.JPEG')
    return root


def test_recipe_augmentation_is_timm_randaugment_and_random_erasing(image_folder):
    cfg = Config.fromfile(osp.join(CONFIGS, 'cream-114_8xb128_in1k.py'))
    train = DATASETS.build(dict(cfg.train_dataloader.dataset, root=str(image_folder)))
    steps = repr(train.transform)
    assert 'RandAugment' in steps and 'm=9' in steps and 'RandomErasing' in steps
    assert 'RandomErasing(p=0.2, mode=pixel' in steps and 'bicubic' in steps  # 'random'

    item = train[0]
    assert item['inputs'].shape == (3, 160, 160) and item['inputs'].dtype == torch.float32
    assert train.metainfo['classes'] == ('astronaut', 'chelsea', 'coffee')
    val = DATASETS.build(dict(cfg.val_dataloader.dataset, root=str(image_folder)))
    steps = repr(val.transform)
    assert 'RandAugment' not in steps and 'size=182' in steps and 'CenterCrop' in steps
    assert 'bicubic' in steps
    assert val[0]['inputs'].shape == (3, 160, 160)


def test_bad_dataset_layouts_and_resolutions(tmp_path):
    from cream_det.datasets import FashionMNIST, ImageFolderData
    (tmp_path / 'train').mkdir()
    with pytest.raises(FileNotFoundError, match='has no class folders: expected .*/<class>/'):
        ImageFolderData(str(tmp_path), 'train')
    (tmp_path / 'train' / 'cat').mkdir()
    with pytest.raises(FileNotFoundError, match='holds no images in its class folders'):
        ImageFolderData(str(tmp_path), 'train')
    for bad in (lambda: ImageFolderData(str(tmp_path), 'train', resolution=200),
                lambda: FashionMNIST(resolution=48)):
        with pytest.raises(ValueError, match='expected a multiple of 32'):
            bad()


# -- training, EMA, checkpoints ----------------------------------------------
@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """One short epoch of the embedded config: its work dir and runner."""
    work_dir = tmp_path_factory.mktemp('fashion')
    runner = Runner.from_cfg(_small_fashion_cfg(work_dir))
    runner.train()
    return work_dir, runner


@pytest.mark.slow
def test_training_learns_and_evaluates_the_ema_weights(trained):
    work_dir, runner = trained
    log = open(next(work_dir.glob('*/*.log'))).read()
    losses = [float(line.split('loss: ')[1].split()[0]) for line in log.splitlines()
              if 'Epoch(train)' in line and 'loss: ' in line]
    assert len(losses) == 8 and np.mean(losses[-3:]) < np.mean(losses[:3])
    checkpoint = read_checkpoint(str(work_dir / 'epoch_1.pth'))
    # EMAHook saves the EMA weights as the state dict, the raw ones aside.
    raw = {k[len('module.'):]: v for k, v in checkpoint['ema_state_dict'].items()
           if k.startswith('module.')}
    ema = checkpoint['state_dict']
    weight = 'backbone.conv_stem.weight'
    assert not torch.equal(raw[weight], ema[weight])
    torch.testing.assert_close(runner.model.state_dict()[weight], raw[weight])
    # The validation that ran at the end of the epoch saw the EMA weights.
    model = MODELS.build(runner.cfg.model).eval()
    model.load_state_dict(ema)
    hits = total = 0
    for batch in runner.val_dataloader:
        data = model.data_preprocessor(batch, False)
        with torch.no_grad():
            hits += sum(int(p['pred_score'].argmax() == p['gt_label'])
                        for p in model(**data, mode='predict'))
        total += len(batch['data_samples'])
    logged = float(log.split('accuracy/top1: ')[-1].split()[0])
    assert logged == pytest.approx(100 * hits / total, abs=1e-3)


@pytest.fixture(scope='module')
def official_fashion_file(tmp_path_factory):
    torch.manual_seed(0)
    plain, ema = CreamNet('cream-14', num_classes=10), CreamNet('cream-14', num_classes=10)
    randomise_bn(plain, 1)
    randomise_bn(ema, 2)
    path = tmp_path_factory.mktemp('official') / '14.pth.tar'
    write_official_checkpoint(path, plain, ema)
    return str(path), plain.eval(), ema.eval()


@pytest.mark.slow
def test_test_tool_evaluates_an_official_file_with_its_ema_weights(official_fashion_file,
                                                                  tmp_path, run_tool):
    path, plain, ema = official_fashion_file
    cfg = _small_fashion_cfg(tmp_path, test=300)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    images = torch.stack([dataset[i]['inputs'] for i in range(len(dataset))])
    labels = torch.tensor([dataset[i]['data_samples'] for i in range(len(dataset))])
    inputs = (images.float() - 72.9) / 90.0
    with torch.no_grad():
        expected = {name: float((net(inputs).argmax(1) == labels).float().mean() * 100)
                    for name, net in (('ema', ema), ('plain', plain))}
    assert expected['ema'] != expected['plain']
    result = run_tool('tools/test.py', FASHION, path, '--work-dir', str(tmp_path),
                      '--cfg-options', 'test_dataloader.dataset.indices=[0,300]',
                      'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False')
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert 'loaded state_dict_ema of' in output
    top1 = float(output.split('accuracy/top1: ')[-1].split()[0])
    assert top1 == pytest.approx(expected['ema'], abs=1e-3)


@pytest.mark.slow
def test_test_tool_rejects_a_checkpoint_of_another_arch(tmp_path, run_tool):
    path = tmp_path / '43.pth.tar'
    net = CreamNet('cream-43', num_classes=10)
    write_official_checkpoint(path, net, net)
    result = run_tool('tools/test.py', FASHION, str(path), '--work-dir', str(tmp_path),
                      check=False)
    assert result.returncode != 0 and 'Traceback' not in result.stderr
    assert 'does not fit the model' in result.stderr and 'shape mismatch' in result.stderr


@pytest.mark.slow
def test_classification_checkpoint_is_a_detection_backbone_as_it_is(trained):
    """mmdet's Pretrained init with prefix 'backbone.' loads a CreamClassifier
    checkpoint (its EMA weights) into a detection backbone, with no export;
    the arch comes with the checkpoint."""
    work_dir, runner = trained
    checkpoint = str(work_dir / 'epoch_1.pth')
    detection = CreamNet(out_indices=(2, 4, 6), init_cfg=dict(
        type='Pretrained', checkpoint=checkpoint, prefix='backbone.'))
    assert detection.arch == runner.model.backbone.arch
    detection.init_weights()
    ema = read_checkpoint(checkpoint)['state_dict']
    for key, value in detection.state_dict().items():
        torch.testing.assert_close(value, ema['backbone.' + key])


@pytest.mark.slow
def test_exported_backbone_initialises_a_detection_backbone(trained, tmp_path, run_tool):
    work_dir, runner = trained
    out = tmp_path / 'backbone.pth'
    result = run_tool('tools/model_converters/export_backbone.py', FASHION,
                      str(work_dir / 'epoch_1.pth'), str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    exported = torch.load(out, weights_only=True)
    assert all(k.startswith('backbone.') for k in exported['state_dict'])
    assert not any(k.startswith(('backbone.conv_head', 'backbone.classifier'))
                   for k in exported['state_dict'])
    assert exported['meta']['weights'] == 'state_dict'  # EMAHook's: the EMA weights
    detection = CreamNet(exported['meta']['arch'], out_indices=(2, 4, 6), init_cfg=dict(
        type='Pretrained', checkpoint=str(out), prefix='backbone.'))
    detection.init_weights()
    ema = read_checkpoint(str(work_dir / 'epoch_1.pth'))['state_dict']
    for key, value in detection.state_dict().items():
        torch.testing.assert_close(value, ema['backbone.' + key])


@pytest.mark.slow
def test_inference_api_on_a_real_photo(trained):
    work_dir, _ = trained
    model = init_classifier(FASHION, str(work_dir / 'epoch_1.pth'))
    photo = skimage_data.coffee()
    top = inference_classifier(model, photo, topk=3)
    assert [t['score'] for t in top] == sorted((t['score'] for t in top), reverse=True)
    assert len(top) == 3 and 0 < sum(t['score'] for t in top) <= 1 + 1e-6
    assert all(t['name'] == cream_det.datasets.FASHION_MNIST_CLASSES[t['label']] for t in top)
    # A file gives what the array gives.
    path = work_dir / 'coffee.png'
    Image.fromarray(photo).save(path)
    assert inference_classifier(model, str(path), topk=3) == top


def test_inference_api_names_imagenet_classes_for_official_files(tmp_path):
    net = CreamNet('cream-14')
    path = tmp_path / '14.pth.tar'
    write_official_checkpoint(path, net, net)
    model = init_classifier(osp.join(CONFIGS, 'cream-14_8xb128_in1k.py'), str(path))
    assert model.classes[1] == 'goldfish, Carassius auratus'
    top = inference_classifier(model, skimage_data.chelsea(), topk=5)
    assert len(top) == 5 and all(t['name'] == model.classes[t['label']] for t in top)


def test_small_image_preset_and_a_warning_for_imagenet_crops_of_small_images(image_folder):
    from cream_det.datasets import ImageFolderData
    with pytest.warns(UserWarning, match='crops of images this small are often unreadable'):
        ImageFolderData(str(image_folder), 'train', resolution=32)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        small = ImageFolderData(str(image_folder), 'train', resolution=32, preset='small')
        val = ImageFolderData(str(image_folder), 'val', resolution=32, preset='small')
    steps = repr(small.transform)
    assert 'scale=(0.6, 1.0)' in steps
    assert 'HorizontalFlip' not in steps and 'ColorJitter' not in steps
    assert 'size=32' in repr(val.transform) and small[0]['inputs'].shape == (3, 32, 32)
    with pytest.raises(ValueError, match="preset='tiny': expected one of"):
        ImageFolderData(str(image_folder), 'train', preset='tiny')
