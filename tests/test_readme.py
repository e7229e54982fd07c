"The README's quick start is what CI runs: its test command must be the one in .ci/run, and the main job must exist."
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def _readme_commands():
    block = re.search(r"```bash\n(.*?)```", (ROOT/'README.md').read_text(), re.S)
    assert block, "README.md has no ```bash quick-start block"
    return [l.split('#')[0].strip() for l in block.group(1).splitlines() if l.strip()]

def test_ci_runs_the_readme_test_command():
    ci = [l.strip() for l in (ROOT/'.ci'/'run').read_text().splitlines() if l.strip() and not l.lstrip().startswith('#')]
    test_cmd = [c for c in _readme_commands() if 'pytest' in c]
    assert len(test_cmd) == 1, f"README should have one test command, found {test_cmd}"
    assert test_cmd[0] in ci, f"{test_cmd[0]!r} is not a line of .ci/run"

def test_main_job_is_a_console_script():
    main = [c for c in _readme_commands() if 'pytest' not in c]
    assert main and 'dcal_fast demo' in main[0], main
    assert 'dcal_fast=dcal_fast.cli:main' in (ROOT/'settings.ini').read_text()
