"""Training-step cost of HAT against its plain backbone, measured side by side in one run.

One step = forward + backward + Adam step on the same P x K batch. The baseline is the plain timm backbone (ResNet-50
by default) with cross-entropy + batch-hard triplet on its pooled feature (the strong baseline HAT starts from);
HAT is `HAT` (MFE + DSA over the TFCs, `layers={3,3,6,0}`, d = 16) with `HATLoss` (ID + triplet on the backbone, the
last TFC and, weighted by λ, the other TFCs). Also timed: HAT without NeA, and HAT with `layers={0,0,6,0}` (one TFC,
Table 2). Variants run in interleaved rounds (A B C A B C ...) and are compared by their medians, so drift on a
noisy machine hits all alike. On a CPU the FLOP ratio of the step is reported too (attention counted under the
MATH backend, as in bench/train_step.py).

    python bench/hat_step.py                       # CPU, ResNet-50 @ 256x128, batch 16 (P=4, K=4)
    python bench/hat_step.py --device cuda --bf16  # on a GPU, bf16 autocast
    python bench/hat_step.py --quick               # a tiny smoke run (ResNet-10t @ 64x32, batch 8)

The last line, `RESULT {json}`, repeats the numbers for machines.
"""
import argparse, json
import torch, timm
import torch.nn.functional as F
from dcal_fast.hat import HAT, HATLoss
from dcal_fast.losses import triplet_loss
import sys; from pathlib import Path; sys.path.insert(0, str(Path(__file__).parent))
from train_step import step_flops, make_step, median_step_times   # the same FLOP count and timing as DCAL's bench

def baseline_loss(logits_feats, y):
    logits, feats = logits_feats
    return F.cross_entropy(logits, y, label_smoothing=0.1) + triplet_loss(feats, y, 0.3)

class Plain(torch.nn.Module):
    "The plain timm backbone: pooled feature -> classifier (the baseline's ID + triplet losses on it)"
    def __init__(self, arch, n_cls, **kw):
        super().__init__()
        self.body = timm.create_model(arch, pretrained=False, num_classes=0, **kw)
        self.head = torch.nn.Linear(self.body.num_features, n_cls, bias=False)
    def forward(self, x):
        f = self.body(x)
        return self.head(f), f

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--arch', default='resnet50'); p.add_argument('--height', type=int, default=256); p.add_argument('--width', type=int, default=128)
    p.add_argument('--p', type=int, default=4); p.add_argument('--k', type=int, default=4); p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--device', default='cpu'); p.add_argument('--bf16', action='store_true')
    p.add_argument('--quick', action='store_true', help='tiny model and batch: a smoke run')
    a = p.parse_args()
    hat_kw = dict(dim=384, num_heads=12, stride=16)
    if a.quick: a.arch, a.height, a.width, a.p, a.k, a.rounds, hat_kw = 'resnet10t', 64, 32, 4, 2, 2, dict(dim=16, num_heads=4, stride=8)
    dev, n_cls, size = torch.device(a.device), 751, (a.height, a.width)
    torch.manual_seed(0)
    x = torch.randn(a.p * a.k, 3, *size, device=dev)
    y = torch.arange(a.p, device=dev).repeat_interleave(a.k)
    base = Plain(a.arch, n_cls).to(dev).train()
    variants, models = {'plain backbone': make_step(base, baseline_loss, dev, a.bf16)}, {}
    for name, opts in (('HAT {3,3,6,0}', {}), ('HAT w/o NeA', dict(nea=False)), ('HAT {0,0,6,0}', dict(layers=(0, 0, 6, 0)))):
        m = HAT(a.arch, n_cls, img_size=size, pretrained=False, **{**hat_kw, **opts}).to(dev).train()
        variants[name], models[name] = make_step(m, HATLoss(), dev, a.bf16), m
    med = median_step_times(variants, x, y, a.rounds)
    b = med['plain backbone']
    n_par = {'plain backbone': sum(p.numel() for p in base.parameters()), **{k: sum(p.numel() for p in m.parameters()) for k, m in models.items()}}
    print(f"{a.arch} @ {a.height}x{a.width}, batch {a.p}x{a.k}, {a.device}{' bf16' if a.bf16 else ' fp32'}, "
          f"{torch.get_num_threads()} threads, median of {a.rounds} interleaved rounds")
    for k, v in med.items(): print(f"  {k:18s} {v*1000:9.1f} ms/step   {v/b:5.2f}x baseline   {n_par[k]/1e6:6.1f}M parameters")
    summary = dict(hat_vs_baseline=med['HAT {3,3,6,0}'] / b, ms_per_step={k: v * 1000 for k, v in med.items()},
                   vs_baseline={k: v / b for k, v in med.items()}, params={k: int(v) for k, v in n_par.items()})
    if dev.type == 'cpu':
        fr = step_flops(models['HAT {3,3,6,0}'], HATLoss(), x, y) / step_flops(base, baseline_loss, x, y)
        print(f"  FLOP ratio of the step: {fr:.2f}x; HAT time / FLOP ratio: {med['HAT {3,3,6,0}']/b/fr:.2f}")
        summary['flop_ratio'] = fr
    print('RESULT ' + json.dumps(summary))

if __name__ == '__main__': main()
