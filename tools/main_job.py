"""The README's main job on the embedded default.

For now it builds every published Cream model and prints its resolution,
parameters and FLOPs beside the official thop figures; the whole pipeline
(search, pretraining, detection) is to become the main job.
"""
from cream_det.cost import arch_cost, cost_table_text
from cream_det.registry import published_archs

# thop on the official networks (issue #2), for comparison.
OFFICIAL_THOP_MFLOPS = {'cream-14': 14.4, 'cream-43': 43.9, 'cream-114': 118.7,
                        'cream-287': 296.6, 'cream-481': 499.4, 'cream-604': 625.8}


def main():
    names = published_archs()
    rows = [arch_cost(name) for name in names]
    print(cost_table_text(rows, names))
    print('\nFLOPs here (mmengine FlopAnalyzer) vs thop on the official code:')
    for name, row in zip(names, rows):
        print(f'  {name:<10} {row["flops"] / 1e6:7.1f} M vs {OFFICIAL_THOP_MFLOPS[name]:6.1f} M'
              f'   ({row["arch"]})')


if __name__ == '__main__':
    main()
