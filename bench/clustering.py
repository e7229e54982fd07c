"""The clustering step of unsupervised Re-ID (dcal_fast.unsupervised.cluster_features) at scale: time and peak memory at
10k and 100k synthetic features, against a dense implementation measured in the same run where it fits.

Each size runs in a fresh process (its peak resident memory is then the step's own). The features are identities on
the unit sphere (`--per-id` images each, Gaussian spread) in `--dim` dimensions; the clustering is the paper's:
Jaccard distance over k-reciprocal neighbours (k1=30, k2=6), DBSCAN eps=0.4, min_samples=4.

The dense baseline is the usual way to write it (cluster contrast's `compute_jaccard_distance`): the N×N distance
matrix, V as a dense N×N matrix, the Jaccard distance as a dense N×N matrix, then DBSCAN on the dense matrix. It needs
O(N²) memory: at 100k that is 40 GB per float32 matrix, so it runs only up to `--dense-max`.

    python bench/clustering.py                       # 10k and 100k, dense baseline at 10k
    python bench/clustering.py --sizes 2000 10000 --dense-max 10000
"""
from __future__ import annotations
import argparse, json, os, resource, subprocess, sys, time
import numpy as np

def features(n, dim, per_id, seed=0):
    import torch
    g = torch.Generator().manual_seed(seed)
    n_ids = max(1, n // per_id)
    centres = torch.nn.functional.normalize(torch.randn(n_ids, dim, generator=g), dim=1)
    ids = torch.arange(n) % n_ids
    return centres[ids] + 0.35 / dim ** 0.5 * torch.randn(n, dim, generator=g), ids.numpy()

def dense_cluster(f, eps=0.4, min_samples=4, k1=30, k2=6):
    "The dense route: N×N distances, dense V, dense Jaccard, DBSCAN on the dense matrix"
    import torch
    from sklearn.cluster import DBSCAN
    f = torch.nn.functional.normalize(f, dim=1)
    N = len(f)
    d = (2 - 2 * f @ f.T).clamp_min_(0)
    d /= d.max(1, keepdim=True).values
    rank = d.topk(k1 + 1, dim=1, largest=False).indices
    V = torch.zeros(N, N)
    half = int(round(k1 / 2))
    recip = lambda i, k: [int(j) for j in rank[i, :k + 1] if i in rank[j, :k + 1]]
    for i in range(N):
        R = recip(i, k1); exp = set(R)
        for j in R:
            Rj = recip(j, half)
            if len(set(Rj) & set(R)) > 2 / 3 * len(Rj): exp |= set(Rj)
        exp = torch.tensor(sorted(exp))
        w = torch.exp(-d[i, exp]); V[i, exp] = w / w.sum()
    V = torch.stack([V[rank[i, :k2]].mean(0) for i in range(N)])
    del d
    jac = torch.zeros(N, N)
    nz = [torch.nonzero(V[:, c]).squeeze(1) for c in range(N)]   # the images with each column non-zero
    for i in range(N):
        cols = torch.nonzero(V[i]).squeeze(1)
        mins = torch.zeros(N)
        for c in cols.tolist(): mins[nz[c]] += torch.minimum(V[i, c], V[nz[c], c])
        jac[i] = (1 - mins / (2 - mins)).clamp_min(0)
    return DBSCAN(eps=eps, min_samples=min_samples, metric='precomputed').fit(jac.numpy()).labels_

def _rss_mb():
    with open('/proc/self/status') as f: return next(int(l.split()[1]) for l in f if l.startswith('VmRSS')) / 1024

def one(n, dim, per_id, how):
    import torch
    from dcal_fast.unsupervised import cluster_features   # both routes: the same imports before the baseline reading
    torch.set_num_threads(int(os.environ.get('BENCH_THREADS', '2')))
    f, ids = features(n, dim, per_id)
    base_mb = _rss_mb()
    t0 = time.perf_counter()
    if how == 'sparse':
        res = cluster_features(f); labels, pairs = res['labels'], res['pairs']
    else: labels, pairs = dense_cluster(f), n * n
    secs = time.perf_counter() - t0
    from sklearn.metrics import adjusted_rand_score
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base_mb   # what the step added at its peak
    print(json.dumps(dict(n=n, how=how, seconds=secs, peak_mb=peak_mb, clusters=int(labels.max()) + 1, true_ids=int(len(set(ids))),
                          outliers=int((labels < 0).sum()), ari=adjusted_rand_score(ids, labels), stored_pairs=int(pairs))))

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--sizes', type=int, nargs='+', default=[10_000, 100_000])
    ap.add_argument('--dim', type=int, default=256)
    ap.add_argument('--per-id', type=int, default=20)
    ap.add_argument('--dense-max', type=int, default=10_000, help='largest N for the dense baseline (O(N²) memory)')
    ap.add_argument('--quick', action='store_true', help='2000 features, both routes (the test suite)')
    ap.add_argument('--one', nargs=2, help=argparse.SUPPRESS)   # N HOW: the child process
    args = ap.parse_args()
    if args.quick: args.sizes, args.dense_max = [2000], 2000
    if args.one: return one(int(args.one[0]), args.dim, args.per_id, args.one[1])
    rows = []
    for n in args.sizes:
        for how in ['sparse'] + (['dense'] if n <= args.dense_max else []):
            # the baseline's python loops are O(N · set size²): at 10k it takes minutes, as the code people use does
            r = subprocess.run([sys.executable, __file__, '--one', str(n), how, '--dim', str(args.dim), '--per-id', str(args.per_id)],
                               capture_output=True, text=True)
            if r.returncode: print(r.stderr[-2000:]); continue
            row = json.loads(r.stdout.strip().splitlines()[-1]); rows.append(row); print(json.dumps(row), flush=True)
    print(f"\nclustering step (Jaccard k1=30 k2=6 + DBSCAN eps=0.4 min_samples=4), {args.dim}-d features, {args.per_id} per identity, "
          f"{os.environ.get('BENCH_THREADS', '2')} thread(s); each in its own process")
    print(f"{'N':>8} {'route':>7} {'seconds':>9} {'+peak MB':>9} {'clusters':>9} {'true':>6} {'outliers':>9} {'ARI':>6} {'stored pairs':>13}")
    for r in rows:
        print(f"{r['n']:>8} {r['how']:>7} {r['seconds']:>9.1f} {r['peak_mb']:>9.0f} {r['clusters']:>9} {r['true_ids']:>6} {r['outliers']:>9} "
              f"{r['ari']:>6.3f} {r['stored_pairs']:>13}")
    for n in args.sizes:
        s = next((r for r in rows if r['n'] == n and r['how'] == 'sparse'), None)
        d = next((r for r in rows if r['n'] == n and r['how'] == 'dense'), None)
        if s and d: print(f"N={n}: sparse/dense time {s['seconds'] / d['seconds']:.2f}x, peak memory {s['peak_mb'] / d['peak_mb']:.2f}x")
    print('RESULT ' + json.dumps({f"{r['how']}_{r['n']}": {k: r[k] for k in ('seconds', 'peak_mb', 'clusters', 'true_ids', 'outliers', 'ari', 'stored_pairs')}
                                  for r in rows}))

if __name__ == '__main__': main()
