"""The docs stay true to the repository: links and images resolve, the
configs, tools and modules they name exist, the deviation list matches the
code's DEVIATION markers, and the README stays short and free of test
counts. Text only: nothing here imports torch or OpenMMLab."""
import glob
import os.path as osp
import re
from collections import Counter

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
README = osp.join(ROOT, 'README.md')
DEVIATIONS = osp.join(ROOT, 'docs', 'en', 'advanced_guides', 'deviations.md')
DOCS = [README] + sorted(glob.glob(osp.join(ROOT, 'docs', '**', '*.md'), recursive=True))

FENCE = re.compile(r'^(```|~~~).*?^\1', re.M | re.S)
LINK = re.compile(r'!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
HTML_SRC = re.compile(r'<(?:img|a)\b[^>]*?\b(?:src|href)="([^"]+)"', re.I)
# A repository path: configs/..., tools/... or cream_det/..., not preceded by
# a path character (so analysis_tools/ is not tools/); {a,b} groups allowed.
REPO_PATH = re.compile(r'(?<![\w./-])((?:configs|tools|cream_det)/(?:[\w./*-]|\{[\w.,-]*\})*)')
TEST_COUNT = re.compile(r'\d+ (passed|tests|of the \d+)')
MARKER = 'DEVIATION:'


def read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


def rel(path):
    return osp.relpath(path, ROOT)


def without_code_blocks(text):
    return FENCE.sub('', text)


def slug(heading):
    """GitHub's anchor for a heading: the text lower-cased, punctuation but
    hyphens and underscores dropped, spaces to hyphens."""
    text = re.sub(r'[`*]|\[([^\]]*)\]\([^)]*\)', lambda m: m.group(1) or '', heading)
    text = re.sub(r'[^\w\- ]', '', text.strip().lower())
    return text.replace(' ', '-')


def anchors(path):
    seen, out = Counter(), set()
    for line in without_code_blocks(read(path)).splitlines():
        m = re.match(r'#{1,6}\s+(.*?)\s*#*\s*$', line)
        if m:
            s = slug(m.group(1))
            out.add(s if not seen[s] else f'{s}-{seen[s]}')
            seen[s] += 1
    return out


def expand(path):
    """configs/a_{1,2}.py -> [configs/a_1.py, configs/a_2.py]."""
    m = re.search(r'\{([^}]*)\}', path)
    if not m:
        return [path]
    return [p for part in m.group(1).split(',')
            for p in expand(path[:m.start()] + part + path[m.end():])]


def links(path):
    text = without_code_blocks(read(path))
    text = re.sub(r'`[^`\n]*`', '', text)  # inline code is not a link
    return LINK.findall(text) + HTML_SRC.findall(text)


@pytest.mark.parametrize('doc', DOCS, ids=rel)
def test_links_and_images_resolve(doc):
    broken = []
    for target in links(doc):
        if re.match(r'[a-z][a-z0-9+.-]*:', target, re.I):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition('#')
        dest = osp.normpath(osp.join(osp.dirname(doc), file_part)) if file_part else doc
        if not osp.exists(dest):
            broken.append(f'{target} (no {rel(dest)})')
        elif anchor and dest.endswith('.md') and anchor not in anchors(dest):
            broken.append(f'{target} (no heading #{anchor} in {rel(dest)})')
    assert not broken, f'{rel(doc)}: broken links: {broken}'


@pytest.mark.parametrize('doc', DOCS, ids=rel)
def test_named_paths_exist(doc):
    missing = []
    for named in REPO_PATH.findall(read(doc)):
        named = named.rstrip('.')
        for path in expand(named):
            if '*' in path:
                found = glob.glob(osp.join(ROOT, path))
            else:
                found = osp.exists(osp.join(ROOT, path))
            if not found:
                missing.append(path)
    assert not missing, f'{rel(doc)} names paths that do not exist: {sorted(set(missing))}'


def test_readme_is_short_and_names_no_test_counts():
    text = read(README)
    lines = text.count('\n') + (not text.endswith('\n'))
    assert lines <= 300, f'README.md has {lines} lines; keep it to 300 and move the rest to docs/'
    counts = [m.group(0) for m in TEST_COUNT.finditer(text)]
    assert not counts, f'README.md names test counts, which go stale: {counts}'


def marker_counts():
    """{module path: number of DEVIATION markers} from a scan of cream_det/."""
    counts = {}
    for path in sorted(glob.glob(osp.join(ROOT, 'cream_det', '**', '*.py'), recursive=True)):
        n = read(path).count(MARKER)
        if n:
            counts[rel(path).replace(osp.sep, '/')] = n
    return counts


def documented_counts():
    """{module path: number of entries} from deviations.md: a heading
    ``## `cream_det/...py` `` per module, one top-level bullet per marker."""
    counts, module = {}, None
    for line in without_code_blocks(read(DEVIATIONS)).splitlines():
        heading = re.match(r'#{2,6}\s+`([^`]+\.py)`\s*$', line)
        if heading:
            module = heading.group(1)
            counts.setdefault(module, 0)
        elif line.startswith('#'):
            module = None
        elif module and re.match(r'[-*] ', line):
            counts[module] += 1
    return counts


def test_deviation_list_matches_the_markers():
    code, doc = marker_counts(), documented_counts()
    assert code, f'no {MARKER} markers found under cream_det/'
    assert doc == code, (
        f'docs/en/advanced_guides/deviations.md lists {doc}, but the code has {code} '
        f'(grep -rn {MARKER} cream_det): give each marker one entry under its module')
