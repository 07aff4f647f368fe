"""The step runner of the main job (cream_det.experiments.runs): a step says
its command, where its log is, a few progress lines and its outcome; the
tool's whole output goes to the log; a failure shows the log's tail."""
import os.path as osp
import re
import textwrap

import pytest

from cream_det.experiments import runs

MAKE_SET = 'tools/misc/make_detection_set.py'


def test_root_is_the_repository():
    assert osp.isfile(osp.join(runs.ROOT, 'tools', 'train.py'))
    assert osp.isfile(osp.join(runs.ROOT, runs.SEARCH))


@pytest.mark.slow
def test_a_tool_step_prints_its_command_log_and_outcome_and_logs_the_rest(tmp_path, capfd):
    out_dir, log = str(tmp_path / 'set'), str(tmp_path / 'step' / 'main_job.log')
    runs.run_tool(MAKE_SET, out_dir, '--num-train', '2', '--num-val', '1', '--image-size', '96',
                  log=log, outcome=lambda: runs.last_line(log))
    printed, errors = capfd.readouterr()
    print(printed)  # to see it with pytest -s
    assert errors == ''  # the tool's stderr went to the log too
    lines = printed.strip('\n').splitlines()
    assert lines[0] == f'$ python {MAKE_SET} {out_dir} --num-train 2 --num-val 1 --image-size 96'
    assert lines[1] == f'  log: {log}'
    assert lines[-1].startswith('  done in ') and f': {out_dir}: 2 train images' in lines[-1]
    assert all(line.startswith('  still running after ') for line in lines[2:-1])
    with open(log) as f:
        logged = f.read()
    assert f'{out_dir}: 2 train images' in logged  # what the tool printed
    assert osp.isfile(osp.join(out_dir, 'annotations', 'instances_val.json'))


@pytest.mark.slow
def test_a_failing_tool_step_prints_the_logs_tail_and_path(tmp_path, capfd):
    log = str(tmp_path / 'step' / 'main_job.log')
    with pytest.raises(runs.StepFailed, match=r'exit code 1\).*make_detection_set.*log: '):
        runs.run_tool(MAKE_SET, str(tmp_path / 'set'), '--num-train', '0', log=log,
                      outcome=lambda: 'never')
    printed, errors = capfd.readouterr()
    print(printed)
    assert errors == ''
    assert printed.startswith(f'\n$ python {MAKE_SET} ')
    assert '  step failed (exit code 1) after ' in printed
    assert '  | error: num_train=0: expected at least 1 image' in printed
    assert printed.rstrip().endswith(f'  the whole log: {log}')
    assert 'never' not in printed
    with open(log) as f:
        assert 'error: num_train=0: expected at least 1 image' in f.read()


SLOW_TOOL = textwrap.dedent('''
    import time
    print('a config dump, say')
    print('Epoch(train)  [1][ 50/235]  lr: 1.0e-02  loss: 0.5', flush=True)
    time.sleep(0.4)
    print('Iter(train) [  100/1000]  loss: 0.4')
    time.sleep(0.4)
''')


def test_a_running_step_says_now_and_then_where_its_log_is(tmp_path, capfd):
    log, tool = str(tmp_path / 'main_job.log'), tmp_path / 'tool.py'
    tool.write_text(SLOW_TOOL)
    runs.run_tool(str(tool), log=log, progress_every=0.25, outcome=lambda: 'it ended')
    printed = capfd.readouterr().out
    progress = [line for line in printed.splitlines() if 'still running' in line]
    assert progress and all(re.fullmatch(r'  still running after \d+ s(, at .*)?', line)
                            for line in progress)
    # the latest position the log names, as mmengine wrote it, spaces aside
    at = [line.split(', at ')[1] for line in progress if ', at ' in line]
    assert set(at) <= {'Epoch(train) [1][50/235]', 'Iter(train) [100/1000]'}
    assert at[-1] == 'Iter(train) [100/1000]'
    assert printed.splitlines()[-1].endswith(': it ended')
    assert 'loss' not in printed and 'config dump' not in printed
    assert open(log).read() == ('a config dump, say\nEpoch(train)  [1][ 50/235]  lr: 1.0e-02  '
                                'loss: 0.5\nIter(train) [  100/1000]  loss: 0.4\n')


def test_an_outcome_that_does_not_read_fails_the_step(tmp_path, capfd):
    log = str(tmp_path / 'main_job.log')
    with pytest.raises(runs.StepFailed, match='holds no mmengine run'):
        runs.run_tool('-c', 'print("no run here")', log=log,
                      outcome=lambda: str(runs.logged_metrics(str(tmp_path))))
    printed = capfd.readouterr().out
    assert 'what it wrote does not read: StepFailed' in printed and '  | no run here' in printed


def test_work_in_the_job_logs_its_output_and_says_its_outcome(tmp_path, capfd):
    log = str(tmp_path / 'main_job.log')

    def work(x, scale=1):
        print('a flood of lines')
        return x * scale

    assert runs.run_here('the work', log, work, 2, scale=3, outcome=lambda r: f'got {r}') == 6
    printed = capfd.readouterr().out
    assert printed.splitlines()[1:] == ['# in the job: the work', f'  log: {log}',
                                        printed.splitlines()[-1]]
    assert printed.splitlines()[-1].startswith('  done in ') and printed.endswith(': got 6\n')
    assert open(log).read() == 'a flood of lines\n'

    def broken():
        print('before it broke')
        raise ValueError('no such thing')

    with pytest.raises(runs.StepFailed, match='the broken work failed: no such thing'):
        runs.run_here('the broken work', log, broken)
    printed = capfd.readouterr().out
    assert '  failed after 0 s: ValueError: no such thing' in printed
    assert '  | before it broke' in printed and '  | ValueError: no such thing' in printed
    assert printed.rstrip().endswith(f'  the whole log: {log}')
    print('the terminal is back')
    assert capfd.readouterr().out == 'the terminal is back\n'
