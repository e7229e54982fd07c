"Smoke run of the Re-ID evaluation benchmark: it runs, and the fast and reference implementations agree (it exits non-zero otherwise)."
import subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_bench_reid_eval_quick():
    p = subprocess.run([sys.executable, str(ROOT/'bench'/'reid_eval.py'), '--quick'], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert 'agreement on the sample' in p.stdout and ': ok' in p.stdout, p.stdout
    assert 'dense re_ranking' in p.stdout, p.stdout
