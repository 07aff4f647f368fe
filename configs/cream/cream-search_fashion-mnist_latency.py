# The embedded search within a latency budget on this machine's CPU (one
# thread, batch 1) instead of the FLOPs range. Measure the table first (a few
# seconds), and move the range into the span it prints if your CPU differs:
#   python tools/analysis_tools/latency_table.py configs/cream/cream-search_fashion-mnist.py \
#       --threads 1 --out work_dirs/latency/cpu_embedded_32.json
#   python tools/search_backbone.py configs/cream/cream-search_fashion-mnist_latency.py
# (On the AMD EPYC of docs/en/benchmarks.md, with the fitted correction, paths span
# 1.79-2.51 ms and 39 % of uniform draws lie within 1.8-2.0.)
_base_ = './cream-search_fashion-mnist.py'

model = dict(constraint=dict(_delete_=True, latency_ms=(1.8, 2.0),
                             table='work_dirs/latency/cpu_embedded_32.json'))
