"""CPU latency of an exported DCAL model in onnxruntime against the same model in PyTorch eager, measured side by side in one run.

For each setting (architecture, image size, classes, R, task) the model is exported with `export_onnx` (normalisation
baked in, the export's own onnxruntime-vs-PyTorch check on) and both engines run the same computation, the
`InferenceGraph` (normalise -> SA + rollout + top-R + GLCA -> probabilities or embeddings), on the same 0-1 images:

* PyTorch eager: `torch.inference_mode()`, fp32, the CPU paths of the eager model (per-head attention where matrices
  are large);
* onnxruntime: a CPU `InferenceSession` of the file, all graph optimisations, the same number of intra-op threads.

Batches of 1 (a request) and of `--bs` (throughput) are timed in interleaved rounds (eager, onnxruntime, eager, ...)
and medians compared, so drift on a noisy machine hits both alike. Random weights: latency does not depend on them.

    python bench/onnx_latency.py                 # DeiT-Tiny 224 and 448 (FGVC), ViT-Small 256x128 (Re-ID)
    python bench/onnx_latency.py --threads 4     # torch and onnxruntime both on 4 threads
    python bench/onnx_latency.py --quick         # a tiny smoke run (used by tests)

The last line, `RESULT {json}`, repeats the numbers for machines.
"""
import argparse, json, statistics, tempfile, time
from pathlib import Path
import numpy as np
import torch
from dcal_fast.model import DCALViT
from dcal_fast.deploy import InferenceGraph, export_onnx, onnx_session

IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])

def timed_rounds(engines:dict, x:np.ndarray, rounds:int) -> dict:
    "Median seconds of one call of each engine on `x`, in interleaved rounds after a warm-up call each"
    for f in engines.values(): f(x)
    times = {k: [] for k in engines}
    for _ in range(rounds):
        for k, f in engines.items():
            t = time.perf_counter(); f(x); times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--bs', type=int, default=8, help='the throughput batch (a batch of 1 is timed too)')
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--threads', type=int, default=None, help='intra-op threads of both engines (default: torch\'s)')
    p.add_argument('--quick', action='store_true', help='a tiny model and batch: a smoke run')
    a = p.parse_args()
    threads = a.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    settings = [('DeiT-Tiny 224, 200 classes, R=10% (FGVC)', 'deit_tiny_patch16_224', (224, 224), 200, 0.1, 'fgvc', {}),
                ('DeiT-Tiny 448, 200 classes, R=10% (FGVC)', 'deit_tiny_patch16_224', (448, 448), 200, 0.1, 'fgvc', {}),
                ('ViT-Small 256x128, 751 ids, R=30% (Re-ID)', 'vit_small_patch16_224', (256, 128), 751, 0.3, 'reid', {})]
    if a.quick:
        settings = [('tiny 32, R=25% (FGVC)', 'deit_tiny_patch16_224', (32, 32), 10, 0.25, 'fgvc', dict(depth=2, patch_size=8))]
        a.bs, a.rounds = 2, 2
    print(f"CPU, {threads} threads for both engines (torch {torch.__version__}); median of {a.rounds} interleaved rounds, fp32")
    summary, folder = {}, Path(tempfile.mkdtemp())
    for name, arch, size, n_out, top_r, task, kw in settings:
        torch.manual_seed(0)
        model = DCALViT(arch, n_out, img_size=size, top_r=top_r, task=task, pretrained=False, **kw).eval()
        t0 = time.perf_counter()
        fname = export_onnx(model, folder/f'{arch}_{size[0]}x{size[1]}.onnx', stats=IMAGENET)
        export_s = time.perf_counter() - t0
        sess = onnx_session(fname, threads=threads)
        graph = InferenceGraph(model, IMAGENET).eval()
        def eager(x):
            with torch.inference_mode(): return graph(torch.from_numpy(x)).numpy()
        def ort(x): return sess.run(None, {'images': x})[0]
        engines = {'PyTorch eager': eager, 'onnxruntime': ort}
        res = dict(export_s=export_s, mb=fname.stat().st_size/1e6)
        print(f"\n{name}: {arch} @ {size[0]}x{size[1]}, {res['mb']:.0f} MB file, exported and checked in {export_s:.1f}s")
        print(f"  {'batch':>5}  {'PyTorch eager':>14}  {'onnxruntime':>12}  {'onnxruntime/eager':>17}  {'images/s (ORT)':>14}  max |diff|")
        for bs in (1, a.bs):
            x = np.random.default_rng(0).random((bs, 3, *size), dtype=np.float32)
            t = timed_rounds(engines, x, a.rounds)
            diff = float(np.abs(ort(x) - eager(x)).max())
            r = dict(ms={k: v*1000 for k, v in t.items()}, onnxruntime_vs_eager=t['onnxruntime']/t['PyTorch eager'],
                     images_per_s={k: bs/v for k, v in t.items()}, max_abs_diff=diff)
            res[f'bs{bs}'] = r
            print(f"  {bs:>5}  {r['ms']['PyTorch eager']:11.1f} ms  {r['ms']['onnxruntime']:9.1f} ms  {r['onnxruntime_vs_eager']:16.2f}x  "
                  f"{r['images_per_s']['onnxruntime']:14.1f}  {diff:.1e}")
        summary[name] = res
    print('RESULT ' + json.dumps(summary))   # one machine-readable line (tests/test_bench.py reads it)

if __name__ == '__main__': main()
