"""Notebooks are the source: exporting and cleaning them must leave the package and notebooks unchanged.

The check needs a clean tree: uncommitted changes under `dcal_fast/` or `nbs/` could hide drift (an export that
rewrites an already modified file shows no new change), so a dirty tree fails the test, listing the files."""
import subprocess, shutil
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ['dcal_fast', 'nbs']

def _status():
    return subprocess.run(['git', 'status', '--porcelain', '--', *CHECKED], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout

@pytest.mark.skipif(not (ROOT/'.git').exists() or shutil.which('git') is None, reason='needs a git checkout')
def test_export_and_clean_leave_tree_unchanged():
    dirty = _status()
    if dirty: pytest.fail(f"{' and '.join(f'{p}/' for p in CHECKED)} must be committed before this check (uncommitted "
                          f"changes would hide what nbdev-export / nbdev-clean change); uncommitted:\n{dirty}", pytrace=False)
    for cmd in (['nbdev-export'], ['nbdev-clean']):
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    changed = _status()
    if changed: pytest.fail(f"nbdev-export / nbdev-clean changed files; run them and commit:\n{changed}", pytrace=False)
