"The documentation site and README build offline (tools/docs.py, no Quarto): every page, symbol, figure and link is there."
import importlib.util, re, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT/'tools'/'docs.py'

def _run(*args):
    return subprocess.run([sys.executable, str(TOOL), *args], cwd=ROOT, capture_output=True, text=True)

def _docs_module():
    spec = importlib.util.spec_from_file_location('docs_tool', TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "The site built once into a temporary folder (saved outputs only: no notebook is executed)"
    dest = tmp_path_factory.mktemp('site')/'_docs'
    r = _run('build', '--dest', str(dest))
    assert r.returncode == 0, f'docs build failed:\n{r.stdout}\n{r.stderr}'
    return dest

def test_every_notebook_and_module_has_a_page(site):
    docs = _docs_module()
    nbs = [p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_')]
    for nb in nbs: assert (site/docs.nbpath2html(Path(nb.name))).is_file(), nb.name
    mods = [p.stem for p in (ROOT/'dcal_fast').glob('*.py') if p.stem not in ('__init__', '_modidx')]
    assert mods, 'no modules exported'
    for f in ('genindex.html', 'search_index.js', 'search.js', 'style.css'): assert (site/f).is_file(), f
    index = (site/'index.html').read_text()
    for nb in nbs: assert f'href="{docs.nbpath2html(Path(nb.name)).name}"' in index, f'{nb.name} missing from the sidebar'

def test_site_check_passes(site):
    "Module pages, a show_doc (with signature) per public function/class, every saved figure, every relative link"
    r = _run('check', '--dest', str(site))
    assert r.returncode == 0, r.stdout + r.stderr

def test_show_doc_entries(site):
    "show_doc: anchor named as in _modidx, signature, docstring; the symbol index links to it"
    html = (site/'attention.html').read_text()
    sec = re.search(r'<section class="showdoc"><h3 id="attention_rollout">(.*?)</section>', html, re.S)
    assert sec, 'attention_rollout has no show_doc entry'
    assert re.search(r'<span class="k">def</span>.*attention_rollout', sec.group(1), re.S)
    from dcal_fast.attention import attention_rollout
    first_words = [w for w in attention_rollout.__doc__.split() if w.isalnum()][:3]
    assert all(w in sec.group(1) for w in first_words), 'docstring not shown'
    assert 'href="attention.html#attention_rollout"' in (site/'genindex.html').read_text()
    assert '#| export' not in html and '#| hide' not in html, 'nbdev directives leaked into the page'

def test_checker_catches_breakage(site, tmp_path):
    "The checks can fail: a broken link, a broken anchor, a removed page and a missing figure are all reported"
    docs = _docs_module()
    bad = tmp_path/'site'
    shutil.copytree(site, bad)
    page = bad/'attention.html'
    page.write_text(page.read_text().replace('</main>', '<a href="nowhere.html">x</a><a href="model.html#no-such-anchor">y</a></main>'))
    (bad/'losses.html').unlink()
    figs = sorted(bad.glob('*_files/*.png'))
    if figs:
        owner = bad/(figs[0].parent.name.removesuffix('_files') + '.html')
        owner.write_text(owner.read_text().replace(f'src="{figs[0].parent.name}/{figs[0].name}"', 'src="gone.png"', 1))
    problems = '\n'.join(docs.Site(ROOT).check(bad))
    assert 'broken link nowhere.html' in problems
    assert 'broken anchor model.html#no-such-anchor' in problems
    assert 'no page losses.html' in problems
    if figs: assert 'gone.png' in problems

def test_readme_check(tmp_path):
    "readme --check passes on the file `readme` writes and fails once it differs"
    out = tmp_path/'README.md'
    assert _run('readme', '--out', str(out)).returncode == 0
    text = out.read_text()
    assert text.startswith('# ') and '{target=' not in text and '#| ' not in text
    assert _run('readme', '--check', '--out', str(out)).returncode == 0
    out.write_text(text + '\nedited by hand\n')
    r = _run('readme', '--check', '--out', str(out))
    assert r.returncode == 1 and 'out of date' in r.stdout

def test_readme_is_up_to_date():
    "README.md is generated from nbs/index.ipynb: regenerate it with `python tools/docs.py readme`"
    r = _run('readme', '--check')
    assert r.returncode == 0, r.stdout + r.stderr
