import json

import pytest

from cream_det import Arch, ArchError, published_archs, resolve_arch
from cream_det.space import CREAM_SPACE

# The arch lists and resolutions of the official retrain script
# (microsoft/Cream, Cream/tools/retrain.py), as the release checkpoints hold.
OFFICIAL_LISTS = {
    'cream-14': (64, [[0], [3], [3, 3], [3, 3], [3], [3], [0]]),
    'cream-43': (96, [[0], [3], [3, 1], [3, 1], [3, 3, 3], [3, 3], [0]]),
    'cream-114': (160, [[0], [3], [3, 3], [3, 3], [3, 3, 3], [3, 3], [0]]),
    'cream-287': (224, [[0], [3], [3, 3], [3, 1, 3], [3, 3, 3, 3], [3, 3, 3], [0]]),
    'cream-481': (224, [[0], [3, 4, 3, 1], [3, 2, 3, 0], [3, 3, 3, 1, 1], [3, 3, 3, 3],
                        [3, 3, 3, 3], [0]]),
    'cream-604': (224, [[0], [3, 3, 2, 3, 3], [3, 2, 3, 2, 3], [3, 2, 3, 2, 3],
                        [3, 3, 2, 2, 3, 3], [3, 3, 2, 3, 3, 3], [0]]),
}


def test_published_names():
    assert published_archs() == list(OFFICIAL_LISTS)


@pytest.mark.parametrize('name', list(OFFICIAL_LISTS))
def test_published_archs_are_the_official_ones(name):
    resolution, arch_list = OFFICIAL_LISTS[name]
    assert resolve_arch(name) == Arch.from_official(arch_list, resolution=resolution)


def test_official_single_layer_stage_keeps_template_op():
    # cream-14 lists choice 3 (k5e6) for its single-layer stages 1, 4 and 5;
    # the official gen_childnet built the templates k3e4, k3e6 and k5e6.
    arch = Arch.from_official([[0], [3], [3, 3], [3, 3], [3], [3], [0]], resolution=64)
    assert str(arch) == 'k3e4 / k5e6 k5e6 / k5e6 k5e6 / k3e6 / k5e6 @64'
    # Without the fixed outer stages the same list converts the same way.
    assert Arch.from_official([[3], [3, 3], [3, 3], [3], [3]], resolution=64) == arch


def test_readable_table_of_published_models():
    assert str(resolve_arch('cream-287')) == \
        'k3e4 / k5e6 k5e6 / k5e6 k3e6 k5e6 / k5e6 k5e6 k5e6 k5e6 / k5e6 k5e6 k5e6 @224'


@pytest.mark.parametrize('suffix', ['json', 'yaml'])
def test_arch_file_round_trip(tmp_path, suffix):
    arch = Arch(CREAM_SPACE, (('k7e6',), ('k3e4', 'k5e4'), ('k3e6',), ('k5e6',), ('k7e4',)),
                160, meta={'flops': 123})
    path = str(tmp_path / f'arch.{suffix}')
    arch.dump(path)
    loaded = resolve_arch(path)
    assert loaded == arch and loaded.meta == {'flops': 123}
    assert 'k5e4' in open(path).read()  # readable op names


def _write(tmp_path, data):
    path = tmp_path / 'arch.json'
    path.write_text(json.dumps(data))
    return str(path)


def test_bad_arch_files_name_stage_and_layer(tmp_path):
    good = resolve_arch('cream-14').to_dict()
    wrong_op = dict(good, stages=[['k3e4'], ['k5e6', 'k9e9'], ['k5e6'], ['k3e6'], ['k5e6']])
    with pytest.raises(ArchError, match=r"stage 2, layer 2: unknown op 'k9e9'; expected one of"):
        resolve_arch(_write(tmp_path, wrong_op))
    too_few = dict(good, stages=[['k3e4'], ['k5e6']])
    with pytest.raises(ArchError, match='2 stages given, expected 5'):
        resolve_arch(_write(tmp_path, too_few))
    empty_stage = dict(good, stages=[['k3e4'], [], ['k5e6'], ['k3e6'], ['k5e6']])
    with pytest.raises(ArchError, match='stage 2 has no layer'):
        resolve_arch(_write(tmp_path, empty_stage))
    with pytest.raises(ArchError, match='resolution 100 must be a positive multiple of 32'):
        resolve_arch(_write(tmp_path, dict(good, resolution=100)))
    with pytest.raises(ArchError, match="missing key"):
        resolve_arch(_write(tmp_path, {'stages': good['stages']}))


def test_unknown_name_lists_known():
    with pytest.raises(KeyError, match='cream-14, cream-43, cream-114, cream-287'):
        resolve_arch('cream-999')
    with pytest.raises(FileNotFoundError):
        resolve_arch('missing/arch.json')


def test_official_list_with_bad_choice():
    with pytest.raises(ArchError, match='stage 2, layer 1: choice 6'):
        Arch.from_official([[0], [3], [6, 3], [3, 3], [3], [3], [0]])
