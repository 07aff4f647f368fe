"""``tools/deployment/pytorch2onnx.py``: a config and its checkpoint to an
ONNX file with its metadata, then the file checked against PyTorch
(:mod:`.equality`)."""
from __future__ import annotations

import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config

from ..errors import MissingFileError
from .equality import check_export
from .export import DEFAULT_OPSET, export_kind, export_onnx, read_metadata
from .loading import export_metadata, input_hw, load_for_export

# A published or searched arch stands for this config with its arch.
ARCH_CONFIG = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                       'configs', 'cream', 'cream-287_8xb128_in1k.py')


def arch_config(arch: str, cfg_options: Optional[dict] = None) -> Config:
    """The ImageNet classifier config with ``arch`` (a published name such
    as ``cream-287``, or an arch file): what a bare arch exports as."""
    from ..archs import resolve_arch
    resolve_arch(arch)  # an unknown name or a missing file: its own error
    cfg = Config.fromfile(ARCH_CONFIG)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.model.backbone.arch = arch
    return cfg


def pytorch2onnx(cfg: Config, checkpoint: Optional[str], out_file: str,
                 shape: Optional[Sequence[int]] = None, opset: int = DEFAULT_OPSET,
                 dynamic_batch: bool = False, backbone: bool = False,
                 config_file: Optional[str] = None, check_images: int = 4) -> dict:
    """Export the config's model (or its backbone) with the checkpoint's
    weights to ``out_file`` at ``shape`` (H, W; default: the config's test
    size); returns ``dict(meta=..., check=...)``, the check's figures."""
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise MissingFileError(f'checkpoint file {checkpoint} does not exist')
    model = load_for_export(cfg, checkpoint, backbone)
    kind = export_kind(model)
    hw = tuple(shape) if shape else input_hw(cfg, 'classifier' if kind == 'classifier'
                                             else 'detector')
    meta = export_metadata(cfg, model, kind, checkpoint, config_file)
    export_onnx(model, out_file, (1, 3, *hw), opset, dynamic_batch, meta)
    meta = read_metadata(out_file)
    return dict(meta=meta, check=check_export(model, cfg, out_file, meta, check_images))
