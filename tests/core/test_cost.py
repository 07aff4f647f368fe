import pytest
import torch

from cream_det import CreamSuperNet
from cream_det.cost import CostTable, count_params, network_cost

GET_FLOPS = 'tools/analysis_tools/get_flops.py'


@pytest.fixture(scope='module')
def supernet_and_table():
    net = CreamSuperNet(budget=(100, 200))
    return net, CostTable(net)


def test_table_matches_whole_network_count(supernet_and_table):
    net, table = supernet_and_table
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        path = net.sample_path(generator)
        child = net.export_child(path)
        whole = network_cost(child)
        assert abs(table.flops(path) - whole['flops']) <= 0.01 * whole['flops']
        assert table.params(path) == whole['params'] == count_params(child)


def test_table_orders_ops_by_cost(supernet_and_table):
    net, table = supernet_and_table
    small = [[0] * d for d in net.depths]
    large = [[5] * d for d in net.depths]
    assert table.flops(small) < table.flops(large)


def test_counter_is_macs_of_a_plain_conv():
    conv = torch.nn.Conv2d(8, 16, 3, padding=1, bias=False)
    from cream_det.cost import count_flops
    assert count_flops(conv, torch.zeros(1, 8, 10, 10)) == 8 * 16 * 9 * 100


@pytest.mark.slow
def test_get_flops_tool_on_name_file_and_config(tmp_path, run_tool):
    out = run_tool(GET_FLOPS, 'cream-14')
    assert out.returncode == 0, out.stderr
    assert 'cream-14' in out.stdout and '2.673' in out.stdout
    arch_file = tmp_path / 'arch.json'
    arch_file.write_text('{"space": "cream", "resolution": 64, "stages": '
                         '[["k3e4"], ["k5e6", "k5e6"], ["k5e6", "k5e6"], ["k3e6"], ["k5e6"]]}')
    by_file = run_tool(GET_FLOPS, str(arch_file))
    assert by_file.returncode == 0, by_file.stderr
    assert by_file.stdout.splitlines()[1].split()[1:] == out.stdout.splitlines()[1].split()[1:]
    config = tmp_path / 'cfg.py'
    config.write_text(f"model = dict(type='CreamNet', arch={str(arch_file)!r})\n")
    by_config = run_tool(GET_FLOPS, str(config))
    assert by_config.returncode == 0, by_config.stderr
    assert by_config.stdout.splitlines()[1].split()[1:] == out.stdout.splitlines()[1].split()[1:]


@pytest.mark.slow
def test_get_flops_tool_unknown_name(run_tool):
    out = run_tool(GET_FLOPS, 'cream-1', check=False)
    assert out.returncode != 0
    assert 'unknown arch' in out.stderr and 'Traceback' not in out.stderr
