"Smoke runs of the benchmark scripts (`--quick`): they must keep working; their numbers are read by people, not asserted."
import subprocess, sys, os
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

@pytest.mark.parametrize('script', ['train_step.py', 'dataloader.py', 'epoch.py'])
def test_bench_quick(script):
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    r = subprocess.run([sys.executable, str(ROOT/'bench'/script), '--quick'], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert 'x' in r.stdout
