"Sphinx configuration of the documentation site: built by `python tools/docs.py build` from the notebooks (docs/nbproc.py)."
import configparser, re
from pathlib import Path
from docutils import nodes
from latex2mathml.converter import convert

ROOT = Path(__file__).resolve().parents[1]
meta = configparser.ConfigParser(delimiters=['='])
meta.read(ROOT/'settings.ini', encoding='utf-8')
meta = meta['DEFAULT']

project, author, copyright = meta['lib_name'], meta['author'], meta['copyright']
version = release = meta['version']
extensions = ['myst_nb', 'sphinx.ext.intersphinx', 'sphinx_copybutton', 'sphinx_design']
exclude_patterns = ['_parts', '**.ipynb_checkpoints']
templates_path = []

# notebooks are rendered with their saved outputs, never executed
nb_execution_mode = 'off'
nb_merge_streams = True
nb_render_markdown_format = 'myst'
myst_enable_extensions = ['dollarmath', 'amsmath', 'colon_fence', 'attrs_block', 'deflist', 'substitution']
myst_dmath_double_inline = True
myst_heading_anchors = 3
myst_substitutions = dict(min_python=meta['min_python'], git_url=meta['git_url'],
                          requirements=', '.join(f'`{r}`' for r in meta['requirements'].split()),
                          dev_requirements=', '.join(f'`{r}`' for r in meta['dev_requirements'].split()))

# links to fastai, fastcore, PyTorch and timm: inventories generated offline by docs/inventories.py
_inv = lambda n: str(Path(__file__).parent/'inventories'/f'{n}.inv')
intersphinx_mapping = {'fastai': ('https://docs.fast.ai/', _inv('fastai')),
                       'fastcore': ('https://fastcore.fast.ai/', _inv('fastcore')),
                       'torch': ('https://docs.pytorch.org/docs/stable/', _inv('torch')),
                       'timm': ('https://huggingface.co/docs/timm/', _inv('timm')),
                       'timm_src': ('https://github.com/huggingface/pytorch-image-models/blob/main/', _inv('timm_src'))}
intersphinx_disabled_reftypes = []
python_use_unqualified_type_names = True
python_maximum_signature_line_length = 88
add_module_names = False
toc_object_entries_show_parents = 'hide'

html_theme = 'pydata_sphinx_theme'
html_title = project
html_static_path = ['_static']
html_css_files = ['custom.css']
html_show_sourcelink = False
html_copy_source = False
html_math_renderer = 'mathml'
html_theme_options = dict(
    navbar_align='left', show_toc_level=2, header_links_before_dropdown=4, navigation_depth=2,
    secondary_sidebar_items=['page-toc'], footer_start=['copyright'], footer_end=['sphinx-version'],
    icon_links=[dict(name='GitHub', url=meta['git_url'], icon='fa-brands fa-github')],
    search_bar_text='Search the docs (Ctrl+K)')
html_sidebars = {'index': [], 'search': []}
copybutton_exclude = '.linenos, .gp, .go'
copybutton_selector = 'div.cell_input div.highlight pre, div.highlight-bash pre, div.highlight-python pre'

# math: TeX becomes MathML when the site is built (latex2mathml), which browsers render without any script
def _math(self, node):
    self.body.append(convert(node.astext(), display='inline')); raise nodes.SkipNode
def _displaymath(self, node):
    tex = re.sub(r'\\(label|tag)\{[^}]*\}', '', node.astext())
    self.body.append(f'<div class="math-block">{convert(tex, display="block")}</div>'); raise nodes.SkipNode

def setup(app):
    app.add_html_math_renderer('mathml', (_math, None), (_displaymath, None))
