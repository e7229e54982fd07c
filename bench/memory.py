"""Peak training memory of DCAL against the plain self-attention baseline, with and without gradient checkpointing.

Each variant runs in a fresh Python process (so no allocation of another variant is counted): build the model and a
batch, read the resident memory, run training steps (forward + backward + AdamW), and report the peak resident
memory above that starting point (Linux `VmHWM` - `VmRSS`, the peak reset first; the CPU allocator returns freed blocks, so the peak is the
step's: activations kept for backward, gradients, optimiser state). The step time (median) shows what checkpointing
costs. The PWCA stream runs through every block (T = L), so DCAL keeps about twice the baseline's activations;
`grad_checkpointing='pwca'` recomputes those blocks in the backward pass instead.

    python bench/memory.py                 # DeiT-Tiny 448 batch 16, ViT-Base 256x128 batch 16 (x4 = the paper's 64)
    python bench/memory.py --quick         # a tiny smoke run (used by tests)

The last line, `RESULT {json}`, repeats the numbers for machines.
"""
import argparse, json, statistics, subprocess, sys, time

VARIANTS = {'SA baseline': None, 'DCAL': {}, "DCAL, grad_checkpointing='pwca'": dict(grad_checkpointing='pwca'),
            'DCAL, grad_checkpointing=True': dict(grad_checkpointing=True)}

def _mem_kb(field):
    for line in open('/proc/self/status'):
        if line.startswith(field): return int(line.split()[1])

def one(cfg):
    "Run in a fresh process: memory and time of `cfg['steps']` training steps of one variant"
    import torch, timm
    import torch.nn.functional as F
    from dcal_fast.model import DCALViT
    from dcal_fast.losses import DCALLoss
    torch.manual_seed(0)
    size, kw = tuple(cfg['size']), cfg['kw']
    if cfg['opts'] is None: model, loss_fn = timm.create_model(cfg['arch'], pretrained=False, num_classes=cfg['n_out'], img_size=size, **kw), F.cross_entropy
    else: model, loss_fn = DCALViT(cfg['arch'], cfg['n_out'], img_size=size, top_r=cfg['top_r'], pretrained=False, **cfg['opts'], **kw), DCALLoss('fgvc')
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x, y = torch.randn(cfg['bs'], 3, *size), torch.randint(0, cfg['n_out'], (cfg['bs'],))
    try: open('/proc/self/clear_refs', 'w').write('5')   # reset the peak (VmHWM) to the current resident size
    except OSError: pass
    start = _mem_kb('VmRSS')
    times = []
    for _ in range(cfg['steps']):
        t = time.perf_counter()
        loss_fn(model(x), y).backward(); opt.step(); opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t)
    return dict(peak_mb=(_mem_kb('VmHWM') - start) / 1024, step_s=statistics.median(times))

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--steps', type=int, default=3); p.add_argument('--quick', action='store_true', help='a tiny smoke run')
    p.add_argument('--one', help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one: print(json.dumps(one(json.loads(a.one)))); return
    settings = [('DeiT-Tiny 448, batch 16', dict(arch='deit_tiny_patch16_224', size=(448, 448), n_out=200, top_r=0.1, bs=16, kw={})),
                ('ViT-Base 256x128, batch 16', dict(arch='vit_base_patch16_224', size=(256, 128), n_out=751, top_r=0.3, bs=16, kw={}))]
    if a.quick: settings, a.steps = [('tiny 64, batch 4', dict(arch='deit_tiny_patch16_224', size=(64, 64), n_out=10, top_r=0.1, bs=4, kw=dict(depth=2)))], 2
    summary = {}
    for name, cfg in settings:
        res = {}
        for v, opts in VARIANTS.items():
            out = subprocess.run([sys.executable, __file__, '--one', json.dumps({**cfg, 'opts': opts, 'steps': a.steps})],
                                 capture_output=True, text=True, check=True).stdout
            res[v] = json.loads(out.strip().splitlines()[-1])
        b = res['SA baseline']
        print(f"\n{name}: peak memory of a training step above the model's own, and step time (median of {a.steps})")
        ratio = lambda r: r['peak_mb']/b['peak_mb'] if b['peak_mb'] > 0 else float('nan')   # nan: too small to see (--quick)
        for v, r in res.items():
            print(f"  {v:34s} {r['peak_mb']:8.0f} MB  {ratio(r):5.2f}x SA   {r['step_s']*1000:8.0f} ms  {r['step_s']/b['step_s']:5.2f}x SA")
        summary[name] = dict(peak_mb={v: r['peak_mb'] for v, r in res.items()}, step_ms={v: r['step_s']*1000 for v, r in res.items()},
                             memory_vs_sa={v: ratio(r) for v, r in res.items() if b['peak_mb'] > 0},
                             time_vs_sa={v: r['step_s']/b['step_s'] for v, r in res.items()})
    print('RESULT ' + json.dumps(summary))   # one machine-readable line (tests/test_bench.py reads it)

if __name__ == '__main__': main()
