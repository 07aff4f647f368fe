"""The COCO-format detection set of Fashion-MNIST items on photos: determinism,
valid boxes, loading by pycocotools and mmdet, and clear errors."""
import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from cream_det.datasets import FASHION_MNIST_CLASSES, FashionMNIST
from cream_det.datasets.fashion_det import (FASHION_DETECTION_METAINFO, ITEM_THRESHOLD,
                                            MAX_IOU, _paste_item, box_iou, make_detection_set)

TOOL = Path(__file__).resolve().parents[2] / 'tools' / 'misc' / 'make_detection_set.py'
SMALL = dict(num_train=6, num_val=3)


@pytest.fixture(scope='module')
def small_set(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp('detection') / 'set'
    return out_dir, make_detection_set(str(out_dir), seed=0, **SMALL)


def _files(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*'))
            if p.is_file()}


def test_layout_and_counts(small_set):
    out_dir, written = small_set
    assert sorted(_files(out_dir)) == (
        ['annotations/instances_train.json', 'annotations/instances_val.json']
        + [f'train/{i:06d}.jpg' for i in range(1, 7)] + [f'val/{i:06d}.jpg' for i in range(1, 4)])
    for split, count in (('train', 6), ('val', 3)):
        coco = json.loads(Path(written[split]['ann_file']).read_text())
        assert written[split]['images'] == len(coco['images']) == count
        assert written[split]['objects'] == len(coco['annotations'])
        assert coco['info']['seed'] == 0 and coco['info']['image_size'] == 160


def test_same_seed_gives_identical_files(small_set, tmp_path):
    out_dir, _ = small_set
    make_detection_set(str(tmp_path / 'again'), seed=0, **SMALL)
    assert _files(tmp_path / 'again') == _files(out_dir)


def test_val_set_does_not_depend_on_num_train(small_set, tmp_path):
    out_dir, _ = small_set
    make_detection_set(str(tmp_path / 'fewer'), seed=0, num_train=2, num_val=3)
    first, fewer = _files(out_dir), _files(tmp_path / 'fewer')
    val_images = [name for name in first if name.startswith('val/')]
    assert [first[name] for name in val_images] == [fewer[name] for name in val_images]
    first_val, fewer_val = (json.loads(files['annotations/instances_val.json'])
                            for files in (first, fewer))
    assert fewer_val['info'].pop('num_train') == 2
    first_val['info'].pop('num_train')
    assert fewer_val == first_val


def test_another_seed_gives_another_set(small_set, tmp_path):
    out_dir, _ = small_set
    make_detection_set(str(tmp_path / 'other'), seed=1, **SMALL)
    first, other = _files(out_dir), _files(tmp_path / 'other')
    assert first.keys() == other.keys()
    assert all(first[name] != other[name] for name in first)


def test_boxes_lie_inside_images_and_overlap_little(small_set):
    out_dir, _ = small_set
    for split in ('train', 'val'):
        coco = COCO(str(out_dir / 'annotations' / f'instances_{split}.json'))
        for image_id, image in coco.imgs.items():
            with Image.open(out_dir / split / image['file_name']) as jpeg:
                assert jpeg.size == (image['width'], image['height']) == (160, 160)
            annotations = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
            assert 1 <= len(annotations) <= 3
            boxes = []
            for ann in annotations:
                x, y, w, h = ann['bbox']
                assert w > 0 and h > 0 and ann['area'] == w * h and ann['iscrowd'] == 0
                assert x >= 0 and y >= 0 and x + w <= image['width'] and y + h <= image['height']
                assert max(w, h) <= 80
                boxes.append((x, y, x + w, y + h))
            assert all(box_iou(a, b) <= MAX_IOU for i, a in enumerate(boxes)
                       for b in boxes[i + 1:])


def test_box_is_the_tight_box_of_the_painted_item():
    """On black, an item pixel v is painted as v * v / 255: the pixels above the threshold
    are those painted above (threshold + 0.5) ** 2 / 255."""
    items = FashionMNIST('test').images[:5].numpy()
    rng = np.random.default_rng(0)
    for item in items:
        canvas = np.zeros((160, 160, 3), np.float32)
        box = _paste_item(rng, canvas, item, [], (32, 80))
        ys, xs = np.nonzero(canvas[..., 0] > (ITEM_THRESHOLD + 0.5) ** 2 / 255)
        assert box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_item_that_would_overlap_is_dropped():
    item = FashionMNIST('test').images[0].numpy()
    canvas = np.zeros((80, 80, 3), np.float32)
    box = _paste_item(np.random.default_rng(0), canvas, item, [], (80, 80))
    canvas[:] = 0
    assert _paste_item(np.random.default_rng(0), canvas, item, [box], (80, 80)) is None
    assert not canvas.any()


def test_categories_are_fashion_mnist_classes(small_set):
    out_dir, _ = small_set
    coco = COCO(str(out_dir / 'annotations' / 'instances_train.json'))
    names = [cat['name'] for cat in coco.loadCats(coco.getCatIds())]
    assert tuple(names) == FASHION_MNIST_CLASSES == FASHION_DETECTION_METAINFO['classes']
    assert len(FASHION_DETECTION_METAINFO['palette']) == len(FASHION_MNIST_CLASSES)
    assert {ann['category_id'] for ann in coco.anns.values()} <= set(coco.getCatIds())


@pytest.mark.parametrize('split, fashion_split', [('train', 'train'), ('val', 'test')])
def test_objects_are_distinct_items_of_their_class(small_set, split, fashion_split):
    out_dir, _ = small_set
    coco = json.loads((out_dir / 'annotations' / f'instances_{split}.json').read_text())
    assert coco['info']['fashion_mnist_split'] == fashion_split
    labels = FashionMNIST(fashion_split).labels
    indices = [ann['fashion_mnist_index'] for ann in coco['annotations']]
    assert len(set(indices)) == len(indices)
    assert [ann['category_id'] - 1 for ann in coco['annotations']] == labels[indices].tolist()


def test_mmdet_coco_dataset_reads_the_boxes(small_set):
    from mmdet.datasets import CocoDataset
    out_dir, _ = small_set
    dataset = CocoDataset(metainfo=FASHION_DETECTION_METAINFO, data_root=str(out_dir),
                          ann_file='annotations/instances_train.json',
                          data_prefix=dict(img='train/'), pipeline=[])
    coco = json.loads((out_dir / 'annotations' / 'instances_train.json').read_text())
    assert len(dataset) == len(coco['images'])
    for i, image in enumerate(coco['images']):
        item = dataset[i]
        assert Path(item['img_path']) == out_dir / 'train' / image['file_name']
        expected = [([x, y, x + w, y + h], ann['category_id'] - 1)
                    for ann in coco['annotations'] if ann['image_id'] == image['id']
                    for x, y, w, h in [ann['bbox']]]
        assert [(inst['bbox'], inst['bbox_label']) for inst in item['instances']] == expected


def test_non_empty_out_dir_needs_overwrite(tmp_path):
    out_dir = tmp_path / 'set'
    (out_dir / 'train').mkdir(parents=True)
    (out_dir / 'train' / 'stale.jpg').write_bytes(b'old')
    (out_dir / 'notes.txt').write_text('mine')
    with pytest.raises(FileExistsError, match='not empty.*overwrite=True'):
        make_detection_set(str(out_dir), **SMALL)
    make_detection_set(str(out_dir), overwrite=True, **SMALL)
    assert not (out_dir / 'train' / 'stale.jpg').exists()
    assert (out_dir / 'notes.txt').read_text() == 'mine'
    assert len(list((out_dir / 'train').iterdir())) == 6


@pytest.mark.parametrize('sizes, message', [
    (dict(image_size=16), r'image_size=16: expected at least 32'),
    (dict(image_size=64, object_size=(32, 80)), r'8 <= min <= max <= image_size=64'),
    (dict(object_size=(60, 40)), r'object_size=\(60, 40\): expected'),
    (dict(objects_per_image=(0, 2)), r'1 <= min <= max'),
    (dict(num_val=0), r'num_val=0: expected at least 1'),
    (dict(num_val=4000), r'num_val=4000: expected at most 3333 images'),
])
def test_bad_sizes_are_refused_before_writing(tmp_path, sizes, message):
    with pytest.raises(ValueError, match=message):
        make_detection_set(str(tmp_path / 'set'), **{**SMALL, **sizes})
    assert not (tmp_path / 'set').exists()


def test_tool_writes_the_set_and_says_so(tmp_path, monkeypatch, capsys):
    out_dir = tmp_path / 'set'
    monkeypatch.setattr(sys, 'argv', [str(TOOL), str(out_dir), '--seed', '3', '--num-train', '2',
                                      '--num-val', '1', '--image-size', '96'])
    runpy.run_path(str(TOOL), run_name='__main__')
    summary = capsys.readouterr().out.strip()
    assert summary.startswith(f'{out_dir}: 2 train images (') and summary.endswith('96x96, seed 3')
    info = json.loads((out_dir / 'annotations' / 'instances_val.json').read_text())['info']
    assert (info['seed'], info['num_val'], info['image_size']) == (3, 1, 96)


@pytest.mark.slow
@pytest.mark.parametrize('existing, args, error', [
    (['notes.txt'], [], 'error: {out_dir} is not empty: pass overwrite=True (--overwrite)'),
    ([], ['--image-size', '16'], 'error: image_size=16: expected at least 32'),
], ids=['non-empty out dir', 'bad image size'])
def test_tool_errors_without_traceback(tmp_path, existing, args, error, run_tool):
    out_dir = tmp_path / 'set'
    out_dir.mkdir()
    for name in existing:
        (out_dir / name).write_text('mine')
    result = run_tool('tools/misc/make_detection_set.py', str(out_dir), *args, check=False,
                      timeout=300)
    assert result.returncode != 0 and 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(error.format(out_dir=out_dir))
    assert sorted(p.name for p in out_dir.iterdir()) == existing
