"""Training-loader throughput of `fgvc_dls` / `reid_dls` against a plain fastai `ImageDataLoaders`, side by side in one run.

Both sides read the same files with the same transforms (FGVC: squish-resize 550, random crop 448, flip, normalise;
Re-ID: squish-resize 256x128, flip, pad 10 + random crop, normalise, per-image random erasing) and the same batch
size; the only differences are what this project adds: the P×K sampler (`PKDL`) and picking the PWCA distractors
with `pair_indices` for every batch. Variants are timed in interleaved rounds (A B C A B C ...) and compared by the
median of their images/s, so drift on a noisy shared machine hits all alike. Images per CPU-second of this process
(`time.process_time`) is the headline, since other jobs on a shared machine move wall-clock rates by +-40%; with
`--workers` > 0 the decoding happens in other processes, so the ratio is then taken on wall-clock images/s.

Data: `../shared/data/cub100_subset` (FGVC) and `../shared/data/market1501_mini` (Re-ID; all its 96 images serve as
training images, since its train split alone is 32, trimmed to a multiple of the batch size) when present, else generated images of the same sizes.

    python bench/dataloader.py              # ~1-2 minutes on 2 CPU cores
    python bench/dataloader.py --workers 2  # with worker processes
    python bench/dataloader.py --quick      # a tiny smoke run (used by tests)

The last line, `RESULT {json}`, repeats the rates, ratios and costs for machines.
"""
import argparse, json, statistics, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd, torch
from fastai.vision.all import ImageDataLoaders, Resize, ResizeMethod, RandomCrop, FlipItem, Normalize, imagenet_stats
from dcal_fast.data import fgvc_dls, reid_dls, PadRandomCrop, RandomErasingEach
from dcal_fast.pairs import pair_indices
from dcal_fast.synthetic import synthetic_fgvc, synthetic_reid

DATA = Path(__file__).resolve().parents[1]/'..'/'shared'/'data'

def cub_df(tmp):
    cub = DATA/'cub100_subset'
    if not cub.exists():
        print(f'{cub} not found: generated 227x227 images instead')
        return synthetic_fgvc(tmp/'fgvc', n_classes=20, n_train=10, n_test=0, size=227)
    rd = lambda f: pd.read_csv(cub/f, header=None, skipinitialspace=True, index_col=0).iloc[:, 0]
    names, cls, is_train = rd('images.txt'), rd('image_class_labels.txt'), rd('train_test_split.txt')
    df = pd.DataFrame({'fname': [str((cub/'images'/n).resolve()) for n in names],
                       'label': rd('classes.txt')[cls.loc[names.index]].values,
                       'split': np.where(is_train.loc[names.index] == 1, 'train', 'test')})
    return df[df.split == 'train'].reset_index(drop=True)

def market_df(tmp):
    m = DATA/'market1501_mini'
    if not m.exists():
        print(f'{m} not found: generated 128x64 images instead')
        return synthetic_reid(tmp/'reid', n_train_ids=24, n_test_ids=0, n_per_id=(2, 6), size=(128, 64))
    rows = [(str(f.resolve()), int(f.name.split('_')[0]), int(f.name.split('_')[1][1]) - 1, 'train')
            for sub in ('bounding_box_train', 'query', 'bounding_box_test') for f in sorted((m/sub).glob('*.jpg'))]
    return pd.DataFrame(rows, columns=['fname', 'pid', 'camid', 'split'])

def with_token_validation(df, task):
    "The training table plus a token validation split copied from it: the loaders refuse a table without one; unused here"
    if task == 'fgvc': return pd.concat([df, df.iloc[:1].assign(split='test')], ignore_index=True)
    rows = df[df.groupby('pid').camid.transform('nunique') >= 2]
    rows = rows[rows.pid == rows.pid.iloc[0]].drop_duplicates('camid')   # a query and its match from another camera
    return pd.concat([df, rows.iloc[:1].assign(split='query'), rows.iloc[1:2].assign(split='gallery')], ignore_index=True)

def plain_dls(df, label_col, item_tfms, batch_tfms, bs, workers):
    "fastai's own `ImageDataLoaders` over the same training files (plus a copy of one as a token validation set, unused)"
    df = pd.concat([df.assign(is_valid=False), df.iloc[:1].assign(is_valid=True)], ignore_index=True)
    return ImageDataLoaders.from_df(df, path='/', fn_col='fname', label_col=label_col, valid_col='is_valid',
                                    item_tfms=item_tfms, batch_tfms=batch_tfms, bs=bs, num_workers=workers, device='cpu')

def images_per_s(dl, n_images, strategy=None):
    "Images/s drawing training batches (re-iterating epochs) until `n_images`; picks the distractors when `strategy`"
    if len(dl) == 0: raise ValueError('the training loader has no batch')
    seen, g, t0, c0 = 0, torch.Generator().manual_seed(0), time.perf_counter(), time.process_time()
    while seen < n_images:
        for xb, yb in dl:
            if strategy: pair_indices(yb, strategy, g)
            seen += len(xb)
            if seen >= n_images: break
    return seen / (time.perf_counter() - t0), seen / (time.process_time() - c0)

def compare(name, variants, n_images, rounds, cpu=True):
    for dl, s in variants.values(): images_per_s(dl, 1, s)   # warm up (first file reads, lazy setup)
    res = {k: [] for k in variants}
    for _ in range(rounds):
        for k, (dl, s) in variants.items(): res[k].append(images_per_s(dl, n_images, s))
    med = {k: [statistics.median(o[i] for o in v) for i in (0, 1)] for k, v in res.items()}
    j = int(cpu)
    print(f'\n{name}: {n_images} images x {rounds} interleaved rounds; median images/s (wall, per CPU-second); '
          f'ratio to plain on {("wall", "CPU")[j]}')
    for k, v in res.items():
        print(f'  {k:<28} wall {med[k][0]:7.1f}  cpu {med[k][1]:7.1f}  ratio {med[k][j]/med["plain"][j]:.3f}'
              f'   ({("wall", "CPU")[j]} rounds: {" ".join(f"{o[j]:.1f}" for o in v)})')
    return med['plain'][j], {k: med[k][j] / med['plain'][j] for k in res}

def machinery_cost(plain_images_per_s, bs, p, k, n_labels=12936, n_ids=751):
    "Time of the added work alone, as a share of the plain loader's time for the same images: too small for the noise above"
    from dcal_fast.data import pk_batches
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(p).repeat_interleave(k)[torch.randperm(p*k, generator=g)]
    batch_s = bs / plain_images_per_s
    print(f'\nadded work per batch of {p}x{k} (plain loader: {1e3*batch_s:.1f} ms per batch)')
    costs = {}
    for s in ('random', 'intra', 'inter', 'mixed'):
        t0 = time.perf_counter()
        for _ in range(200): pair_indices(labels, s, g)
        t = (time.perf_counter() - t0) / 200
        print(f'  pair_indices {s:<7} {1e6*t:7.1f} us  ({100*t/batch_s:.3f}% of a batch)')
        costs[f'pair_indices_{s}_us'] = 1e6 * t
    ids = np.random.default_rng(0).integers(0, n_ids, n_labels)
    t0 = time.perf_counter(); nb = len(pk_batches(ids, p, k, 0)); t = time.perf_counter() - t0
    print(f'  pk_batches, one epoch of {n_labels} images / {n_ids} ids: {1e3*t:.1f} ms for {nb} batches '
          f'({100*t/nb/batch_s:.3f}% of a batch)')
    return dict(costs, pk_batches_epoch_ms=1e3 * t)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--workers', type=int, default=0); ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--fgvc-images', type=int, default=192); ap.add_argument('--reid-images', type=int, default=768)
    ap.add_argument('--quick', action='store_true', help='tiny sizes and 1 round: a smoke run')
    a = ap.parse_args()
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp())
    size, resize, reid_size = (448, 550, (256, 128)) if not a.quick else (64, 80, (64, 32))
    if a.quick: a.rounds, a.fgvc_images, a.reid_images = 1, 32, 128
    print(f'workers={a.workers}, torch threads={torch.get_num_threads()}')

    df = cub_df(tmp)
    tf = dict(item_tfms=[Resize(resize, method=ResizeMethod.Squish), RandomCrop(size), FlipItem(0.5)],
              batch_tfms=Normalize.from_stats(*imagenet_stats))
    kw = dict(img_size=size, resize=resize, bs=16, num_workers=a.workers, device='cpu')
    fgvc_rate, fgvc_ratios = compare(f'FGVC {size}px, bs 16, {len(df)} training images', {
        'plain': (plain_dls(df, 'label', bs=16, workers=a.workers, **tf).train, None),
        'fgvc_dls random pairs': (fgvc_dls(with_token_validation(df, 'fgvc'), pairs='random', **kw).train, 'random'),
        'fgvc_dls PK(8x2) mixed pairs': (fgvc_dls(with_token_validation(df, 'fgvc'), pairs='mixed', **kw).train, 'mixed')}, a.fgvc_images, a.rounds, a.workers == 0)

    df = market_df(tmp)
    tf = dict(item_tfms=[Resize(reid_size, method=ResizeMethod.Squish), FlipItem(0.5), PadRandomCrop(10)],
              batch_tfms=[Normalize.from_stats(*imagenet_stats), RandomErasingEach(0.5)])
    p = min(16, df.pid.nunique())
    # a whole number of plain batches: fastai's loader decodes the last incomplete batch before dropping it
    df = df.iloc[:len(df) // (p*4) * (p*4)]
    plain_rate, reid_ratios = compare(f'Re-ID {reid_size[0]}x{reid_size[1]}, P={p} x K=4, {len(df)} training images', {
        'plain': (plain_dls(df, 'pid', bs=p*4, workers=a.workers, **tf).train, None),
        'reid_dls PK random pairs': (reid_dls(with_token_validation(df, 'reid'), img_size=reid_size, p=p, k=4, num_workers=a.workers, device='cpu').train, 'random'),
        'reid_dls PK intra pairs': (reid_dls(with_token_validation(df, 'reid'), img_size=reid_size, p=p, k=4, num_workers=a.workers, device='cpu').train, 'intra')},
        a.reid_images, a.rounds, a.workers == 0)
    costs = machinery_cost(plain_rate, p*4, p, 4)
    print('RESULT ' + json.dumps(dict(images_per_s=dict(fgvc_plain=fgvc_rate, reid_plain=plain_rate),   # for tests/test_bench.py
                                      fgvc_vs_plain=fgvc_ratios, reid_vs_plain=reid_ratios, **costs)))

if __name__ == '__main__': main()
