"The readers of `dcal_fast.datasets` must stay usable without the training stack (pandas and scipy only)."
import subprocess, sys

def test_datasets_imports_without_torch_or_fastai():
    code = ("import sys, dcal_fast.datasets; "
            "print(sorted(m for m in ('torch', 'fastai', 'fastcore', 'timm') if m in sys.modules))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == '[]', f"importing dcal_fast.datasets pulled in {out}"
