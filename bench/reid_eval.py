"""Re-ID evaluation and re-ranking: `dcal_fast.reid_eval` against the widely used numpy implementations, in one run.

    python bench/reid_eval.py            # MSMT17 scale (11,659 × 82,161, 4,101 ids, 15 cameras, 768-d) + Market-1501 re-ranking
    python bench/reid_eval.py --quick    # small smoke run (seconds), used by tests/test_reid_eval.py

The last line, `RESULT {json}`, repeats the timings, memory and ratios for machines.

Evaluation: `reid_eval_feats` on all queries vs torchreid's `eval_market1501` (full `argsort` of the distance matrix,
match matrix, per-query python loop) run on a sample of queries and scaled up linearly in the number of queries
(its time and memory are linear in Q). Re-ranking (Market-1501 scale, 3,368 + 15,913 images): `re_ranking` vs the
common dense k-reciprocal implementation (Zhong et al.'s code as used in most Re-ID repos), both in full.
Features are random but clustered: one centre per identity, a per-camera offset, Gaussian noise.

Peak extra memory: each measurement runs in a fresh subprocess that builds its inputs first (in small chunks),
then resets the kernel's peak-RSS counter (`echo 5 > /proc/self/clear_refs`, Linux) and reports
VmHWM - VmRSS-before: the resident memory the measured call added at its peak (numpy, torch and Python alike).
Where clear_refs is unavailable it falls back to ru_maxrss - VmRSS-before (an upper bound)."""
import argparse, json, os, resource, subprocess, sys, time
from pathlib import Path
import numpy as np, torch

SCALES = dict(
    full=dict(Q=11659, G=82161, ids=4101, cams=15, D=768, sample=200, rr_Q=3368, rr_G=15913, rr_ids=751, rr_D=768),
    quick=dict(Q=300, G=3000, ids=150, cams=6, D=64, sample=60, rr_Q=120, rr_G=480, rr_ids=40, rr_D=64))
NOISE = 2.3   # gives mAP ~0.6 at MSMT17 scale, like a good model on MSMT17

# ---------------------------------------------------------------- data
def clustered(n, ids, cams, D, seed, n_ids):
    "Features of `n` images of random ids (< n_ids) under random cameras, built in chunks (no big temporaries)."
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(n_ids, D, generator=torch.Generator().manual_seed(0))
    cam_off = 0.5 * torch.randn(cams, D, generator=torch.Generator().manual_seed(1))
    pids, camids = torch.randint(0, n_ids, (n,), generator=g), torch.randint(0, cams, (n,), generator=g)
    f = torch.empty(n, D)
    for i in range(0, n, 4096):
        f[i:i+4096] = centers[pids[i:i+4096]] + cam_off[camids[i:i+4096]] + NOISE * torch.randn(len(f[i:i+4096]), D, generator=g)
    return f, pids, camids

def eval_data(s):
    qf, qp, qc = clustered(s['Q'], s['ids'], s['cams'], s['D'], 10, s['ids'])
    gf, gp, gc = clustered(s['G'], s['ids'], s['cams'], s['D'], 11, s['ids'])
    return qf, gf, qp, gp, qc, gc

def rerank_data(s):
    qf, qp, qc = clustered(s['rr_Q'], s['rr_ids'], 6, s['rr_D'], 20, s['rr_ids'])
    gf, gp, gc = clustered(s['rr_G'], s['rr_ids'], 6, s['rr_D'], 21, s['rr_ids'])
    return qf, gf, qp, gp, qc, gc

# ---------------------------------------------------------------- baselines (condensed from the common code, same algorithms)
def cosine_distmat(qf, gf):
    "As torchreid's compute_distance_matrix(metric='cosine')."
    qf, gf = torch.nn.functional.normalize(qf, dim=1), torch.nn.functional.normalize(gf, dim=1)
    return (1 - qf @ gf.T).numpy()

def eval_market1501(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50):
    "torchreid's python `eval_market1501` (metrics/rank.py)."
    num_q, num_g = distmat.shape
    if num_g < max_rank: max_rank = num_g
    indices = np.argsort(distmat, axis=1)
    matches = (g_pids[indices] == q_pids[:, np.newaxis]).astype(np.int32)
    all_cmc, all_AP, all_INP, num_valid_q = [], [], [], 0.
    for q_idx in range(num_q):
        q_pid, q_camid = q_pids[q_idx], q_camids[q_idx]
        order = indices[q_idx]
        remove = (g_pids[order] == q_pid) & (g_camids[order] == q_camid)
        raw_cmc = matches[q_idx][np.invert(remove)]
        if not np.any(raw_cmc): continue
        cmc = raw_cmc.cumsum()
        max_pos_idx = np.max(np.where(raw_cmc == 1))
        all_INP.append(cmc[max_pos_idx] / (max_pos_idx + 1.0))
        cmc[cmc > 1] = 1
        all_cmc.append(cmc[:max_rank]); num_valid_q += 1.
        num_rel = raw_cmc.sum()
        tmp_cmc = raw_cmc.cumsum()
        tmp_cmc = [x / (i + 1.) for i, x in enumerate(tmp_cmc)]
        tmp_cmc = np.asarray(tmp_cmc) * raw_cmc
        all_AP.append(tmp_cmc.sum() / num_rel)
    all_cmc = np.asarray(all_cmc).astype(np.float32).sum(0) / num_valid_q
    return all_cmc, np.mean(all_AP), np.mean(all_INP)

def dense_re_ranking(probFea, galFea, k1=20, k2=6, lambda_value=0.3):
    "The common dense k-reciprocal re-ranking (Zhong et al.'s code as found in most Re-ID repositories)."
    query_num = probFea.size(0)
    all_num = query_num + galFea.size(0)
    feat = torch.cat([probFea, galFea])
    distmat = torch.pow(feat, 2).sum(dim=1, keepdim=True).expand(all_num, all_num) + \
              torch.pow(feat, 2).sum(dim=1, keepdim=True).expand(all_num, all_num).t()
    distmat.addmm_(feat, feat.t(), beta=1, alpha=-2)
    original_dist = distmat.cpu().numpy()
    del feat, distmat
    gallery_num = original_dist.shape[0]
    original_dist = np.transpose(original_dist / np.max(original_dist, axis=0))
    V = np.zeros_like(original_dist).astype(np.float16)
    initial_rank = np.argsort(original_dist).astype(np.int32)
    for i in range(all_num):
        forward_k_neigh_index = initial_rank[i, :k1 + 1]
        backward_k_neigh_index = initial_rank[forward_k_neigh_index, :k1 + 1]
        fi = np.where(backward_k_neigh_index == i)[0]
        k_reciprocal_index = forward_k_neigh_index[fi]
        k_reciprocal_expansion_index = k_reciprocal_index
        for j in range(len(k_reciprocal_index)):
            candidate = k_reciprocal_index[j]
            candidate_forward_k_neigh_index = initial_rank[candidate, :int(np.around(k1 / 2)) + 1]
            candidate_backward_k_neigh_index = initial_rank[candidate_forward_k_neigh_index, :int(np.around(k1 / 2)) + 1]
            fi_candidate = np.where(candidate_backward_k_neigh_index == candidate)[0]
            candidate_k_reciprocal_index = candidate_forward_k_neigh_index[fi_candidate]
            if len(np.intersect1d(candidate_k_reciprocal_index, k_reciprocal_index)) > 2 / 3 * len(candidate_k_reciprocal_index):
                k_reciprocal_expansion_index = np.append(k_reciprocal_expansion_index, candidate_k_reciprocal_index)
        k_reciprocal_expansion_index = np.unique(k_reciprocal_expansion_index)
        weight = np.exp(-original_dist[i, k_reciprocal_expansion_index])
        V[i, k_reciprocal_expansion_index] = weight / np.sum(weight)
    original_dist = original_dist[:query_num, ]
    if k2 != 1:
        V_qe = np.zeros_like(V, dtype=np.float16)
        for i in range(all_num):
            V_qe[i, :] = np.mean(V[initial_rank[i, :k2], :], axis=0)
        V = V_qe
        del V_qe
    del initial_rank
    invIndex = []
    for i in range(gallery_num):
        invIndex.append(np.where(V[:, i] != 0)[0])
    jaccard_dist = np.zeros_like(original_dist, dtype=np.float16)
    for i in range(query_num):
        temp_min = np.zeros(shape=[1, gallery_num], dtype=np.float16)
        indNonZero = np.where(V[i, :] != 0)[0]
        indImages = [invIndex[ind] for ind in indNonZero]
        for j in range(len(indNonZero)):
            temp_min[0, indImages[j]] = temp_min[0, indImages[j]] + np.minimum(V[i, indNonZero[j]], V[indImages[j], indNonZero[j]])
        jaccard_dist[i] = 1 - temp_min / (2 - temp_min)
    final_dist = jaccard_dist * (1 - lambda_value) + original_dist * lambda_value
    del original_dist, V, jaccard_dist
    return final_dist[:query_num, query_num:]

# ---------------------------------------------------------------- measuring, one subprocess per measurement
def _status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key): return int(line.split()[1]) * 1024
    return None

def measure(fn):
    "Run `fn()`: (result, seconds, peak extra resident bytes, method)."
    rss0 = _status('VmRSS:')
    try:
        with open('/proc/self/clear_refs', 'w') as f: f.write('5')
        method = 'VmHWM-VmRSS'
    except OSError: method = 'ru_maxrss-VmRSS (upper bound)'
    t0 = time.perf_counter(); res = fn(); secs = time.perf_counter() - t0
    peak = _status('VmHWM:') if method == 'VmHWM-VmRSS' else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return res, secs, max(peak - rss0, 0), method

def worker(name, s):
    from dcal_fast.reid_eval import reid_eval, reid_eval_feats, re_ranking
    if name in ('fast', 'reference'):
        qf, gf, qp, gp, qc, gc = eval_data(s)
        if name == 'fast':
            res, secs, mem, how = measure(lambda: reid_eval_feats(qf, gf, qp, gp, qc, gc))
            out = dict(mAP=res['mAP'], rank1=res['rank1'], mINP=res['mINP'], num_valid=res['num_valid'])
        else:
            n = s['sample']
            qf, qp, qc = qf[:n].clone(), qp[:n].clone(), qc[:n].clone()
            gp_np, gc_np = gp.numpy(), gc.numpy()
            res, secs, mem, how = measure(lambda: eval_market1501(cosine_distmat(qf, gf), qp.numpy(), gp_np, qc.numpy(), gc_np))
            fast = reid_eval_feats(qf, gf, qp, gp, qc, gc)   # same sample, to check agreement
            out = dict(mAP=float(res[1]), rank1=float(res[0][0]), mINP=float(res[2]), fast_mAP=fast['mAP'],
                       fast_rank1=fast['rank1'], fast_mINP=fast['mINP'], n=n)
    else:
        qf, gf, qp, gp, qc, gc = rerank_data(s)
        fn = (lambda: re_ranking(qf, gf)) if name == 'rerank_fast' else (lambda: dense_re_ranking(qf, gf))
        dist, secs, mem, how = measure(fn)
        dist = torch.as_tensor(np.asarray(dist, dtype=np.float32))
        out = dict(mAP=reid_eval(dist, qp, gp, qc, gc)['mAP'], base_mAP=reid_eval_feats(qf, gf, qp, gp, qc, gc, metric='euclidean')['mAP'])
        np.save(os.environ['BENCH_TMP'] + f'/{name}.npy', dist[:200].numpy())
    out.update(secs=secs, mem=mem, method=how)
    print('RESULT ' + json.dumps(out))

def run(name, scale, tmp):
    env = dict(os.environ, BENCH_TMP=tmp)
    p = subprocess.run([sys.executable, __file__, '--worker', name, '--scale', scale], capture_output=True, text=True, env=env)
    if p.returncode: sys.exit(f"worker {name} failed:\n{p.stdout}\n{p.stderr}")
    return json.loads(next(l for l in p.stdout.splitlines() if l.startswith('RESULT '))[7:])

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true', help='small smoke run')
    ap.add_argument('--skip-dense-rerank', action='store_true', help='skip the dense re-ranking baseline (~6 GB at full scale)')
    ap.add_argument('--worker'); ap.add_argument('--scale')
    a = ap.parse_args()
    if a.worker: return worker(a.worker, SCALES[a.scale])
    scale = 'quick' if a.quick else 'full'
    s, GB = SCALES[scale], 2**30
    import tempfile
    tmp = tempfile.mkdtemp()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cpus")
    print(f"\n== evaluation: {s['Q']:,} queries × {s['G']:,} gallery, {s['ids']:,} ids, {s['cams']} cameras, {s['D']}-d ==")
    fast, ref = run('fast', scale, tmp), run('reference', scale, tmp)
    k = s['Q'] / ref['n']
    ok = all(abs(ref[m] - ref['fast_' + m]) < 1e-4 for m in ('mAP', 'rank1', 'mINP'))
    print(f"reid_eval_feats (all queries):          {fast['secs']:8.1f} s  {fast['mem']/GB:6.2f} GB extra   "
          f"mAP {fast['mAP']:.4f} rank1 {fast['rank1']:.4f} mINP {fast['mINP']:.4f} ({fast['num_valid']} valid queries)")
    print(f"eval_market1501 ({ref['n']} queries, measured): {ref['secs']:8.1f} s  {ref['mem']/GB:6.2f} GB extra")
    print(f"eval_market1501 scaled to {s['Q']:,} queries:  {ref['secs']*k:8.1f} s  {ref['mem']*k/GB:6.2f} GB extra")
    summary = dict(eval=dict(fast_s=fast['secs'], reference_s=ref['secs'] * k, fast_bytes=fast['mem'], reference_bytes=ref['mem'] * k,
                             time_ratio=ref['secs'] * k / fast['secs'], memory_ratio=ref['mem'] * k / max(fast['mem'], 1)))
    print(f"ratios: time {summary['eval']['time_ratio']:.1f}x faster, memory {summary['eval']['memory_ratio']:.1f}x less "
          f"(memory: {fast['method']})")
    print(f"agreement on the sample: mAP {ref['mAP']:.6f} vs {ref['fast_mAP']:.6f}, rank1 {ref['rank1']:.6f} vs {ref['fast_rank1']:.6f}, "
          f"mINP {ref['mINP']:.6f} vs {ref['fast_mINP']:.6f}: {'ok' if ok else 'MISMATCH'}")
    print(f"\n== k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3): {s['rr_Q']:,} query + {s['rr_G']:,} gallery, {s['rr_D']}-d ==")
    rf = run('rerank_fast', scale, tmp)
    print(f"re_ranking (sparse):  {rf['secs']:8.1f} s  {rf['mem']/GB:6.2f} GB extra   mAP {rf['base_mAP']:.4f} -> {rf['mAP']:.4f}")
    summary['rerank'] = dict(fast_s=rf['secs'], fast_bytes=rf['mem'], mAP=rf['mAP'], base_mAP=rf['base_mAP'])
    if not a.skip_dense_rerank:
        rd = run('rerank_dense', scale, tmp)
        diff = np.abs(np.load(f'{tmp}/rerank_fast.npy') - np.load(f'{tmp}/rerank_dense.npy')).max()
        print(f"dense re_ranking:     {rd['secs']:8.1f} s  {rd['mem']/GB:6.2f} GB extra   mAP {rd['base_mAP']:.4f} -> {rd['mAP']:.4f}")
        print(f"ratios: time {rd['secs']/rf['secs']:.1f}x faster, memory {rd['mem']/max(rf['mem'], 1):.1f}x less; "
              f"max |difference| on 200 query rows {diff:.2e} (dense code stores V in float16)")
        ok &= diff < 5e-3
        summary['rerank'].update(reference_s=rd['secs'], reference_bytes=rd['mem'], time_ratio=rd['secs'] / rf['secs'],
                                 memory_ratio=rd['mem'] / max(rf['mem'], 1), max_abs_diff=float(diff))
    print('RESULT ' + json.dumps(dict(summary, agree=bool(ok))))   # for tests/test_reid_eval.py
    if not ok: sys.exit('fast and reference results disagree')

if __name__ == '__main__': main()
