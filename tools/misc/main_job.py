"""The README's main job: the whole pipeline on the embedded defaults, on
the CPU (see cream_det.experiments.main_job for the steps); each step's
whole output goes to main_job.log in its work dir.

    python tools/misc/main_job.py [--work-dir work_dirs/main]
"""
import sys

from cream_det.cli import parser_for
from cream_det.experiments.main_job import run_main_job
from cream_det.experiments.runs import StepFailed

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('--work-dir', default='work_dirs/main')
    args = parser.parse_args()
    try:
        run_main_job(args.work_dir)
    except StepFailed as err:
        sys.exit(f'main job: {err}')
