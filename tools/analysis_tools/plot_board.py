"""The pictures of a finished search: board.png, the board and the chosen
arch (star) in a cloud of paths sampled within the search's FLOPs range,
MFLOPs against training prec@1 and against held-out top-1 (BatchNorm
recalibrated); training.png, the board's best and worst prec@1, the losses
and the matching weight over the iterations (from vis_data/scalars.json).

    python tools/analysis_tools/plot_board.py WORK_DIR [--num-paths 30] [--out-dir DIR]

WORK_DIR is a search's work dir (tools/search_backbone.py ... --work-dir
WORK_DIR): its board.json, arch.json, saved config and last checkpoint.
"""
from cream_det.cli import parser_for, user_errors
from cream_det.visualization.search_plots import plot_search

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('work_dir', help='the work dir of a finished search')
    parser.add_argument('--out-dir', help='where the PNGs go (default: the work dir)')
    parser.add_argument('--num-paths', type=int, default=30, help='paths in the cloud')
    parser.add_argument('--calib-batches', type=int, default=10,
                        help='training batches that recalibrate BatchNorm for each path')
    parser.add_argument('--checkpoint', help="default: the work dir's last checkpoint")
    parser.add_argument('--config', help='the search config (default: the one mmengine '
                        'saved with the newest run)')
    parser.add_argument('--seed', type=int, default=0,
                        help='of the sampled paths and the training batch')
    args = parser.parse_args()
    with user_errors():
        result = plot_search(args.work_dir, args.out_dir, args.num_paths, args.calib_batches,
                             args.checkpoint, args.config, args.seed)
    print(result['board'])
    print(result['training'])
