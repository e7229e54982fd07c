"""Author notebooks as jupytext percent scripts, then turn them into the executed, cleaned notebooks of `nbs/`.

    python tools/nb.py build SRC.py [SRC2.py ...]   # SRC.py -> nbs/SRC.ipynb, executed with outputs, exported, cleaned
    python tools/nb.py script nbs/NAME.ipynb        # the reverse, to edit an existing notebook as a script

Cells flagged `slow`/`cuda` are not executed (their outputs stay empty), as in the tests."""
import sys, subprocess
from pathlib import Path
from nbdev.test import test_nb
from nbdev.config import get_config

ROOT = Path(__file__).resolve().parents[1]
KERNELSPEC = '{"kernelspec": {"display_name": "python3", "language": "python", "name": "python3"}}'

def build(srcs):
    flags = get_config(ROOT).tst_flags.split()
    for src in map(Path, srcs):
        nb = ROOT/'nbs'/(src.stem + '.ipynb')
        # the kernelspec as metadata, not `--set-kernel` (which needs jupyter_client and an installed kernel)
        subprocess.run(['jupytext', '--quiet', '--update-metadata', KERNELSPEC, '--to', 'ipynb', '-o', str(nb), str(src)], check=True)
        ok, secs = test_nb(nb, skip_flags=flags, save=True, basepath=ROOT)
        print(f"{nb.name}: {'ok' if ok else 'FAILED'} in {secs:.1f}s")
        if not ok: sys.exit(1)
    subprocess.run(['nbdev-export'], cwd=ROOT, check=True)
    subprocess.run(['nbdev-clean'], cwd=ROOT, check=True)

def script(nbs):
    for nb in nbs: subprocess.run(['jupytext', '--to', 'py:percent', '-o', str(Path(nb).with_suffix('.py').name), nb], check=True)

if __name__ == '__main__':
    {'build': build, 'script': script}[sys.argv[1]](sys.argv[2:])
