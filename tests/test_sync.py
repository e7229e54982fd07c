"Notebooks are the source: exporting and cleaning them must leave the package and notebooks unchanged."
import subprocess, shutil
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

def _status():
    return subprocess.run(['git', 'status', '--porcelain', '--', 'dcal_fast', 'nbs'], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout

@pytest.mark.skipif(not (ROOT/'.git').exists() or shutil.which('git') is None, reason='needs a git checkout')
def test_export_and_clean_leave_tree_unchanged():
    before = _status()
    for cmd in (['nbdev-export'], ['nbdev-clean']):
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    after = _status()
    assert after == before, f"nbdev-export / nbdev-clean changed files; run them and commit:\n{after}"
