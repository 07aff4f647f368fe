"""The package's own import graph, read from its sources (every import,
at module level or inside a function, so that a lazy import cannot hide a
circle): imports run one way, from the pipeline's lower parts to its
higher ones, and no module reaches itself again."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / 'cream_det'

# Lowest first; a part may import its own layer and those below it.
LAYERS = [
    {'errors', 'compat', 'space', 'arch', 'archs', 'checkpoint', 'optim', 'mmcv_ops'},
    {'models'},
    {'cost', 'latency', 'datasets', 'classification', 'detection'},
    {'search'},
    {'selection', 'export', 'deployment'},
    {'experiments', 'visualization'},
    {'cli'},
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _imports(path: Path, name: str) -> set:
    """The cream_det modules ``path`` imports (a name imported from a
    package counts as its submodule when there is one)."""
    package = name if path.name == '__init__.py' else name.rsplit('.', 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith('cream_det')}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')[:len(package.split('.')) - node.level + 1]
                target = '.'.join(base + ([node.module] if node.module else []))
            elif (node.module or '').startswith('cream_det'):
                target = node.module
            else:
                continue
            for alias in node.names:
                sub = f'{target}.{alias.name}'
                found.add(sub if _exists(sub) else target)
    return found


def _exists(module: str) -> bool:
    path = PACKAGE.parent.joinpath(*module.split('.'))
    return path.with_suffix('.py').is_file() or (path / '__init__.py').is_file()


def _graph() -> dict:
    graph = {}
    for path in PACKAGE.rglob('*.py'):
        name = _module_name(path)
        if name != 'cream_det':  # the top __init__ registers everything
            graph[name] = _imports(path, name) - {name}
    return graph


def _part(module: str) -> str:
    return module.split('.')[1]


def test_every_part_of_the_package_has_a_layer():
    parts = {_part(m) for m in _graph()}
    assert parts <= set(RANK), f'parts without a layer: {sorted(parts - set(RANK))}'


def test_imports_never_run_up_the_layers():
    upward = [f'{m} imports {t}' for m, targets in _graph().items() for t in targets
              if RANK[_part(t)] > RANK[_part(m)]]
    assert not upward, '\n'.join(upward)


@pytest.mark.parametrize('level', ['module', 'part'])
def test_the_import_graph_has_no_circle(level):
    graph = _graph()
    if level == 'part':
        parts = {}
        for m, targets in graph.items():
            parts.setdefault(_part(m), set()).update(_part(t) for t in targets)
        graph = {p: t - {p} for p, t in parts.items()}
    state, circles = {}, []

    def visit(node, trail):
        state[node] = 'open'
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 'open':
                circles.append(' -> '.join(trail[trail.index(target):] + [target]))
            elif target not in state:
                visit(target, trail + [target])
        state[node] = 'done'

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not circles, '\n'.join(circles)


def test_the_algorithm_package_exports_the_algorithm_only():
    import cream_det.search as search
    elsewhere = [n for n in search.__all__
                 if not getattr(search, n).__module__.startswith('cream_det.search.')]
    assert not elsewhere, elsewhere
