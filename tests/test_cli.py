"The `dcal_fast` console command as a user runs it (`python -m dcal_fast.cli`, in a subprocess): help, the demo's outputs, eval, errors."
import os, re, shutil, subprocess, sys
from pathlib import Path
import pandas as pd
import pytest
from dcal_fast.cli import build_parser, READERS

ROOT = Path(__file__).resolve().parents[1]

def run(*args, timeout=300):
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(ROOT) + os.pathsep + os.environ.get('PYTHONPATH', '')}
    return subprocess.run([sys.executable, '-W', 'ignore', '-m', 'dcal_fast.cli', *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=ROOT)

def _subparser(cmd): return build_parser()._subparsers._group_actions[0].choices[cmd]

@pytest.mark.parametrize('cmd', ['train', 'eval', 'check', 'demo'])
def test_help_documents_every_option(cmd):
    r = run(cmd, '--help')
    assert r.returncode == 0, r.stderr
    options = [o for a in _subparser(cmd)._actions for o in a.option_strings]
    assert len(options) > 3
    for o in options: assert re.search(rf'(^|[\s,\[]){re.escape(o)}\b', r.stdout), (cmd, o)
    for a in _subparser(cmd)._actions: assert a.help, (cmd, a.option_strings)

def test_required_options_are_listed():
    train = {o for a in _subparser('train')._actions for o in a.option_strings}
    assert {'--data', '--recipe', '--arch', '--pretrained', '--no-pretrained', '--weights', '--epochs', '--bs', '--img-size',
            '--out', '--no-glca', '--no-pwca', '--pairs', '--top-r'} <= train
    assert {'--learner', '--data'} <= {o for a in _subparser('eval')._actions for o in a.option_strings}

def test_bad_data_name_lists_the_readers(tmp_path):
    r = run('train', '--data', 'imagenet:/data', '--out', str(tmp_path))
    assert r.returncode == 2, r.stderr
    assert "unknown reader 'imagenet'" in r.stderr and 'Traceback' not in r.stderr
    for name in READERS: assert name in r.stderr, name
    r = run('eval', '--learner', str(tmp_path/'x.pkl'), '--data', 'cub200')
    assert r.returncode == 2 and 'NAME:PATH' in r.stderr

def test_missing_data_folder_is_a_clear_error(tmp_path):
    r = run('train', '--data', f'cub200:{tmp_path/"nowhere"}', '--out', str(tmp_path))
    assert r.returncode == 2 and 'Traceback' not in r.stderr and 'cub200' in r.stderr, r.stderr[-2000:]

def test_demo_writes_its_outputs_and_beats_chance(tmp_path):
    out = tmp_path/'demo'
    r = run('demo', '--out', str(out), '--epochs', '4', '--n-classes', '4', '--n-train', '24', '--n-test', '8')
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out/'export.pkl').is_file()
    pngs = sorted(out.glob('attention_*.png'))
    assert len(pngs) == 4 and all(p.stat().st_size > 1000 for p in pngs)
    table = pd.read_csv(out/'metrics.csv')
    assert len(table) == 4 and {'epoch', 'train_loss', 'valid_loss', 'accuracy'} <= set(table.columns)
    m = re.search(r'final accuracy ([\d.]+) vs chance ([\d.]+)', r.stdout)
    assert m, r.stdout[-2000:]
    acc, chance = map(float, m.groups())
    assert chance == 0.25 and acc == pytest.approx(table.accuracy.iloc[-1], abs=1e-3)
    assert acc > 1.5 * chance, r.stdout[-2000:]     # measured 0.66 (seed 0); chance 0.25
    # the exported learner evaluates to the same accuracy on the demo data written beside it
    r = run('eval', '--learner', str(out/'export.pkl'), '--out', str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    ev = pd.read_csv(out/'eval_metrics.csv')
    assert ev.accuracy.iloc[0] == pytest.approx(table.accuracy.iloc[-1], abs=1e-6)

def test_reproduce_tutorial_commands_parse():
    "The commands printed in the 'Reproduce the paper' tutorial are valid for this parser"
    import re, shlex
    from pathlib import Path
    from dcal_fast.cli import build_parser
    import nbformat
    nb = nbformat.read(Path(__file__).resolve().parents[1]/'nbs'/'12_reproduce_paper.ipynb', as_version=4)
    cmds = [m.group(1) for c in nb.cells for m in re.finditer(r"!dcal_fast (.*)", c.source)]
    assert len(cmds) >= 4, cmds
    for c in cmds: build_parser().parse_args(shlex.split(c))

@pytest.mark.skipif(shutil.which('dcal_fast') is None, reason='the dcal_fast console script is not installed (pip install -e .)')
def test_console_script_exits_zero(tmp_path):
    "The installed `dcal_fast` entry point (sys.exit(main())) succeeds, as the README's main job runs it"
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    r = subprocess.run(['dcal_fast', 'demo', '--out', str(tmp_path), '--epochs', '1', '--n-classes', '2', '--n-train', '24', '--n-test', '4'],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])

def test_ctrl_c_then_resume_gives_the_uninterrupted_result(tmp_path):
    "A real `dcal_fast demo` interrupted with SIGINT (Ctrl-C) after two of 8 epochs, then `--resume`: the uninterrupted run's metrics"
    import signal, time
    opts = ['--epochs', '8', '--n-classes', '4', '--n-train', '24', '--n-test', '8', '--n-maps', '0']   # 6 epochs left to interrupt, even on a loaded machine
    full = run('demo', '--out', str(tmp_path/'full'), *opts)
    assert full.returncode == 0, full.stderr[-3000:]
    out = tmp_path/'cut'
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(ROOT) + os.pathsep + os.environ.get('PYTHONPATH', '')}
    proc = subprocess.Popen([sys.executable, '-W', 'ignore', '-m', 'dcal_fast.cli', 'demo', '--out', str(out), *opts],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    t0 = time.time()
    while time.time() - t0 < 300:   # until the second epoch's row is in metrics.csv (written with its checkpoint)
        if (out/'metrics.csv').is_file() and len(pd.read_csv(out/'metrics.csv')) >= 2: break
        if proc.poll() is not None: break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before its second epoch's row was seen: nothing left to interrupt"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert 'interrupted' in err and f'--resume {out}' in err and 'Traceback' not in err, err[-3000:]
    assert not (out/'export.pkl').exists()
    r = run('demo', '--resume', str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    got, want = (pd.read_csv(d/'metrics.csv').drop(columns='seconds') for d in (out, tmp_path/'full'))
    pd.testing.assert_frame_equal(got, want)
    assert (out/'export.pkl').is_file()

def _launch(*args, n=2, timeout=600):
    "`accelerate launch` of the command on `n` CPU processes (gloo), as a user starts data-parallel training"
    pytest.importorskip('accelerate')
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'ACCELERATE_USE_CPU': '1',
           'PYTHONPATH': str(ROOT) + os.pathsep + os.environ.get('PYTHONPATH', '')}
    launcher = [sys.executable, '-m', 'accelerate.commands.launch', '--multi_gpu', '--num_processes', str(n),
                '--num_machines', '1', '--mixed_precision', 'no', '--dynamo_backend', 'no', '--main_process_port', str(_free_port())]
    return subprocess.run([*launcher, '-m', 'dcal_fast.cli', *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)

def _free_port():
    import socket
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def test_accelerate_launch_trains_one_model_on_two_processes(tmp_path):
    "Issue 15: `accelerate launch -m dcal_fast.cli demo/train` with the same options trains data-parallel: said and written once, metrics on the whole query/gallery"
    out = tmp_path/'ddp'
    r = _launch('demo', '--task', 'reid', '--out', str(out), '--epochs', '2', '--n-classes', '4', '--n-train', '4', '--n-test', '4',
                '--bs', '8', '--k', '2')
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert r.stdout.count('data-parallel: 2 processes (gloo), each 4 of every global batch of 8') == 1, r.stdout[-2000:]
    assert r.stdout.count('final mAP') == 1 and r.stdout.count('data: generated birds') == 1
    table = pd.read_csv(out/'metrics.csv')
    assert len(table) == 2 and (out/'export.pkl').is_file() and (out/'model'/'config.json').is_file()
    # the final metrics were computed once on the gathered query + gallery: one process evaluating the exported
    # weights on the same data finds the same values
    r = run('eval', '--learner', str(out/'export.pkl'), '--out', str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    ev = pd.read_csv(out/'eval_metrics.csv')
    for k in ('mAP', 'rank1', 'mINP'): assert ev[k].iloc[0] == pytest.approx(table[k].iloc[-1], abs=1e-5), k
    # a global batch whose P identities cannot be split evenly over the processes is a clear error, before training
    r = _launch('demo', '--task', 'reid', '--out', str(tmp_path/'bad'), '--epochs', '1', '--n-classes', '4', '--n-train', '4',
                '--n-test', '4', '--bs', '6', '--k', '2')
    assert r.returncode != 0 and 'P=3 identities per batch' in r.stderr and 'not divisible by the world size 2' in r.stderr, r.stderr[-3000:]
    assert 'dcal_fast demo: error: distributed P×K batches' in r.stderr and '[rank0]: Traceback' not in r.stderr, r.stderr[-3000:]   # our one line, not a traceback (the launcher adds its own report)

def test_hat_and_unsupervised_exports_evaluate(tmp_path):
    "`dcal_fast eval --learner` reads the exports of `--model hat` and of `--unsupervised` (their classes are allowlisted) and finds the last epoch's mAP"
    for name, extra in (('hat', ['--task', 'reid', '--model', 'hat', '--epochs', '1']), ('unsup', ['--unsupervised', '--epochs', '2'])):
        out = tmp_path/name
        r = run('demo', '--out', str(out), *extra)
        assert r.returncode == 0, r.stderr[-3000:]
        r = run('eval', '--learner', str(out/'export.pkl'), '--out', str(out))
        assert r.returncode == 0 and 'allowlist' not in r.stderr, r.stderr[-3000:]
        ev, table = pd.read_csv(out/'eval_metrics.csv'), pd.read_csv(out/'metrics.csv')
        assert ev.mAP.iloc[0] == pytest.approx(table.mAP.iloc[-1], abs=1e-5), name
