"""Training-step cost of DCAL against the plain self-attention baseline, measured side by side in one run.

One step = forward + backward + AdamW step on the same batch. The baseline is the unmodified timm model with
cross-entropy; DCAL is `DCALViT` (SA + GLCA + PWCA, T = all blocks) with `DCALLoss`. Variants are timed in
interleaved rounds (A B C A B C ...) and compared by their medians, so drift on a noisy machine hits all alike.
Also reported: the share of the rollout (head-mean probabilities + vector chain) in a DCAL step, measured as
DCAL(rollout) - DCAL(random local queries, which skip it). DCAL's default in training takes each block's output from
fused SDPA and computes the rollout's probabilities beside it; 'one softmax shared' (`attention_probs='reuse'`,
the inference default) uses one explicit softmax for both.

    python bench/train_step.py                       # CPU, DeiT-Tiny 224, batch 16
    python bench/train_step.py --device cuda --bf16  # unchanged on a GPU, bf16 autocast
    python bench/train_step.py --quick               # a tiny smoke run (used by tests)

The last line, `RESULT {json}`, repeats the numbers for machines.
"""
import argparse, json, statistics, time
import torch, timm
import torch.nn.functional as F
from dcal_fast.model import DCALViT
from dcal_fast.losses import DCALLoss

def step_flops(model, loss_fn, x, y):
    "FLOPs of one forward+backward, every matmul counted (MATH attention backend: the fused kernels are invisible to the counter)"
    from torch.utils.flop_counter import FlopCounterMode
    from torch.nn.attention import sdpa_kernel, SDPBackend
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc: loss_fn(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return fc.get_total_flops()

def make_step(model, loss_fn, device, bf16):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    def step(x, y):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(model(x), y)
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
        if device.type == 'cuda': torch.cuda.synchronize()
    return step

def median_step_times(variants:dict, x, y, rounds:int) -> dict:
    "Median seconds of each `step(x, y)` in `variants`, after one warm-up each, timed in interleaved rounds (drift hits all alike)"
    times = {k: [] for k in variants}
    for step in variants.values(): step(x, y)
    for _ in range(rounds):
        for k, step in variants.items():
            t = time.perf_counter(); step(x, y); times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--arch', default='deit_tiny_patch16_224'); p.add_argument('--img-size', type=int, default=224)
    p.add_argument('--bs', type=int, default=16); p.add_argument('--rounds', type=int, default=7)
    p.add_argument('--device', default='cpu'); p.add_argument('--bf16', action='store_true')
    p.add_argument('--quick', action='store_true', help='tiny model and batch: a smoke run')
    a = p.parse_args()
    kw = dict(depth=2) if a.quick else {}
    if a.quick: a.img_size, a.bs, a.rounds = 32, 4, 2
    dev, n_cls = torch.device(a.device), 200
    torch.manual_seed(0)
    x, y = torch.randn(a.bs, 3, a.img_size, a.img_size, device=dev), torch.randint(0, n_cls, (a.bs,), device=dev)
    base = timm.create_model(a.arch, pretrained=False, num_classes=n_cls, img_size=a.img_size, **kw).to(dev).train()
    variants = {'SA baseline (timm)': make_step(base, F.cross_entropy, dev, a.bf16)}
    models = {}
    for name, opts in (('DCAL', {}), ('DCAL, one softmax shared', dict(attention_probs='reuse')),
                       ('DCAL, random queries (no rollout)', dict(local_query='random')),
                       ('SA+GLCA (no PWCA)', dict(pwca=False)), ('SA+PWCA (no GLCA)', dict(glca=False))):
        m = DCALViT(a.arch, n_cls, img_size=a.img_size, top_r=0.1, pretrained=False, **opts, **kw).to(dev).train()
        variants[name] = make_step(m, DCALLoss('fgvc'), dev, a.bf16)
        models[name] = m
    med = median_step_times(variants, x, y, a.rounds)
    b = med['SA baseline (timm)']
    print(f"{a.arch} @ {a.img_size}, batch {a.bs}, {a.device}{' bf16' if a.bf16 else ' fp32'}, "
          f"{torch.get_num_threads()} threads, median of {a.rounds} interleaved rounds")
    for k, v in med.items(): print(f"  {k:36s} {v*1000:8.1f} ms/step   {v/b:5.2f}x baseline")
    roll = med['DCAL'] - med['DCAL, random queries (no rollout)']
    print(f"  rollout share of a DCAL step: {roll/med['DCAL']*100:5.1f}%  (DCAL minus DCAL with random queries)")
    summary = dict(dcal_vs_baseline=med['DCAL'] / b, ms_per_step={k: v * 1000 for k, v in med.items()},
                   vs_baseline={k: v / b for k, v in med.items()}, rollout_share=roll / med['DCAL'])
    if dev.type == 'cpu':
        fr = step_flops(models['DCAL'], DCALLoss('fgvc'), x, y) / step_flops(base, F.cross_entropy, x, y)
        print(f"  FLOP ratio of the step (the floor): {fr:.2f}x; DCAL time / FLOP floor: {med['DCAL']/b/fr:.2f}")
        summary['flop_ratio'] = fr
    print('RESULT ' + json.dumps(summary))   # one machine-readable line (tests/test_bench.py reads it)

if __name__ == '__main__': main()
