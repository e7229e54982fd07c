"""The notebooks as Sphinx + myst-nb source: nbdev's own doc processors, then the few steps Sphinx needs.

`write_source(dest)` fills `dest` with one processed notebook per page (named as nbdev names pages:
`07_learner.ipynb` -> `learner.ipynb`), the hand-written pages of docs/ and the figures the home and quick-start pages
show. nbdev's processors do what they do on an nbdev/Quarto site (title and description, `#| hide`, removal of
`#| export` source, a show_doc entry after each exported function or class, `exports` moved after it, `hide_line`,
`filter_stream`, housekeeping magics). Then, here:
- show_doc entries become Sphinx `py:` objects: signature (annotations link through intersphinx), docstring and the
  fastai-style docments as a parameter table. nbdev's `exec_show_docs` is not used: it re-runs each notebook's import
  cells out of context (that fails on 03_data), and nbdev 3 prints docments as comments inside the signature.
- `#| echo: false`, `#| output: false`, `#| include: false` become myst-nb's remove-input/-output/-cell tags.
- Progress bars (carriage-return redraws) collapse to the terminal's final screen: the epoch table.
- Warnings from dependencies (a site-packages file) are dropped; the project's own keep their message.
- Tutorial pages hide test lines (`test_eq`, `assert`, ...) and test-run settings (warning filters, thread counts).
- `name` in backticks links to its documentation when it names a symbol of dcal_fast, fastai, fastcore, PyTorch or
  timm (the vendored inventories in docs/inventories/)."""
import ast, base64, importlib, inspect, io, re, shutil, warnings
from pathlib import Path
from fastcore.nbio import read_nb, write_nb
from fastcore.docments import docments
from nbdev.config import nbpath2html
from nbdev.process import NBProcessor
from nbdev.frontmatter import FrontmatterProc
from nbdev.processors import (populate_language, add_show_docs, strip_ansi, hide_line, filter_stream_, rm_header_dash,
                              rm_export, ai_magics, clean_magics, hide_, mv_exports, strip_hidden_metadata)

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
PKG = 'dcal_fast'
TUTORIALS = ('10_', '11_', '12_', '13_fine_tuning')           # tutorials.md lists them; their test lines are hidden
API = [('Model', ('00', '01')), ('Data', ('02', '03')), ('Training', ('04', '06', '07')),  # api.md's chapters, by number
       ('Evaluation and interpretation', ('05', '08')), ('Command line', ('09', '99'))]   # others: 'More'
HERO = ('08_interpret.ipynb', 'fig = show_attention(learn, idxs=')  # the home page's figure: this cell's first image
DEMO = ('09_cli.ipynb', ('strip = Image.new', "display(IPImage(filename=str(res['pngs'][0])))"))
_TESTS = {'test_eq', 'test_close', 'test_fail', 'test_ne', 'test_is', 'test_eq_type', 'test_warns', 'test_stdout', 'test_shuffled',
          'warnings.filterwarnings', 'warnings.simplefilter', 'torch.set_num_threads'}
_re_bar = re.compile(r'\|[█-]*\| *\d+\.\d+% \[\d+/\d+')          # a fastprogress bar, left unfinished
_re_dep_warning = re.compile(r'^(\S*site-packages\S*|<frozen [^>]+>):\d+: \w+: .*\n(  .*\n)*', re.M)
_re_own_warning = re.compile(r'^<ipython-input-[^>]+>:\d+: (\w+: .*)\n(  .*\n)*', re.M)
_re_code = re.compile(r'(?<![\[}`])`([^`\n]+)`(?!\]\()')   # `name`, not a link's text nor a role's target
_re_nb_link = re.compile(r'\]\(((?:\d\w*_)?[\w-]+)\.ipynb(#[^)]*)?\)')

def page_name(nb_path): return nbpath2html(Path(Path(nb_path).name)).stem

# ---------- show_doc -> a py: object with a parameter table
def _default(v):
    if v is inspect.Parameter.empty: return ''
    nm = getattr(v, '__qualname__', None) if callable(v) else None
    if nm: return nm
    r = repr(v)
    try: ast.parse(r, mode='eval'); return r
    except SyntaxError: return '...'

def _anno(a):
    if a is inspect.Parameter.empty: return ''
    s = a if isinstance(a, str) else inspect.formatannotation(a)
    s = re.sub(r'(?<![\w.])nn\.', 'torch.nn.', s)                 # as the notebooks write them, resolvable by intersphinx
    return re.sub(r'(?<![\w.])Tensor\b', 'torch.Tensor', s)

def _signature(obj):
    "Parameters as Sphinx's python domain parses them; None for a class whose __init__ is not the project's"
    if inspect.isclass(obj):
        owner = next((c for c in obj.__mro__ if '__init__' in vars(c)), object)
        if not owner.__module__.startswith(PKG) and '__signature__' not in vars(obj): return None, [], set()
    try: sig = inspect.signature(obj)
    except (TypeError, ValueError): return '', [], set()
    parts, params, star = [], [], False
    vararg = {p.name for p in sig.parameters.values() if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    for i, p in enumerate(sig.parameters.values()):
        if i == 0 and p.name == 'self': continue
        if p.kind is p.KEYWORD_ONLY and not star: parts.append('*'); star = True
        pre = '*' if p.kind is p.VAR_POSITIONAL else '**' if p.kind is p.VAR_KEYWORD else ''
        star = star or p.kind is p.VAR_POSITIONAL
        a, d = _anno(p.annotation), _default(p.default)
        parts.append(f"{pre}{p.name}{': ' + a if a else ''}{(' = ' if a else '=') + d if d else ''}")
        params.append(p.name)
    ret = _anno(sig.return_annotation)
    return f"({', '.join(parts)})" + (f' -> {ret}' if ret else ''), params, vararg

def _cell(s): return str(s).replace('|', '\\|').replace('\n', ' ')

def show_doc_md(obj, name, module, index=True):
    "MyST source of one documented symbol; also the names of its arguments without a docments comment"
    kind = 'class' if inspect.isclass(obj) else 'method' if '.' in name else 'function'
    sig, params, vararg = _signature(obj)
    lines = [f'::::{{py:{kind}}} {name}{sig or ""}', f':module: {module}'] + ([] if index else [':no-index:']) + ['']
    if kind == 'class':
        bases = [b for b in obj.__bases__ if b is not object]
        if bases: lines += ['Bases: ' + ', '.join(f'{{py:class}}`{b.__module__}.{b.__qualname__}`'.replace('builtins.', '') for b in bases), '']
    doc = inspect.cleandoc(vars(obj).get('__doc__') or '') if kind == 'class' else inspect.getdoc(obj)  # not a base's
    if doc: lines += [doc, '']
    undocumented = []
    if params:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            try: dm = docments(obj, full=True)
            except Exception: dm = {}
        rows = ['| Parameter | Type | Default | Details |', '|---|---|---|---|']
        for p in params:
            d = dm.get(p, {})
            a, dflt, det = d.get('anno', inspect.Parameter.empty), d.get('default', inspect.Parameter.empty), d.get('docment')
            if not det and p not in vararg: undocumented.append(p)
            rows.append(f"| ``{p}`` | {'`' + _cell(_anno(a)) + '`' if _anno(a) else ''} | {'`' + _cell(_default(dflt)) + '`' if _default(dflt) else ''} | {_cell(det or '')} |")
        ret = dm.get('return', {})
        if ret.get('docment') or _anno(ret.get('anno', inspect.Parameter.empty)):
            rows.append(f"| **Returns** | `{_cell(_anno(ret.get('anno', inspect.Parameter.empty)))}` | | {_cell(ret.get('docment') or '')} |")
        lines += rows + ['']
    return '\n'.join(lines + ['::::']), undocumented

# ---------- outputs
def terminal(text):
    "What a terminal shows after `text`: each carriage return rewrites the line from its start"
    out = []
    for line in text.split('\n'):
        if '\r' not in line: out.append(line); continue
        buf = ''
        for seg in line.split('\r'): buf = seg + buf[len(seg):]
        if buf.strip() and not _re_bar.search(buf): out.append(buf.rstrip())
    return '\n'.join(out)

def clean_outputs(cell):
    outs = []
    for o in cell.get('outputs', []):
        if o.get('output_type') == 'stream':
            t = terminal(''.join(o['text']) if isinstance(o['text'], list) else o['text'])
            t = _re_own_warning.sub(r'\1\n', _re_dep_warning.sub('', t))
            if '(Triggered internally at' in t: t = re.sub(r'^.*\(Triggered internally at.*\n(  .*\n)*', '', t, flags=re.M)
            if not t.strip(): continue
            o['text'] = t
        outs.append(o)
    cell['outputs'] = outs

def hide_tests(src):
    "`src` without its top-level test statements (kept as is where it does not parse, e.g. `!shell` lines)"
    try: tree = ast.parse(src)
    except SyntaxError: return src
    lines, drop, keep_seg = src.split('\n'), set(), {}
    def is_test(n):
        if isinstance(n, ast.Assert): return True
        return isinstance(n, ast.Expr) and isinstance(n.value, ast.Call) and ast.unparse(n.value.func) in _TESTS
    by_line = {}
    for n in tree.body: by_line.setdefault(n.lineno, []).append(n)
    for ln, nodes in by_line.items():
        if not any(map(is_test, nodes)): continue
        if all(map(is_test, nodes)): drop.update(range(ln, nodes[-1].end_lineno + 1))
        else: keep_seg[ln] = '; '.join(ast.get_source_segment(src, n) for n in nodes if not is_test(n))
    res = [keep_seg.get(i, l) for i, l in enumerate(lines, 1) if i not in drop]
    return '\n'.join(res).strip()

# ---------- links
class Names:
    "`name` -> the full name Sphinx knows it by: dcal_fast's own symbols first, then the vendored inventories"
    def __init__(self):
        from sphinx.util.inventory import InventoryFile
        self.full, short = set(), {}
        mod = {}
        exec((ROOT/PKG/'_modidx.py').read_text(), mod)
        own = [nm for syms in mod['d']['syms'].values() for nm in syms]
        self.full.update(own)
        for nm in own: short.setdefault(nm.split('.', 2)[-1], nm)   # `dcal_learner`, `DCALLearner.fine_tune`
        for inv in ('fastai', 'fastcore', 'torch', 'timm', 'timm_src'):
            with open(DOCS/'inventories'/f'{inv}.inv', 'rb') as f: data = InventoryFile.load(f, '', lambda a, b: b)
            data = getattr(data, 'data', data)
            cands = {}
            for role, items in data.items():
                for nm in items:
                    self.full.add(nm)
                    if role != 'py:method': cands.setdefault(nm.rsplit('.', 1)[-1], set()).add(nm)
                    else: cands.setdefault('.'.join(nm.split('.')[-2:]), set()).add(nm)
            for k, v in cands.items():
                if len(v) == 1 and len(k) > 2: short.setdefault(k, v.pop())
        self.short = short

    def target(self, text):
        nm = text[:-2] if text.endswith('()') else text
        if not re.fullmatch(r'[A-Za-z_][\w.]*', nm): return None
        nm = re.sub(r'^nn\.', 'torch.nn.', re.sub(r'^F\.', 'torch.nn.functional.', nm))
        return nm if nm in self.full else self.short.get(nm)

    def linkify(self, md):
        out, fence = [], None
        for line in md.split('\n'):
            m = re.match(r'\s*(```+|~~~+)', line)
            if m and (fence is None or m.group(1).startswith(fence)): fence = None if fence else m.group(1)
            elif fence is None:
                line = _re_code.sub(lambda m: f'{{py:obj}}`{m.group(1)} <{t}>`' if (t := self.target(m.group(1))) else m.group(0), line)
            out.append(line)
        return _re_nb_link.sub(lambda m: f'](project:{page_name(m.group(1) + ".ipynb")}.ipynb{m.group(2) or ""})', '\n'.join(out))

# ---------- one notebook
def _show_doc_call(src):
    "(expression, display name) of a `show_doc(sym[, name=...])` cell, else None"
    try: tree = ast.parse(src).body
    except SyntaxError: return None
    if len(tree) != 1 or not isinstance(tree[0], ast.Expr) or not isinstance(c := tree[0].value, ast.Call): return None
    if ast.unparse(c.func) != 'show_doc' or not c.args: return None
    nm = next((k.value.value for k in c.keywords if k.arg == 'name' and isinstance(k.value, ast.Constant)), None)
    return ast.unparse(c.args[0]), nm

def _image(nb, start):
    "Bytes of the first PNG output of the cell of `nb` whose source contains `start`"
    for c in nb.cells:
        if c.cell_type == 'code' and start in c.source:
            for o in c.get('outputs', []):
                if 'image/png' in o.get('data', {}): return base64.b64decode(''.join(o['data']['image/png']))
    raise ValueError(f'no figure in a cell with {start!r}')

def _first_row(png):
    "The first row of a figure of subplots: cut at the first all-white line below the first drawn one"
    from PIL import Image
    im = Image.open(io.BytesIO(png)).convert('RGB')
    g = im.convert('L')
    w, h = im.size
    rows = [min(g.crop((0, y, w, y + 1)).getdata()) < 250 for y in range(h)]
    frame = [sum(v < 60 for v in g.crop((0, y, w, y + 1)).getdata()) > w // 3 for y in range(h)]  # axes' top edges
    y0 = frame.index(True)
    y1 = next((y for y in range(y0, h) if not rows[y]), h)
    buf = io.BytesIO(); im.crop((0, 0, w, y1 + 1)).save(buf, 'PNG')
    return buf.getvalue()

class Site:
    def __init__(self):
        self.names, self.seen, self.undocumented, self.problems = Names(), set(), [], []

    def _namespace(self, modname):
        ns = dict(vars(importlib.import_module(f'{PKG}.all')))
        if modname: ns.update(vars(importlib.import_module(f'{PKG}.{modname}')))
        return ns

    def process(self, path):
        nb = read_nb(path)
        dflt = next((m.group(1) for c in nb.cells if c.cell_type == 'code'
                     for m in [re.search(r'^\s*#\|\s*default_exp\s+(\S+)', c.source, re.M)] if m), None)
        procs = [FrontmatterProc, populate_language, add_show_docs, strip_ansi, hide_line, filter_stream_, rm_header_dash,
                 rm_export, ai_magics, clean_magics, hide_, mv_exports, strip_hidden_metadata]
        NBProcessor(nb=nb, procs=procs, rm_directives=True).process()
        fm = nb.frontmatter_ or {}
        ns, cells = None, []
        tutorial = path.name.startswith(TUTORIALS + ('index',))
        for c in nb.cells:
            d = c.get('directives_', {})
            if c.cell_type == 'raw' or d.get('include') == 'false': continue
            if c.cell_type == 'markdown': c.source = self.names.linkify(c.source); cells.append(c); continue
            call = (c.source[len('show_doc('):-1], None) if c.get('has_sd') else _show_doc_call(c.source)
            if call:
                try: ns = ns or self._namespace(dflt); obj = eval(call[0], ns)
                except Exception as e: self.problems.append(f'{path.name}: show_doc({call[0]}): {e}'); continue
                name = call[1] or call[0]
                mod = obj.__module__ if getattr(obj, '__module__', '').startswith(PKG) else f'{PKG}.{dflt}'
                full = f'{mod}.{name}'
                md, undoc = show_doc_md(obj, name, mod, index=full not in self.seen)
                if undoc and full not in self.seen: self.undocumented.append(f"{full}({', '.join(undoc)})")
                self.seen.add(full)
                cells.append(dict(cell_type='markdown', metadata={}, source=self.names.linkify(md))); continue
            tags = [t for k, v, t in (('echo', 'false', 'remove-input'), ('output', 'false', 'remove-output'),
                                       ('code-fold', None, 'hide-input')) if k in d and (v is None or d[k] == v)]
            if 'exports' in d: tags.append('hide-input')
            if tutorial: c.source = hide_tests(c.source)
            clean_outputs(c)
            if not c.source.strip() and not c.outputs: continue
            c.metadata = dict(tags=tags) if tags else {}
            cells.append(c)
        title = fm.get('title') or page_name(path)
        head = f"# {title}\n\n" + (f"{{.lead}}\n{self.names.linkify(fm['description'])}\n" if fm.get('description') else '')
        nb.cells = [dict(cell_type='markdown', metadata={}, source=head)] + [dict(c) for c in cells]
        for i, c in enumerate(nb.cells):
            for k in [k for k in c if k.endswith('_') or k == 'has_sd']: del c[k]
            c['id'] = f'c{i}'
            c.setdefault('metadata', {})
            if c['cell_type'] == 'code': c.setdefault('execution_count', None); c.setdefault('outputs', [])
        nb.metadata.pop('widgets', None)
        nb.metadata['language_info'] = dict(name='python', pygments_lexer='ipython3')  # `!shell` lines highlight
        nb.nbformat_minor = max(nb.get('nbformat_minor', 5), 5)
        return nb, fm

def notebooks():
    return sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.')))

def write_source(dest):
    "Fill `dest` (emptied first) with the Sphinx source of the site; returns (pages, undocumented, problems)"
    dest = Path(dest)
    if dest.exists(): shutil.rmtree(dest)
    (dest/'images').mkdir(parents=True)
    for f in DOCS.glob('*.md'): shutil.copy2(f, dest/f.name)
    groups = {'Tutorials': []} | {g: [] for g, _ in API} | {'More': []}
    for p in notebooks():
        if p.name == 'index.ipynb': continue
        g = 'Tutorials' if p.name.startswith(TUTORIALS) else next((g for g, nums in API if p.name[:2] in nums), 'More')
        groups[g].append(page_name(p))
    toc = lambda cap, pages: '\n```{toctree}\n' + (f':caption: {cap}\n' if cap else '') + ':maxdepth: 1\n\n' + '\n'.join(pages) + '\n```\n'
    with open(dest/'tutorials.md', 'a') as f: f.write(toc('', groups.pop('Tutorials')))
    with open(dest/'api.md', 'a') as f: f.write(''.join(toc(g, pages) for g, pages in groups.items() if pages))
    shutil.copytree(DOCS/'_parts', dest/'_parts')
    site, nbs = Site(), {}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for p in notebooks():
            nb, fm = site.process(p)
            nbs[p.name] = nb
            if p.name == 'index.ipynb':  # the home page: hero figure, cards and the site's table of contents
                nb.cells.insert(1, dict(cell_type='markdown', metadata={}, source='```{include} _parts/home.md\n```', id='home'))
                quick = [c['source'] for c in nb.cells if c['source'].startswith(('## Quick start', '## In a notebook'))]
                (dest/'_parts'/'quickstart.md').write_text('\n\n'.join(quick).removeprefix('## Quick start').strip() + '\n')
            write_nb(nb, dest/f'{page_name(p)}.ipynb')
    src = {p.name: read_nb(p) for p in notebooks() if p.name in (HERO[0], DEMO[0])}
    hero = _first_row(_image(src[HERO[0]], HERO[1]))
    (dest/'images'/'hero.png').write_bytes(hero)
    for i, start in enumerate(DEMO[1]): (dest/'images'/f'demo_{i}.png').write_bytes(_image(src[DEMO[0]], start))
    return len(nbs), site.undocumented, site.problems
