"""The device check: one command on a GPU machine (at most 8 minutes at the
real settings) that measures the GPU path our users take.

    python tools/misc/gpu_check.py --out work_dirs/gpu_check            # on a GPU
    python tools/misc/gpu_check.py --device cpu --quick --out DIR       # anywhere, tiny

It writes DIR/gpu_check.json and DIR/gpu_check.md (a short table): the
environment (device, CUDA, torch, mmcv and whether mmcv has CUDA ops); the
search step of configs/cream/cream-search_0-600_8xb128_in1k.py at batch 128
and 224 px on generated images for SPOS, the floor and Cream (a full board),
in fp32 and under AMP (bf16 where the GPU has it), each without and with
channels_last: images/s, peak memory, Cream/SPOS and Cream/floor (goal
<= 1.1); a latency table of the device against seeded children timed whole,
eagerly and under CUDA graphs (Kendall's tau and MAPE); and training
iterations of the embedded RetinaNet, of FCOS and of the COCO RetinaNet on
generated images (loss, finite or not, seconds per iteration), or, where
mmcv lacks CUDA ops, the message the tools stop with.

--quick runs every part on tiny settings: a check that the script runs, not
figures.
"""
from cream_det.cli import parser_for, user_errors
from cream_det.experiments.gpu_check import run_gpu_check

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('--device', default='cuda', help='cuda, cuda:N or cpu')
    parser.add_argument('--quick', action='store_true', help='tiny settings, every part')
    parser.add_argument('--out', required=True, help='folder for gpu_check.json and .md')
    args = parser.parse_args()
    with user_errors():
        run_gpu_check(args.out, args.device, args.quick)
