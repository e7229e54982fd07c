"The `dcal_fast` console command as a user runs it (in a subprocess): help for every subcommand, clear errors."
import subprocess, sys, os
import pytest

def run(*args):
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    return subprocess.run([sys.executable, '-m', 'dcal_fast.cli', *args], capture_output=True, text=True, env=env, timeout=300)

@pytest.mark.parametrize('cmd,options', [('demo', ['--out', '--epochs', '--classes', '--per-class']),
                                         ('train', ['--data', '--arch', '--recipe', '--pretrained', '--weights', '--img-size', '--top-r', '--pairs', '--no-glca', '--no-pwca']),
                                         ('eval', ['--learner', '--data'])])
def test_help_documents_every_option(cmd, options):
    r = run(cmd, '--help')
    assert r.returncode == 0, r.stderr
    for o in options: assert o in r.stdout, (cmd, o)

def test_bad_data_name_lists_the_readers():
    r = run('eval', '--learner', 'x.pkl', '--data', 'imagenet:/data')
    assert r.returncode == 2
    assert 'cub200' in r.stderr and 'market1501' in r.stderr and 'NAME:PATH' in r.stderr

def test_demo_writes_its_outputs(tmp_path):
    r = run('demo', '--out', str(tmp_path), '--epochs', '1', '--classes', '2', '--per-class', '8')
    assert r.returncode == 0, r.stderr[-3000:]
    assert {'export.pkl', 'metrics.csv', 'attention.png', 'loss_weights.png'} <= {p.name for p in tmp_path.iterdir()}
    assert 'validation accuracy' in r.stdout
