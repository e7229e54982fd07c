"""Inference cost of DCAL against the plain self-attention baseline, measured side by side in one run.

For each setting (architecture, image size, classes, R) this counts the GFLOPs of one image (every matmul: the
attention matmuls and the rollout included, under the MATH attention backend so the counter sees them; and the
paper's convention without them), then times eval-mode forward passes of a batch in interleaved rounds
(SA, DCAL, SA, DCAL, ...) and compares medians, so drift on a noisy machine hits all variants alike. Variants:

* SA baseline: the unmodified timm model (fused SDPA);
* DCAL: rollout over every block, each block's softmax computed once and used for the output and the rollout
  (`attention_probs='auto'`, the default, does this without gradient);
* DCAL recompute: fused SDPA for the output, the probabilities recomputed beside it (`attention_probs='recompute'`);
* DCAL last-layer / random queries (Sec. 4.4): no rollout at all.

    python bench/inference.py                        # CPU: DeiT-Tiny 448 and 224 (batch 8), ViT-Base 256x128 FLOPs
    python bench/inference.py --device cuda --bf16   # unchanged on a GPU, bf16 autocast
    python bench/inference.py --quick                # a tiny smoke run (used by tests)

The last line, `RESULT {json}`, repeats the numbers for machines.
"""
import argparse, json, statistics, time
import torch, timm
from dcal_fast.model import DCALViT, inference_cost

VARIANTS = {'DCAL': {}, 'DCAL recompute': dict(attention_probs='recompute'),
            'DCAL last-layer queries': dict(local_query='last_layer'), 'DCAL random queries': dict(local_query='random')}

def models(arch, size, n_out, top_r, task, **kw):
    "The baseline and every DCAL variant, same random weights for the shared parts"
    torch.manual_seed(0)
    out = {'SA baseline': timm.create_model(arch, pretrained=False, num_classes=n_out, img_size=size, **kw)}
    for name, opts in VARIANTS.items():
        torch.manual_seed(0)
        out[name] = DCALViT(arch, n_out, img_size=size, top_r=top_r, task=task, pretrained=False, **opts, **kw)
    return {k: m.eval() for k, m in out.items()}

def flops(ms, size):
    "GFLOPs per image of each model: all matmuls, and without the attention/rollout matmuls (the paper's convention)"
    x = torch.randn(1, 3, *size)
    return {k: inference_cost(m, x) for k, m in ms.items()}

def wall(ms, size, bs, rounds, device, bf16):
    "Median seconds of an eval-mode forward pass of a batch of `bs`, per model, timed in interleaved rounds"
    x = torch.randn(bs, 3, *size, device=device)
    ms = {k: m.to(device) for k, m in ms.items()}
    times = {k: [] for k in ms}
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        for m in ms.values(): m(x)   # warm-up
        for _ in range(rounds):
            for k, m in ms.items():
                if device.type == 'cuda': torch.cuda.synchronize()
                t = time.perf_counter(); m(x)
                if device.type == 'cuda': torch.cuda.synchronize()
                times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--bs', type=int, default=8); p.add_argument('--rounds', type=int, default=7)
    p.add_argument('--device', default='cpu'); p.add_argument('--bf16', action='store_true')
    p.add_argument('--quick', action='store_true', help='tiny models and batch: a smoke run')
    a = p.parse_args()
    dev = torch.device(a.device)
    settings = [('DeiT-Tiny 448, 200 classes, R=10%', 'deit_tiny_patch16_224', (448, 448), 200, 0.1, 'fgvc', True, {}),
                ('DeiT-Tiny 224, 200 classes, R=10%', 'deit_tiny_patch16_224', (224, 224), 200, 0.1, 'fgvc', True, {}),
                ('ViT-Base 256x128, 1041 ids, R=30%', 'vit_base_patch16_224', (256, 128), 1041, 0.3, 'reid', False, {})]
    if a.quick:
        settings = [('tiny 64, R=10%', 'deit_tiny_patch16_224', (64, 64), 10, 0.1, 'fgvc', True, dict(depth=2))]
        a.bs, a.rounds = 2, 2
    summary = {}
    print(f"{a.device}{' bf16' if a.bf16 else ' fp32'}, {torch.get_num_threads()} threads; wall time: median of {a.rounds} "
          f"interleaved rounds of an eval-mode batch of {a.bs}")
    for name, arch, size, n_out, top_r, task, timed, kw in settings:
        ms = models(arch, size, n_out, top_r, task, **kw)
        fl = flops(ms, size)
        b = fl['SA baseline']
        res = dict(gflops={k: v['gflops'] for k, v in fl.items()}, gflops_linear={k: v['gflops_linear'] for k, v in fl.items()},
                   flops_vs_sa={k: v['gflops'] / b['gflops'] for k, v in fl.items()},
                   flops_linear_vs_sa={k: v['gflops_linear'] / b['gflops_linear'] for k, v in fl.items()})
        print(f"\n{name}: {arch} @ {size[0]}x{size[1]}")
        if timed:
            t = wall(ms, size, a.bs, a.rounds, dev, a.bf16)
            res['ms'] = {k: v * 1000 for k, v in t.items()}
            res['time_vs_sa'] = {k: v / t['SA baseline'] for k, v in t.items()}
        for k in ms:
            line = (f"  {k:24s} GFLOPs {fl[k]['gflops']:7.2f} ({res['flops_vs_sa'][k]:5.3f}x SA; without attention matmuls "
                    f"{fl[k]['gflops_linear']:6.2f}, {res['flops_linear_vs_sa'][k]:5.3f}x)")
            if timed: line += f"   {res['ms'][k]:8.1f} ms   {res['time_vs_sa'][k]:5.2f}x SA"
            print(line)
        summary[name] = res
    print('RESULT ' + json.dumps(summary))   # one machine-readable line (tests/test_bench.py reads it)

if __name__ == '__main__': main()
