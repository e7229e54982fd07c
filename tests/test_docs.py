"""The documentation site builds (Sphinx, warnings as errors) and works in a real browser, offline; README.md is current.

The browser checks drive Debian's Chromium through Playwright (`executable_path`: no browser download). Where
Chromium is absent they skip, saying so, except in CI (CI set), where they must run. Screenshots go to _screenshots/."""
import functools, http.server, os, re, shutil, subprocess, sys, threading
from pathlib import Path
from urllib.parse import urlsplit, unquote
import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT/'tools'/'docs.py'
SHOTS = ROOT/'_screenshots'
CHROMIUM = next((p for p in map(shutil.which, ('chromium', 'chromium-browser', 'google-chrome')) if p), None)

def _run(*args):
    return subprocess.run([sys.executable, str(TOOL), *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, 'OMP_NUM_THREADS': '1'})

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "The site built once, with every Sphinx warning an error (saved outputs only: no notebook is executed)"
    dest = tmp_path_factory.mktemp('site')/'_docs'
    r = _run('build', '--dest', str(dest), '--strict')
    assert r.returncode == 0, f'docs build failed (warnings are errors):\n{r.stdout[-5000:]}\n{r.stderr[-5000:]}'
    return dest

def _html(site, page): return (site/f'{page}.html').read_text()

def test_pages_tables_and_clean_outputs(site):
    "A page per notebook; docments as parameter tables; progress bars, dependency warnings and tutorial tests gone"
    for nb in (ROOT/'nbs').glob('*.ipynb'):
        page = re.sub(r'^\d+[a-z]?_', '', nb.stem)
        assert (site/f'{page}.html').is_file(), f'{nb.name}: no page {page}.html'
    learner = _html(site, 'learner')
    entry = learner[learner.index('id="dcal_fast.learner.dcal_learner"'):][:60000]
    table = entry[:entry.index('</table>')]
    for arg in ('dls', 'arch', 'pretrained', 'recipe', 'head_lr', 'label_smoothing'):
        assert f'<code class="docutils literal notranslate"><span class="pre">{arg}</span></code></p></td>' in table, f'{arg} not in the table'
    assert 'the recipe' in table, "docments comments missing from dcal_learner's table"
    assert 'href="https://docs.fast.ai/' in learner, 'no link to fastai'
    assert 'href="https://docs.pytorch.org/' in _html(site, 'model'), 'no link to PyTorch'
    for f in site.glob('*.html'):
        text = f.read_text()
        assert '█' not in text and '\r' not in text and '|----' not in text, f'{f.name}: progress bar left'
        assert 'FutureWarning' not in text and 'site-packages' not in text, f'{f.name}: a dependency warning shows'
    for page in ('tutorial_fgvc', 'tutorial_reid'):
        assert 'test_eq' not in _html(site, page) and 'assert ' not in _html(site, page), f'{page}: test lines show'
    assert 'epoch' in _html(site, 'tutorial_fgvc') and 'train_loss' in _html(site, 'tutorial_fgvc')
    assert not re.search(r'src="https?://|href="https?://[^"]+\.(css|js)"', ''.join(f.read_text() for f in site.glob('*.html'))), \
        'a page loads a script, style sheet or image from the internet'

@pytest.fixture(scope='module')
def browser():
    try: from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get('CI'): raise
        pytest.skip('playwright is not installed: pip install -e ".[dev]"')
    if CHROMIUM is None:
        if os.environ.get('CI'): pytest.fail('Chromium is missing in CI: .ci/run installs it (apt-get install -y chromium)')
        pytest.skip('Chromium is not installed (Debian: apt-get install -y chromium): browser checks of the site skipped')
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox'])
        yield b
        b.close()

_LOCAL = ('file:', 'data:', 'blob:', 'http://127.0.0.1:')
class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass

def test_site_in_chromium(site, browser):
    "Search, math, the home figure, 400 px phones, every internal link and anchor; screenshots for people to look at"
    SHOTS.mkdir(exist_ok=True)
    problems, external, ids, links = [], [], {}, []
    ctx = browser.new_context(viewport={'width': 400, 'height': 800})
    page = ctx.new_page()
    page.on('request', lambda r: external.append(r.url) if not r.url.startswith(_LOCAL) else None)
    pages = sorted(f for f in site.rglob('*.html') if '_sources' not in f.parts)
    for f in pages:
        page.goto(f.as_uri())
        rel = f.relative_to(site).as_posix()
        w = page.evaluate('document.documentElement.scrollWidth')
        if w > 401: problems.append(f'{rel}: scrolls sideways at 400 px ({w} px wide)')
        ids[rel] = set(page.evaluate('[...document.querySelectorAll("[id]")].map(e => e.id)'))
        links += [(rel, h) for h in page.evaluate('[...document.querySelectorAll("a[href]")].map(a => a.href)')]
        broken = page.evaluate('[...document.querySelectorAll("main img")].filter(i => !i.complete || !i.naturalWidth).map(i => i.src)')
        problems += [f'{rel}: image does not load: {s}' for s in broken]
    for src, url in links:
        u = urlsplit(url)
        if u.scheme != 'file': continue
        target = Path(unquote(u.path))
        if not target.exists(): problems.append(f'{src}: broken link {url}'); continue
        rel = target.relative_to(site).as_posix() if target.is_file() else None
        if u.fragment and rel in ids and unquote(u.fragment) not in ids[rel]: problems.append(f'{src}: broken anchor {url}')
    page.goto((site/'index.html').as_uri())
    page.screenshot(path=SHOTS/'phone.png')
    page.goto((site/'learner.html').as_uri())
    page.locator('button.primary-toggle').first.click()
    page.wait_for_timeout(400)
    menu = page.locator('dialog[open]')
    if not (menu.count() and menu.get_by_role('link', name='Tutorials').first.is_visible()
            and menu.get_by_text('Re-ID evaluation').first.is_visible()):
        problems.append('phone: the menu button does not open the navigation')
    page.screenshot(path=SHOTS/'phone_menu.png')

    desk = browser.new_page(viewport={'width': 1280, 'height': 900})
    desk.on('request', lambda r: external.append(r.url) if not r.url.startswith(_LOCAL) else None)
    desk.goto((site/'index.html').as_uri())
    hero = desk.evaluate('(() => { const i = document.querySelector("img.hero"); return i && i.complete ? i.naturalWidth : 0 })()')
    if hero < 500: problems.append(f'home: the attention-map figure does not load (width {hero})')
    desk.screenshot(path=SHOTS/'home.png')
    desk.goto((site/'losses.html').as_uri())
    body = desk.inner_text('main')
    if '$' in body or '\\frac' in body: problems.append('losses: raw TeX shows')
    n_math = desk.evaluate('[...document.querySelectorAll("main math")].filter(m => m.getBoundingClientRect().width > 0).length')
    if n_math < 10: problems.append(f'losses: only {n_math} formulas rendered')
    desk.goto((site/'learner.html').as_uri() + '#dcal_fast.learner.dcal_learner')
    desk.wait_for_timeout(300)
    desk.screenshot(path=SHOTS/'learner.png')
    desk.locator('dl.py:has([id="dcal_fast.learner.dcal_learner"])').first.screenshot(path=SHOTS/'learner_dcal_learner.png')
    desk.goto((site/'tutorial_fgvc.html').as_uri())
    table = desk.locator('pre', has_text='train_loss').first
    table.scroll_into_view_if_needed(); desk.evaluate('window.scrollBy(0, -300)')
    desk.screenshot(path=SHOTS/'tutorial_training.png')
    # search, served as a web server would (on 127.0.0.1), where results also show the matching text
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        for word in ('swin', 'distractor'):   # words of body text, not of any title
            desk.goto(f'http://127.0.0.1:{srv.server_port}/search.html?q={word}')
            try: desk.wait_for_selector('#search-results li p.context', timeout=15000)
            except Exception: problems.append(f'search: nothing found for {word!r}'); continue
            if word == 'swin': desk.screenshot(path=SHOTS/'search.png')
    finally: srv.shutdown(); srv.server_close()
    desk.goto((site/'index.html').as_uri())
    desk.keyboard.press('Control+k')
    if not desk.locator('.search-button__search-container input, #pst-search-dialog input').first.is_visible():
        problems.append('Ctrl+K does not open the search box')
    if external: problems.append(f'requests leave the site (it must work offline): {sorted(set(external))[:5]}')
    assert not problems, '\n'.join(problems)

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
