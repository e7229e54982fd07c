"""`DCALViT`'s outputs on a fixed batch, compared with those stored in `tests/fixtures/dcalvit_outputs.pt`.

The fixture was written by the model before the 'one home per concept' refactor (issue 11): any later rewrite of the
block loops, heads or rollout must give the same logits, features, rollout and gradients on every configuration.
Regenerate it only for an intended change of behaviour: `python tests/test_model_snapshot.py --write`."""
import sys
from pathlib import Path
import pytest, torch
from dcal_fast.model import DCALViT

FIXTURE = Path(__file__).parent/'fixtures'/'dcalvit_outputs.pt'

CONFIGS = {
    'vit_fgvc': dict(),
    'vit_reid': dict(task='reid', size=(32, 16)),
    'stacked_2': dict(glca_blocks=2, glca_placement='stacked'),
    'parallel_2_token': dict(glca_blocks=2, glca_pool='token'),
    'last_layer_pwca1': dict(local_query='last_layer', pwca_blocks=1),
    'random_queries': dict(local_query='random'),
    'noise_distractor': dict(pwca_distractor='noise'),
    'no_pwca_grad': dict(pwca_grad=False),
    'no_glca': dict(glca=False),
    'registers': dict(arch='vit_small_patch14_reg4_dinov2', size=28, patch_size=14, top_r=0.5),
    'cait': dict(arch='cait_xxs24_224', depth=2, top_r=0.5),
    'cait_reid_pwca1': dict(arch='cait_xxs24_224', depth=2, task='reid', pwca_blocks=1),
}

def _model(arch='deit_tiny_patch16_224', size=32, task='fgvc', **kw):
    torch.manual_seed(0)
    kw = {'depth': 3, 'patch_size': 8, 'top_r': 0.3, **kw}
    return DCALViT(arch, 5, img_size=size, pretrained=False, task=task, **kw)

def outputs(name:str) -> dict:
    "Eval output, rollout, training outputs with a fixed pair and with external distractors, and one gradient, of config `name`"
    m = _model(**CONFIGS[name])
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, *m.backbone.patch_embed.img_size, generator=g)
    d = torch.randn(2, 3, *m.backbone.patch_embed.img_size, generator=g)
    res = {}
    m.eval()
    with torch.no_grad(): res['eval'], res['rollout'] = m(x), m.rollout(x)
    m.train()
    torch.manual_seed(2)
    out = m(x, pair_idx=torch.tensor([1, 2, 3, 0]))
    for f, v in zip(out._fields, out):
        if v is not None: res[f'train_{f}'] = v.detach()
    loss = sum(v.float().square().mean() for v in out[:3] if v is not None)
    loss.backward()
    res['grad_qkv_first'] = m.backbone.blocks[0].attn.qkv.weight.grad[::37].clone()  # a sample of rows keeps the file small
    torch.manual_seed(3)
    ext = m(x, pair_idx=torch.tensor([4, 5, 4, 5]), distractors=d)
    if ext.pwca is not None: res['external_pwca'] = ext.pwca.detach()
    return {k: v.detach().clone() for k, v in res.items()}  # own storage: views would save their whole base tensor

@pytest.mark.parametrize('name', list(CONFIGS))
def test_outputs_match_the_stored_ones(name):
    ref = torch.load(FIXTURE)[name]
    got = outputs(name)
    assert sorted(got) == sorted(ref), f"{name}: outputs {sorted(got)} vs stored {sorted(ref)}"
    for k in ref: torch.testing.assert_close(got[k], ref[k], atol=1e-5, rtol=1e-5, msg=lambda m: f"{name}/{k}: {m}")

if __name__ == '__main__' and '--write' in sys.argv:
    torch.set_num_threads(1)
    FIXTURE.parent.mkdir(exist_ok=True)
    torch.save({n: outputs(n) for n in CONFIGS}, FIXTURE)
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size/1e3:.0f} kB)")
