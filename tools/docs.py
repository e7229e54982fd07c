"""Build the documentation site and README.md from the notebooks: offline, from PyPI packages only, no Quarto.

    python tools/docs.py build  [--dest _docs]           # nbs/*.ipynb -> static HTML site in doc_path (gitignored)
    python tools/docs.py check  [--dest _docs]           # a page per module, every public symbol documented,
                                                         # every figure shown, no broken relative link or anchor
    python tools/docs.py readme [--check] [--out README.md]  # nbs/index.ipynb -> README.md (--check: fail if stale)

Why not `nbdev-docs`/`nbdev-readme`: they run Quarto, a binary that PyPI does not provide. They keep working
wherever Quarto is installed: this tool writes nothing under nbs/ and only builds into doc_path.

How it stays faithful to nbdev: every notebook goes through nbdev's own processors (title/description
frontmatter, `#| hide`, removal of `#| export` source, a show_doc entry after each exported function or class,
`#| exports`, `hide_line`, `filter_stream`), and pages and anchors get the names nbdev gives them
(`00_attention.ipynb` -> `attention.html#attention_rollout`), so the links in `_modidx.py` resolve here too.
Nothing is executed: saved outputs are rendered as saved (figures are written next to each page as PNG files).
show_doc entries are rendered with fastcore's `MarkdownRenderer` (what `nbdev.showdoc.show_doc` uses) on the
objects imported from the exported package, so `@delegates`/`@patch` signatures are the real ones; a module that
does not import falls back to the notebook's source (counted and reported). Markdown is rendered by
markdown-it-py (with mdit-py-plugins for `$math$`, typeset by MathJax when online) and code by Pygments:
all three are already installed with jupytext and pytest. The search box is client-side JavaScript over
`search_index.js` (works from file:// too); `genindex.html` lists every documented symbol."""
import argparse, ast, base64, configparser, html, importlib, inspect, json, re, shutil, sys, time, warnings
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit, unquote

from fastcore.xtras import working_directory
from fastcore.nbio import read_nb
from fastcore.docments import MarkdownRenderer
from nbdev.config import get_config, nbpath2html
from nbdev.process import NBProcessor, Processor
from nbdev.frontmatter import FrontmatterProc
from nbdev.processors import (populate_language, add_show_docs, strip_ansi, hide_line, filter_stream_, rm_header_dash,
                              rm_export, ai_magics, clean_magics, hide_, mv_exports, strip_hidden_metadata)
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name, PythonLexer
from pygments.util import ClassNotFound

ROOT = Path(__file__).resolve().parents[1]
MARKER = '.docs_built_by_tools_docs'
_re_ansi = re.compile(r'\x1B(?:[@-Z\\-_]|\[[0-?]*[ -/]*[@-~])')
_re_default_exp = re.compile(r'^\s*#\|\s*default_exp\s+(\S+)', re.MULTILINE)
_re_src_nb = re.compile(r'File to edit: \.\./nbs/(\S+?\.ipynb)')
_EXTERNAL = ('http:', 'https:', 'mailto:', 'data:', 'javascript:', 'ftp:', '//')

def _is_external(url): return url.lower().startswith(_EXTERNAL)
def _text(x): return ''.join(x) if isinstance(x, list) else (x or '')
def _esc(s): return html.escape(str(s), quote=True)

def _settings(root):
    "Metadata nbdev 3 does not read from settings.ini (the project's single source): description, git_url, branch"
    p = configparser.ConfigParser()
    p.read(Path(root)/'settings.ini')
    return dict(p['DEFAULT']) if p.has_section('DEFAULT') or p.defaults() else {}

def default_exp(nb):
    for c in nb.cells:
        if c.cell_type == 'code' and (m := _re_default_exp.search(_text(c.source))): return m.group(1)

class tag_show_docs(Processor):
    "Give each show_doc cell that `add_show_docs` inserted the module and source of the exported cell above it"
    def begin(self):
        dflt = default_exp(self.nb)
        mod, src = dflt, ''
        for c in self.nb.cells:
            if c.get('has_sd'): c.sd_mod, c.sd_src = mod, src
            elif c.cell_type == 'code' and ({'export', 'exports'} & c.directives_.keys()):
                mod = (c.directives_.get('export') or c.directives_.get('exports') or dflt or '').strip() or dflt
                src = c.source

def process_nb(path):
    "Notebook at `path` after nbdev's doc processors, minus the ones that execute code or emit Quarto syntax"
    nb = read_nb(path)
    nb.default_exp_ = default_exp(nb)
    procs = [FrontmatterProc, populate_language, add_show_docs, tag_show_docs, strip_ansi, hide_line, filter_stream_,
             rm_header_dash, rm_export, ai_magics, clean_magics, hide_, mv_exports, strip_hidden_metadata]
    NBProcessor(nb=nb, procs=procs, rm_directives=True).process()
    return nb, dict(getattr(nb, 'frontmatter_', {}) or {})

def show_doc_call(cell):
    "`(name, display_name)` of a hand-written `show_doc(sym[, name=...])` cell, else None"
    if cell.cell_type != 'code' or not re.match(r'\s*show_doc\(', cell.source): return None
    try: tree = ast.parse(cell.source).body
    except SyntaxError: return None
    if len(tree) != 1 or not isinstance(tree[0], ast.Expr) or not isinstance(tree[0].value, ast.Call): return None
    call = tree[0].value
    if not call.args: return None
    nm = ast.unparse(call.args[0])
    if not re.fullmatch(r'[A-Za-z_][\w.]*', nm): return None
    disp = next((k.value.value for k in call.keywords if k.arg == 'name' and isinstance(k.value, ast.Constant)), None)
    return nm, disp or nm

def slugify(text):
    "Pandoc/Quarto-style identifier: lowercase, punctuation dropped except `_-.`, spaces to dashes"
    s = re.sub(r'<[^>]+>', '', text).strip().lower()
    s = re.sub(r'[^\w\s.-]', '', s)
    s = re.sub(r'\s+', '-', s)
    s = re.sub(r'^[^a-z_]+', '', s)
    return s or 'section'

class Page:
    "One notebook's page: its file names and the registry of element ids (kept unique)"
    def __init__(self, nb_path, nbs):
        self.nb_path, self.name = nb_path, nbpath2html(nb_path.relative_to(nbs)).as_posix()
        self.files_dir = Path(self.name).stem + '_files'
        self.ids, self.toc, self.symbols, self.n_images = set(), [], [], 0
    def new_id(self, base):
        i, cand = 0, base
        while cand in self.ids: i += 1; cand = f'{base}-{i}'
        self.ids.add(cand)
        return cand

def _math(content, opts):
    c = _esc(content)
    return f'<div class="math">\\[{c}\\]</div>' if opts.get('display_mode') else f'<span class="math">\\({c}\\)</span>'

def _hl(code, lang, attrs=''):
    try: lexer = get_lexer_by_name(lang) if lang else PythonLexer()
    except ClassNotFound: lexer = get_lexer_by_name('text')
    return f'<pre class="highlight"><code>{highlight(code, lexer, HtmlFormatter(nowrap=True))}</code></pre>\n'

class Site:
    "Render the notebooks of `root` into a static site; `readme_text` renders the README"
    def __init__(self, root=ROOT):
        self.root = Path(root).resolve()
        with working_directory(self.root): self.cfg = get_config(self.root)
        self.meta = _settings(self.root)
        self.nbs, self.lib = Path(self.cfg.nbs_path), Path(self.cfg.lib_path)
        self.pkg = self.lib.name
        self.title = self.cfg.get('title') or self.pkg
        self.md = MarkdownIt('commonmark', {'html': True, 'highlight': _hl}).enable(['table', 'strikethrough'])
        self.md.use(dollarmath_plugin, double_inline=True, renderer=_math)
        self.modules, self.symbols = {}, {}
        self.fallbacks, self.errors, self.skipped = [], [], []

    # ---- symbols
    def module(self, name):
        if name not in self.modules:
            if str(self.root) not in sys.path: sys.path.insert(0, str(self.root))
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter('ignore', FutureWarning)  # dependencies' deprecation notices, not ours
                    self.modules[name] = importlib.import_module(f'{self.pkg}.{name}'), None
            except Exception as e: self.modules[name] = None, f'{type(e).__name__}: {e}'
        return self.modules[name]

    def all_module_names(self):
        return [p.stem for p in sorted(self.lib.glob('*.py')) if p.stem not in ('__init__', '_modidx')]

    def resolve(self, nm, modname):
        "Object named `nm` (`f`, `Class.method`) in module `modname`, else in any exported module"
        cands = [modname] + [m for m in self.all_module_names() if m != modname] if modname else self.all_module_names()
        err = None
        for m in cands:
            mod, e = self.module(m)
            if mod is None:
                if m == modname: err = e
                continue
            obj = mod
            for part in nm.split('.'):
                obj = getattr(obj, part, None)
                if obj is None: break
            if obj is not None: return obj, None
        return None, err or f'{nm} not found in {self.pkg}'

    @staticmethod
    def _from_source(nm, src):
        "show_doc markdown for `nm` from the exported cell's source, when the module cannot be imported"
        try: tree = ast.parse(src)
        except SyntaxError: return None
        last = nm.split('.')[-1]
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == last:
                if isinstance(node, ast.ClassDef):
                    init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == '__init__'), None)
                    args = ast.unparse(init.args).removeprefix('self, ').removeprefix('self') if init else ''
                    kind = 'class'
                else: args, kind = ast.unparse(node.args), 'def'
                doc = ast.get_docstring(node) or ''
                md = f'```python\n{kind} {nm}({args})\n```'
                return md + (f'\n\n*{doc.splitlines()[0]}*' + ''.join('\n' + l for l in doc.splitlines()[1:]) if doc else '')

    def show_doc_md(self, nm, modname, src='', disp=None):
        "Signature + docstring markdown (nbdev's show_doc body), the object (or None), and a one-line summary"
        disp = disp or nm
        obj, err = self.resolve(nm, modname)
        if obj is not None:
            with warnings.catch_warnings(record=True) as ws:
                warnings.simplefilter('always')
                md = MarkdownRenderer(obj, name=disp)._repr_markdown_()
            for w in ws: self.fallbacks.append(f'{disp}: {w.message}')
            if inspect.isclass(obj): md = re.sub(r'^```python\ndef ', '```python\nclass ', md)
            summary = (inspect.getdoc(obj) or '').strip().split('\n')[0]
            return md, obj, summary
        md = self._from_source(nm, src) if src else None
        if md is None:
            self.errors.append(f'show_doc({nm}): {err}')
            return f'*Could not document `{disp}`: {err}*', None, ''
        self.fallbacks.append(f'{nm}: rendered from the notebook source ({err})')
        m = re.search(r'\n\n\*(.*)\*', md)
        return md, None, m.group(1) if m else ''

    def source_url(self, obj):
        git = (self.meta.get('git_url') or '').rstrip('/')
        if not git or obj is None: return None
        try:
            f = Path(inspect.getsourcefile(inspect.unwrap(obj))).resolve()
            line = inspect.getsourcelines(inspect.unwrap(obj))[1]
            rel = f.relative_to(self.root).as_posix()
        except Exception: return None
        return f"{git}/blob/{self.meta.get('branch', 'main')}/{rel}#L{line}"

    # ---- markdown
    def md_html(self, src, page, out_dir=None):
        tokens = self.md.parse(src)
        for i, t in enumerate(tokens):
            if t.type == 'heading_open' and page is not None:
                text = tokens[i+1].content
                hid = t.attrGet('id') or page.new_id(slugify(text))
                t.attrSet('id', hid)
                if t.tag in ('h2', 'h3'): page.toc.append((int(t.tag[1]), text, hid))
            if t.type == 'inline' and t.children: self._fix_inline(t.children, out_dir)
        return self.md.renderer.render(tokens, self.md.options, {})

    def _fix_inline(self, children, out_dir):
        depth = 0
        for t in children:
            if t.type == 'link_open':
                depth += 1
                t.attrSet('href', self._local_url(t.attrGet('href') or '', out_dir))
            elif t.type == 'link_close': depth -= 1
            elif t.type == 'image': t.attrSet('src', self._local_url(t.attrGet('src') or '', out_dir))
            elif t.type == 'code_inline' and not depth:
                key = t.content[:-2] if t.content.endswith('()') else t.content
                key = key.removeprefix(f'{self.pkg}.')
                if (url := self.symbols.get(key)):
                    t.type, t.content = 'html_inline', f'<a href="{_esc(url)}"><code>{_esc(t.content)}</code></a>'

    def _local_url(self, url, out_dir):
        "Notebook links become page links; local files a notebook references are copied into the site"
        if not url or _is_external(url) or url.startswith('#'): return url
        parts = urlsplit(url)
        p = Path(unquote(parts.path))
        if p.suffix == '.ipynb':
            return nbpath2html(p).as_posix() + (f'#{parts.fragment}' if parts.fragment else '')
        src = (self.nbs/p).resolve()
        if out_dir is not None and src.is_file() and self.nbs in src.parents and not p.is_absolute():
            dst = Path(out_dir)/p
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        return url

    # ---- pages
    def notebooks(self):
        "Top-level notebooks, `index` first (nbdev skips names starting with `_`; subfolders are reported, not rendered)"
        nbs = [p for p in sorted(self.nbs.glob('*.ipynb')) if not p.name.startswith(('_', '.'))]
        self.skipped += [f'{p.relative_to(self.nbs)}: notebooks in subfolders are not rendered'
                         for p in sorted(self.nbs.glob('*/**/*.ipynb')) if '.ipynb_checkpoints' not in p.parts]
        readme = self.cfg.get('readme_nb', 'index.ipynb')
        return sorted(nbs, key=lambda p: (p.name != readme, p.name))

    def _register(self, pages):
        "First pass: every page's show_doc anchors, so any page can link to any symbol"
        for page, nb, fm in pages:
            for c in nb.cells:
                if c.cell_type != 'code': continue
                if c.get('has_sd'): names = [(c.source[len('show_doc('):-1], None)]
                elif (call := show_doc_call(c)): names = [call]
                else: continue
                for nm, disp in names:
                    disp = disp or nm
                    anchor = page.new_id(disp.lower())
                    c.setdefault('sd_anchors', []).append(anchor)
                    for key in (disp, f'{nb.default_exp_}.{disp}' if nb.default_exp_ else None):
                        if key: self.symbols.setdefault(key, f'{page.name}#{anchor}')

    def _show_doc_html(self, c, page, nb, nm, disp, anchor):
        mod = c.get('sd_mod') or nb.default_exp_
        md, obj, summary = self.show_doc_md(nm, mod, c.get('sd_src', ''), disp)
        src = self.source_url(obj)
        link = f' <a class="source" href="{_esc(src)}">source</a>' if src else ''
        kind = ('class' if inspect.isclass(obj) else 'method' if '.' in disp else 'function') if obj is not None else \
               ('class' if '```python\nclass ' in md else 'function')
        page.toc.append((3, disp, anchor))
        page.symbols.append(dict(name=disp, anchor=anchor, kind=kind, module=mod or '', summary=summary))
        return (f'<section class="showdoc"><h3 id="{_esc(anchor)}"><code>{_esc(disp)}</code>'
                f'<a class="anchor" href="#{_esc(anchor)}" aria-label="link to {_esc(disp)}">#</a>{link}</h3>\n'
                f'{self.md_html(md, None)}</section>\n')

    def outputs_html(self, c, page, idx, out_dir):
        res = []
        for j, o in enumerate(c.get('outputs', [])):
            t = o.get('output_type')
            if t == 'stream':
                res.append(f'<pre class="output stream {_esc(o.get("name", ""))}">{_esc(_re_ansi.sub("", _text(o.get("text"))))}</pre>')
            elif t == 'error':
                tb = _re_ansi.sub('', '\n'.join(o.get('traceback', [])) or f"{o.get('ename')}: {o.get('evalue')}")
                res.append(f'<pre class="output error">{_esc(tb)}</pre>')
            elif t in ('execute_result', 'display_data'):
                d = o.get('data', {})
                img = next((m for m in ('image/png', 'image/jpeg', 'image/gif') if m in d), None)
                if img:
                    fname = f'{page.files_dir}/cell-{idx}-output-{j}.{img.split("/")[1].replace("jpeg", "jpg")}'
                    (Path(out_dir)/fname).parent.mkdir(parents=True, exist_ok=True)
                    (Path(out_dir)/fname).write_bytes(base64.b64decode(_text(d[img])))
                    alt = _text(d.get('text/plain', 'figure')).strip()
                    res.append(f'<img class="output-image" src="{_esc(fname)}" alt="{_esc(alt)}">')
                    page.n_images += 1
                elif 'image/svg+xml' in d:
                    res.append(f'<div class="output-image svg">{_text(d["image/svg+xml"])}</div>'); page.n_images += 1
                elif 'text/html' in d: res.append(f'<div class="output html">{_text(d["text/html"])}</div>')
                elif 'text/markdown' in d: res.append(f'<div class="output markdown">{self.md_html(_text(d["text/markdown"]), page, out_dir)}</div>')
                elif 'text/latex' in d: res.append(f'<div class="output math">{_esc(_text(d["text/latex"]))}</div>')
                elif 'text/plain' in d: res.append(f'<pre class="output text">{_esc(_re_ansi.sub("", _text(d["text/plain"])))}</pre>')
                else: self.skipped.append(f'{page.nb_path.name} cell {idx}: no renderable output among {sorted(d)}')
        return '\n'.join(res)

    def page_html(self, page, nb, fm, out_dir):
        body = []
        for i, c in enumerate(nb.cells):
            d = c.get('directives_', {})
            if c.cell_type == 'raw' or d.get('include') == 'false': continue
            if c.cell_type == 'markdown': body.append(self.md_html(c.source, page, out_dir)); continue
            if c.cell_type != 'code': continue
            if c.get('has_sd'):
                nm = c.source[len('show_doc('):-1]
                body.append(self._show_doc_html(c, page, nb, nm, nm, c.sd_anchors[0])); continue
            if (call := show_doc_call(c)):
                body.append(self._show_doc_html(c, page, nb, call[0], call[1], c.sd_anchors[0])); continue
            cell = []
            if c.source.strip() and d.get('echo') != 'false': cell.append(_hl(c.source, 'python'))
            if d.get('output') != 'false' and (outs := self.outputs_html(c, page, i, out_dir)): cell.append(f'<div class="outputs">{outs}</div>')
            if cell: body.append('<div class="cell">' + ''.join(cell) + '</div>')
        return '\n'.join(body)

    def build(self, dest=None):
        "Render every notebook into `dest`; returns a summary dict"
        t0 = time.time()
        dest = Path(dest or self.cfg.doc_path).resolve()
        if dest.exists() and any(dest.iterdir()):
            if not (dest/MARKER).exists() and dest != Path(self.cfg.doc_path).resolve():
                raise SystemExit(f'refusing to overwrite {dest}: not empty and not built by tools/docs.py')
            shutil.rmtree(dest)
        dest.mkdir(parents=True, exist_ok=True)
        (dest/MARKER).write_text('')
        (dest/'.nojekyll').write_text('')
        with working_directory(self.root):
            pages = []
            for p in self.notebooks():
                nb, fm = process_nb(p)
                pages.append((Page(p, self.nbs), nb, fm))
            self._register(pages)
            rendered = [(page, fm, self.page_html(page, nb, fm, dest), nb) for page, nb, fm in pages]
        nav = [(page.name, fm.get('title') or Path(page.name).stem) for page, fm, _, _ in rendered]
        search = []
        for page, fm, content, nb in rendered:
            title = fm.get('title') or Path(page.name).stem
            mod = f'{self.pkg}.{nb.default_exp_}' if nb.default_exp_ else ''
            (dest/page.name).write_text(self._template(page.name, title, fm.get('description', ''), content, nav,
                                                       page.toc, mod, page.nb_path.relative_to(self.root).as_posix()))
            search.append(dict(t=title, u=page.name, p='page', x=fm.get('description', '')))
            search += [dict(t=text, u=f'{page.name}#{hid}', p=title, x='') for lvl, text, hid in page.toc
                       if not any(s['anchor'] == hid for s in page.symbols)]
            search += [dict(t=s['name'], u=f"{page.name}#{s['anchor']}", p=title, x=s['summary']) for s in page.symbols]
        (dest/'genindex.html').write_text(self._genindex(rendered, nav))
        (dest/'search_index.js').write_text('window.DOCS_INDEX = ' + json.dumps(search, indent=0) + ';\n')
        (dest/'search.js').write_text(_SEARCH_JS)
        (dest/'style.css').write_text(_CSS + HtmlFormatter().get_style_defs('.highlight'))
        n_sym = sum(len(p.symbols) for p, *_ in rendered)
        return dict(dest=str(dest), pages=len(rendered), symbols=n_sym, figures=sum(p.n_images for p, *_ in rendered),
                    seconds=round(time.time() - t0, 1))

    def _nav_html(self, nav, current):
        items = ''.join(f'<li{" class=current" if u == current else ""}><a href="{_esc(u)}">{_esc(t)}</a></li>' for u, t in nav)
        gi = f'<li{" class=current" if current == "genindex.html" else ""}><a href="genindex.html">Index of symbols</a></li>'
        return (f'<nav class="sidebar"><a class="site-title" href="index.html">{_esc(self.title)}</a>'
                f'<input id="search" type="search" placeholder="Search docs…" autocomplete="off" aria-label="Search">'
                f'<ul id="search-results"></ul><ul class="pages">{items}{gi}</ul></nav>')

    def _template(self, name, title, desc, content, nav, toc, mod='', src=''):
        toc_html = ''.join(f'<li class="l{lvl}"><a href="#{_esc(hid)}">{_esc(re.sub(r"[`*]", "", text))}</a></li>' for lvl, text, hid in toc)
        mathjax = ('<script>window.MathJax={tex:{inlineMath:[["\\\\(","\\\\)"]]}};</script>'
                   '<script defer src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script>') if 'class="math' in content else ''
        modline = f'<p class="module">Module <code>{_esc(mod)}</code></p>' if mod else ''
        return f'''<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(title)} – {_esc(self.title)}</title><link rel="stylesheet" href="style.css">{mathjax}
<script defer src="search_index.js"></script><script defer src="search.js"></script></head>
<body>{self._nav_html(nav, name)}
<main><h1 class="title">{_esc(title)}</h1>{f'<p class="description">{self.md_html(desc, None)[3:-5]}</p>' if desc else ''}{modline}
{content}
<footer>Generated from <code>{_esc(src)}</code> by <code>tools/docs.py</code>.</footer></main>
{f'<aside class="toc"><h2>On this page</h2><ul>{toc_html}</ul></aside>' if toc else ''}
</body></html>
'''

    def _genindex(self, rendered, nav):
        syms = sorted(((s, page, fm) for page, fm, _, _ in rendered for s in page.symbols), key=lambda x: x[0]['name'].lower())
        letters, rows = [], []
        for s, page, fm in syms:
            letter = s['name'][0].upper()
            if letter not in letters:
                letters.append(letter)
                rows.append(f'<tr class="letter"><th colspan="3" id="letter-{_esc(letter)}">{_esc(letter)}</th></tr>')
            rows.append(f'<tr><td><a href="{_esc(page.name)}#{_esc(s["anchor"])}"><code>{_esc(s["name"])}</code></a></td>'
                        f'<td>{_esc(s["kind"])} in <a href="{_esc(page.name)}" title="{_esc(fm.get("title") or page.name)}">'
                        f'<code>{_esc(self.pkg + "." + s["module"] if s["module"] else page.name)}</code></a></td>'
                        f'<td>{self.md_html(s["summary"], None) if s["summary"] else ""}</td></tr>')
        jump = ' '.join(f'<a href="#letter-{_esc(l)}">{_esc(l)}</a>' for l in letters)
        content = f'<p class="jump">{jump}</p><table class="genindex">{"".join(rows)}</table>'
        return self._template('genindex.html', 'Index of symbols', f'All {len(syms)} documented functions, classes and methods.',
                              content, nav, [])

    # ---- README
    def readme(self):
        "README.md text and `{relative path: bytes}` of its figures, from the readme notebook"
        nbp = self.nbs/self.cfg.get('readme_nb', 'index.ipynb')
        with working_directory(self.root): nb, fm = process_nb(nbp)
        title = fm.get('title') or self.title
        parts = [f'# {title}', '<!-- WARNING: THIS FILE WAS AUTOGENERATED! DO NOT EDIT! '
                 f'Edit {nbp.relative_to(self.root).as_posix()} and run `python tools/docs.py readme`. -->']
        if fm.get('description'): parts.append(f"> {fm['description']}")
        files = {}
        for i, c in enumerate(nb.cells):
            d = c.get('directives_', {})
            if c.cell_type == 'raw' or d.get('include') == 'false': continue
            if c.cell_type == 'markdown': parts.append(self._readme_links(c.source).strip()); continue
            if c.cell_type != 'code': continue
            call = (c.source[len('show_doc('):-1], None) if c.get('has_sd') else show_doc_call(c)
            if call:
                md, _, _ = self.show_doc_md(call[0], c.get('sd_mod') or nb.default_exp_, c.get('sd_src', ''), call[1])
                parts.append(f'### {call[1] or call[0]}\n\n{md}'); continue
            if c.source.strip() and d.get('echo') != 'false': parts.append(f'```python\n{c.source.strip()}\n```')
            if d.get('output') == 'false': continue
            for j, o in enumerate(c.get('outputs', [])):
                t, data = o.get('output_type'), o.get('data', {})
                if t == 'stream': parts.append(f'```\n{_re_ansi.sub("", _text(o.get("text"))).rstrip()}\n```')
                elif t == 'error': parts.append(f"```\n{o.get('ename')}: {o.get('evalue')}\n```")
                elif 'image/png' in data:
                    rel = f'README_files/cell-{i}-output-{j}.png'
                    files[rel] = base64.b64decode(_text(data['image/png']))
                    parts.append(f'![]({rel})')
                elif 'text/markdown' in data: parts.append(_text(data['text/markdown']).strip())
                elif 'text/plain' in data: parts.append(f'```\n{_re_ansi.sub("", _text(data["text/plain"])).rstrip()}\n```')
                elif 'text/html' in data: parts.append(_text(data['text/html']).strip())
        return '\n\n'.join(p for p in parts if p) + '\n', files

    def _readme_links(self, src):
        "Relative links of the notebook point into nbs/; the README sits one level up"
        def fix(m):
            url = m.group(2)
            if _is_external(url) or url.startswith(('#', '/')): return m.group(0)
            p = urlsplit(url).path
            return m.group(1) + (f'{self.nbs.relative_to(self.root).as_posix()}/{url}' if (self.nbs/unquote(p)).exists() else url) + ')'
        return re.sub(r'(\]\()([^)\s]+)\)', fix, src)

    # ---- checks
    def check(self, dest=None):
        "Problems in the built site at `dest`: missing module pages or symbols, missing figures, broken links"
        dest = Path(dest or self.cfg.doc_path).resolve()
        if not (dest/'index.html').exists(): return [f'{dest}/index.html missing: run `python tools/docs.py build` first']
        problems, parsed = [], {}
        def page(rel):
            if rel not in parsed:
                f = dest/rel
                parsed[rel] = _LinkParser.parse(f.read_text(errors='replace')) if f.is_file() and f.suffix == '.html' else None
            return parsed[rel]
        # every module has a page; every public function/class of every module has an anchor on it
        modidx = {}
        if (self.lib/'_modidx.py').exists(): exec((self.lib/'_modidx.py').read_text(), modidx)
        syms = modidx.get('d', {}).get('syms', {})
        for m in self.all_module_names():
            text = (self.lib/f'{m}.py').read_text()
            nbm = _re_src_nb.search(text)
            pname = nbpath2html(Path(nbm.group(1))).as_posix() if nbm else f'{m}.html'
            if page(pname) is None: problems.append(f'module {self.pkg}.{m}: no page {pname}'); continue
            try: tree = ast.parse(text)
            except SyntaxError as e: problems.append(f'{self.pkg}/{m}.py does not parse: {e}'); continue
            all_ = next((ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                         and any(getattr(t, 'id', None) == '__all__' for t in n.targets)), [])
            for nm in all_:
                entry = syms.get(f'{self.pkg}.{m}', {}).get(f'{self.pkg}.{m}.{nm}')
                if entry is None: continue  # a constant, not a function or class
                url = urlsplit(entry[0])
                p = page(url.path)
                if p is None or url.fragment not in p.ids:
                    problems.append(f'{self.pkg}.{m}.{nm}: not documented at {entry[0]} (no show_doc anchor)')
                elif not p.signed.get(url.fragment):
                    problems.append(f'{self.pkg}.{m}.{nm}: show_doc at {entry[0]} has no signature')
        # figures: every image output of a shown cell is on its page
        for nbp in self.notebooks():
            pname = nbpath2html(nbp.relative_to(self.nbs)).as_posix()
            p = page(pname)
            if p is None: problems.append(f'{nbp.name}: no page {pname}'); continue
            want = 0
            for c in read_nb(nbp).cells:
                if c.cell_type != 'code': continue
                d = c.directives
                if {'hide', 'export', 'exporti', 'default_exp'} & d.keys() or d.get('include') == 'false' or d.get('output') == 'false': continue
                want += sum(1 for o in c.get('outputs', []) if {'image/png', 'image/jpeg', 'image/gif', 'image/svg+xml'} & set(o.get('data', {})))
            if p.n_images < want: problems.append(f'{pname}: shows {p.n_images} of the {want} figures saved in {nbp.name}')
        # links: relative hrefs/srcs (and the search index) resolve to files, and their #anchors to ids
        links = [(f.relative_to(dest).as_posix(), u) for f in sorted(dest.rglob('*.html')) for u in page(f.relative_to(dest).as_posix()).links]
        si = dest/'search_index.js'
        if si.exists():
            entries = json.loads(si.read_text().removeprefix('window.DOCS_INDEX = ').rstrip().rstrip(';'))
            links += [('search_index.js', e['u']) for e in entries]
        for src, url in links:
            if not url or _is_external(url): continue
            parts = urlsplit(url)
            target = (dest/Path(src).parent/unquote(parts.path)).resolve() if parts.path else dest/src
            try: rel = target.relative_to(dest).as_posix()
            except ValueError: problems.append(f'{src}: link {url} leaves the site'); continue
            if not target.exists(): problems.append(f'{src}: broken link {url} ({rel} missing)'); continue
            if parts.fragment:
                tp = page(rel)
                if tp is not None and unquote(parts.fragment) not in tp.ids: problems.append(f'{src}: broken anchor {url}')
        return problems

class _LinkParser(HTMLParser):
    "ids, relative-or-not links, and output images of one HTML page"
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.links, self.n_images = set(), [], 0
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get('id'): self.ids.add(a['id'])
        if tag == 'a' and a.get('name'): self.ids.add(a['name'])
        for k in ('href', 'src'):
            if a.get(k) is not None and tag in ('a', 'img', 'link', 'script', 'iframe', 'source'): self.links.append(a[k])
        if 'output-image' in (a.get('class') or '').split(): self.n_images += 1
    handle_startendtag = handle_starttag
    @classmethod
    def parse(cls, text):
        p = cls(); p.feed(text); p.close()
        # show_doc anchor -> whether its entry shows a `def`/`class` signature
        p.signed = {a: bool(re.search(r'<pre class="highlight"><code>(<span class="w">\s*</span>)?<span class="k">(def|class)</span>', body, re.S))
                    for a, body in re.findall(r'<section class="showdoc"><h3 id="([^"]+)">(.*?)</section>', text, re.S)}
        return p

_SEARCH_JS = r'''(function () {
  const box = document.getElementById('search'), out = document.getElementById('search-results');
  if (!box || !window.DOCS_INDEX) return;
  function run() {
    const words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    out.innerHTML = '';
    if (!words.length) return;
    const hits = [];
    for (const e of window.DOCS_INDEX) {
      const t = e.t.toLowerCase(), hay = t + ' ' + e.x.toLowerCase() + ' ' + e.p.toLowerCase();
      if (!words.every(w => hay.includes(w))) continue;
      hits.push([t === words[0] ? 0 : t.startsWith(words[0]) ? 1 : t.includes(words[0]) ? 2 : 3, e]);
    }
    hits.sort((a, b) => a[0] - b[0]);
    for (const [, e] of hits.slice(0, 25)) {
      const li = document.createElement('li'), a = document.createElement('a'), s = document.createElement('span');
      a.href = e.u; a.textContent = e.t; s.textContent = e.p === 'page' ? ' (page)' : ' — ' + e.p;
      li.append(a, s); out.append(li);
    }
    if (!hits.length) { const li = document.createElement('li'); li.className = 'none'; li.textContent = 'No matches'; out.append(li); }
  }
  box.addEventListener('input', run);
  box.addEventListener('keydown', ev => { if (ev.key === 'Enter') { const a = out.querySelector('a'); if (a) location.href = a.href; } });
})();
'''

_CSS = '''
:root { --side: 250px; --toc: 220px; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg2: #f6f8fa; --link: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.55 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--fg); }
a { color: var(--link); text-decoration: none; } a:hover { text-decoration: underline; }
.sidebar { position: fixed; top: 0; left: 0; bottom: 0; width: var(--side); overflow-y: auto; padding: 1.2rem 1rem;
  background: var(--bg2); border-right: 1px solid var(--line); }
.site-title { display: block; font-weight: 700; font-size: 1.25rem; color: var(--fg); margin-bottom: .8rem; }
#search { width: 100%; padding: .4rem .5rem; border: 1px solid var(--line); border-radius: 6px; font-size: .9rem; }
#search-results { list-style: none; padding: 0; margin: .3rem 0 .8rem; font-size: .85rem; }
#search-results li { padding: .15rem 0; } #search-results span { color: var(--muted); }
.pages { list-style: none; padding: 0; margin: 0; } .pages li { padding: .25rem .4rem; border-radius: 6px; }
.pages li.current { background: #ddf4ff; font-weight: 600; }
main { margin-left: var(--side); margin-right: var(--toc); padding: 1.5rem 2.5rem 3rem; max-width: calc(980px + var(--side)); }
.toc { position: fixed; top: 0; right: 0; bottom: 0; width: var(--toc); overflow-y: auto; padding: 1.5rem 1rem; font-size: .85rem;
  border-left: 1px solid var(--line); }
.toc h2 { font-size: .9rem; margin: 0 0 .5rem; } .toc ul { list-style: none; padding: 0; margin: 0; } .toc li { padding: .1rem 0; }
.toc li.l3 { padding-left: .9rem; }
@media (max-width: 1100px) { .toc { display: none; } main { margin-right: 0; } }
@media (max-width: 700px) { .sidebar { position: static; width: auto; border-right: 0; } main { margin-left: 0; padding: 1rem; } }
h1.title { margin-bottom: .2rem; } .description { color: var(--muted); font-size: 1.1rem; margin-top: 0; }
.module { color: var(--muted); font-size: .9rem; }
pre { background: var(--bg2); padding: .7rem .9rem; border-radius: 6px; overflow-x: auto; font-size: .85rem; line-height: 1.45; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
:not(pre) > code { background: var(--bg2); padding: .1em .3em; border-radius: 4px; }
.cell { margin: 1rem 0; } .cell > pre.highlight { border-left: 3px solid #9ec5fe; }
.outputs { margin: -.6rem 0 0; } pre.output { background: #fff; border: 1px solid var(--line); }
pre.output.stderr { background: #fff8f0; } pre.output.error { background: #ffebe9; }
.output-image { max-width: 100%; display: block; margin: .5rem 0; }
.output.html { overflow-x: auto; font-size: .85rem; } .output.html table { border-collapse: collapse; }
.output.html th, .output.html td, main table th, main table td { border: 1px solid var(--line); padding: .2rem .5rem; }
main table { border-collapse: collapse; }
.showdoc { border: 1px solid var(--line); border-radius: 8px; padding: .2rem 1.1rem .4rem; margin: 1.4rem 0; box-shadow: 0 1px 2px #0000000d; }
.showdoc h3 { font-size: 1.1rem; margin: .8rem 0 .4rem; } .showdoc h3 code { background: none; font-size: 1.05rem; }
.showdoc .anchor { margin-left: .5rem; color: var(--muted); visibility: hidden; } .showdoc h3:hover .anchor { visibility: visible; }
.showdoc .source { float: right; font-size: .8rem; font-weight: 400; }
h2[id], h3[id] { scroll-margin-top: 1rem; }
table.genindex { width: 100%; } table.genindex td { vertical-align: top; } table.genindex td p { margin: 0; }
table.genindex tr.letter th { text-align: left; background: var(--bg2); }
.jump a { margin-right: .4rem; }
footer { margin-top: 3rem; color: var(--muted); font-size: .8rem; border-top: 1px solid var(--line); padding-top: .6rem; }
'''

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    b = sub.add_parser('build', help='render the notebooks into the static site')
    c = sub.add_parser('check', help='fail on a missing page, undocumented symbol, missing figure or broken link')
    for p in (b, c): p.add_argument('--dest', default=None, help='site folder (default: doc_path, _docs)')
    r = sub.add_parser('readme', help='write README.md from the readme notebook')
    r.add_argument('--check', action='store_true', help='write nothing; fail if README.md is out of date')
    r.add_argument('--out', default=None, help='README path (default: README.md at the repo root)')
    args = ap.parse_args(argv)
    site = Site()
    if args.cmd == 'build':
        s = site.build(args.dest)
        print(f"built {s['pages']} pages, {s['symbols']} documented symbols, {s['figures']} figures "
              f"in {s['seconds']}s -> {s['dest']}")
        for m in site.fallbacks: print('warning:', m)
        for m in site.skipped: print('skipped:', m)
        for m in site.errors: print('error:', m)
        return 1 if site.errors else 0
    if args.cmd == 'check':
        problems = site.check(args.dest)
        for p in problems: print('FAIL:', p)
        print(f'{len(problems)} problem(s)' if problems else 'docs check passed: module pages, symbols, figures, links')
        return 1 if problems else 0
    out = Path(args.out) if args.out else site.root/'README.md'
    text, files = site.readme()
    for m in site.errors: print('error:', m)
    if args.check:
        stale = [str(out)] if not out.exists() or out.read_text() != text else []
        stale += [rel for rel, data in files.items() if not (out.parent/rel).exists() or (out.parent/rel).read_bytes() != data]
        if stale:
            print(f"out of date: {', '.join(stale)}; run `python tools/docs.py readme`")
            return 1
        print(f'{out} is up to date')
        return 1 if site.errors else 0
    figdir = out.parent/'README_files'
    if figdir.exists(): shutil.rmtree(figdir)
    for rel, data in files.items():
        (out.parent/rel).parent.mkdir(parents=True, exist_ok=True)
        (out.parent/rel).write_bytes(data)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f'wrote {out}' + (f' and {len(files)} figure(s) in {figdir}' if files else ''))
    return 1 if site.errors else 0

if __name__ == '__main__': sys.exit(main())
