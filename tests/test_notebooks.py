"""Every notebook in `nbs/` is a test: its cells run top to bottom and any failing `test_eq` fails it.

Cells flagged with one of nbdev's `tst_flags` (`slow`, `cuda`; see pyproject.toml) are skipped unless
the flag is listed in the environment variable `DCAL_TEST_FLAGS`, e.g. `DCAL_TEST_FLAGS=slow pytest`."""
import os
from pathlib import Path
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))

def _flags():
    known = set(get_config(ROOT).tst_flags.split())
    wanted = set(os.environ.get('DCAL_TEST_FLAGS', '').split())
    unknown = wanted - known
    if unknown: raise ValueError(f"DCAL_TEST_FLAGS names {sorted(unknown)}; known flags are {sorted(known)}")
    return sorted(known - wanted)

@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_notebook(nb):
    ok, secs = run_notebook(nb, skip_flags=_flags(), basepath=ROOT)
    assert ok, f"{nb.name} failed (its traceback is printed above)"
