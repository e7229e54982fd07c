"""`dcal_fast.interpret` beyond the notebook's trained models: every GLCA/PWCA configuration of `DCALViT` against the
model's own outputs and against naive full-matrix rollouts, register tokens, tie-heavy Re-ID rankings, bad input.
Untrained tiny models only: the file runs in a few seconds."""
from types import SimpleNamespace
import numpy as np, pandas as pd, pytest, torch
import torch.nn.functional as F
import matplotlib
matplotlib.use('Agg')
from dcal_fast.model import DCALViT, block_qkv, block_tail, block_attn_out
from dcal_fast.interpret import (attention_maps, sa_stream, glca_rollout, pwca_rollout, ReIDInterpretation,
                                 plot_loss_weights, plot_attention)
from dcal_fast.reid_eval import reid_eval

torch.set_num_threads(1)

def tiny(task='fgvc', size=32, arch='deit_tiny_patch16_224', **kw):
    torch.manual_seed(0)
    kw = {'depth': 3, 'patch_size': 8, **kw}
    return DCALViT(arch, 5, img_size=size, pretrained=False, task=task, top_r=kw.pop('top_r', 0.3), **kw).eval()

CONFIGS = [dict(), dict(glca_placement='stacked'), dict(glca_blocks=2), dict(glca_blocks=2, glca_placement='stacked'),
           dict(pwca_blocks=1), dict(local_query='last_layer'), dict(glca_pool='token'), dict(task='reid', size=(32, 16)),
           dict(arch='vit_small_patch14_reg4_dinov2', size=28, patch_size=14, top_r=0.5)]

def naive_chain(probs, E):
    "Full (N,N) rollout matrix of the blocks `probs`, literal Eq. 2"
    S = E.expand(probs[0].shape[0], -1, -1) if probs else E[None]
    for p in probs: S = (0.5*p + 0.5*E) @ S
    return S

@pytest.mark.parametrize('cfg', CONFIGS, ids=[str(c) or 'default' for c in CONFIGS])
def test_streams_reproduce_model_and_maps_sum_to_one(cfg):
    m = tiny(**cfg)
    x = torch.randn(3, 3, *((m.backbone.patch_embed.img_size)))
    tokens, probs = sa_stream(m, x)
    mass, idx, z = glca_rollout(m, tokens, probs)
    feats, logits = m.glca_head_(z)
    y = m(x)
    if m.task == 'fgvc': torch.testing.assert_close(y, torch.log((m.backbone(x).softmax(1) + logits.softmax(1))/2), atol=1e-5, rtol=1e-5)
    else: torch.testing.assert_close(y[:, y.shape[1]//2:], feats, atol=1e-5, rtol=1e-5)
    assert torch.equal(idx, m.last_local_idx)
    pair = torch.tensor([2, 0, 1])
    own, dis, share, roll, h = pwca_rollout(m, tokens, probs, pair)
    m.train(); out = m(x, pair_idx=pair); m.eval()
    torch.testing.assert_close(m.sa_head(h)[1], out.pwca, atol=1e-4, rtol=1e-4)
    for q in ('cls', 'pooled'):
        maps = attention_maps(m, x, pair_idx=pair, glca_query=q)
        for a in (maps.sa, maps.glca, maps.pwca, maps.distractor):
            assert a.shape == (3, *m.backbone.patch_embed.grid_size)
            torch.testing.assert_close(a.sum((1, 2)), torch.ones(3))
    torch.testing.assert_close(mass.sum(1), torch.ones(3))
    torch.testing.assert_close(own.sum(1) + dis.sum(1), torch.ones(3))
    _, _, s_self, r_self, _ = pwca_rollout(m, tokens, probs, torch.arange(3))
    torch.testing.assert_close(s_self, torch.full((3,), 0.5))
    torch.testing.assert_close(r_self, torch.full((3,), 1 - 0.75**m.n_pwca))

def test_glca_map_against_full_matrix_rollout():
    "M=1, parallel: GLCA's class-token row with its residual, times the full rollout matrix of the first L-1 blocks"
    m = tiny()
    x = torch.randn(2, 3, 32, 32)
    tokens, probs = sa_stream(m, x)
    mass, _, _ = glca_rollout(m, tokens, probs)
    blk, xin = m.glca_blocks[0].block, tokens[-2]
    q = block_qkv(blk.attn, blk.norm1(xin[:, :1]))[0]; k = block_qkv(blk.attn, blk.norm1(xin))[1]
    a_cls = torch.softmax(q @ k.transpose(-2, -1) * blk.attn.scale, -1).mean(1)[:, 0]
    E = torch.eye(xin.shape[1])
    row = 0.5*a_cls + 0.5*E[0]
    torch.testing.assert_close(mass, (row[:, None] @ naive_chain(probs[:-1], E))[:, 0], atol=1e-5, rtol=1e-5)

@pytest.mark.parametrize('T', [1, 3])
def test_pwca_map_against_full_matrix_rollout(T):
    "The joint (target, distractor) rollout written as 2N×2N block matrices, multiplied out"
    m = tiny(pwca_blocks=T)
    x = torch.randn(3, 3, 32, 32)
    pair = torch.tensor([1, 2, 0])
    tokens, probs = sa_stream(m, x)
    own, dis, *_ = pwca_rollout(m, tokens, probs, pair)
    B, N = 3, tokens[0].shape[1]
    E, Z = torch.eye(N).expand(B, N, N), torch.zeros(B, N, N)
    p_tok, S = tokens[m.depth - T], torch.eye(2*N).expand(B, -1, -1)
    for i, blk in enumerate(m.backbone.blocks):
        dis_bar = 0.5*probs[i][pair] + 0.5*E
        if i < m.depth - T: top = torch.cat([0.5*probs[i] + 0.5*E, Z], 2)
        else:
            a = blk.attn
            q, k, v = block_qkv(a, blk.norm1(p_tok))
            _, k2, v2 = block_qkv(a, blk.norm1(tokens[i][pair]))
            s = torch.softmax(q @ torch.cat([k, k2], 2).transpose(-2, -1) * a.scale, -1)
            p_tok = block_tail(blk, p_tok, block_attn_out(a, s @ torch.cat([v, v2], 2)))
            A = s.mean(1)
            top = torch.cat([0.5*A[:, :, :N] + 0.5*E, 0.5*A[:, :, N:]], 2)
        S = torch.cat([top, torch.cat([Z, dis_bar], 2)], 1) @ S
    torch.testing.assert_close(own, S[:, 0, :N], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(dis, S[:, 0, N:], atol=1e-5, rtol=1e-5)

def test_register_tokens_are_not_patches():
    m = tiny(arch='vit_small_patch14_reg4_dinov2', size=28, patch_size=14, top_r=0.5)
    assert m.n_prefix == 5
    maps = attention_maps(m, torch.randn(2, 3, 28, 28))
    assert maps.sa.shape == (2, 2, 2) and (maps.local_idx >= 5).all()

def test_bad_input():
    m = tiny()
    with pytest.raises(ValueError, match='built for img_size 32×32'): attention_maps(m, torch.randn(1, 3, 64, 32))
    with pytest.raises(ValueError, match='channels, height, width'): attention_maps(m, np.zeros((1, 3, 32, 32)))
    with pytest.raises(TypeError, match='DCALViT'): attention_maps(m.backbone, torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match='pair_idx'): attention_maps(m, torch.randn(2, 3, 32, 32), pair_idx=[0, 5])
    with pytest.raises(ValueError, match='display images'): plot_attention(m, torch.randn(2, 3, 32, 32), imgs=torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match='no LossWeightsCallback'): plot_loss_weights(SimpleNamespace(cbs=[]))

def test_reid_rankings_agree_with_reid_eval_under_ties():
    "Integer features in a tiny range: many equal distances; junk ids and same-camera matches to exclude"
    rng = np.random.default_rng(0)
    Q, G = 12, 60
    pids = np.concatenate([rng.integers(0, 5, Q), rng.integers(-1, 6, G)])
    items = pd.DataFrame(dict(pid=pids, camid=rng.integers(0, 3, Q+G), split=['query']*Q + ['gallery']*G))
    feats = torch.from_numpy(rng.integers(-1, 2, (Q+G, 3)).astype(np.float32))
    for metric in ('cosine', 'euclidean'):
        ri = ReIDInterpretation(None, None, feats, items, metric=metric)
        ref = reid_eval(ri.distmat, ri.q_pids, ri.g_pids, ri.q_cams, ri.g_cams)
        np.testing.assert_array_equal(np.isnan(ri.ap), np.isnan(ref['AP']))
        for q in range(Q):
            g, match = ri.ranking(q)
            assert not (ri.g_pids[g] == -1).any()
            assert not ((ri.g_pids[g] == ri.q_pids[q]) & (ri.g_cams[g] == ri.q_cams[q])).any()
            assert (np.diff(ri.distmat[q, g]) >= 0).all()
            hits = np.flatnonzero(match)
            ap = (np.arange(1, len(hits)+1) / (hits+1)).mean() if len(hits) else np.nan
            np.testing.assert_allclose(ap, ref['AP'][q], rtol=1e-12)
        order = ri.query_order('best')
        valid = order[~np.isnan(ri.ap[order])]
        assert (np.diff(ri.ap[valid]) <= 0).all() and np.isnan(ri.ap[order[len(valid):]]).all()
    with pytest.raises(ValueError, match="'cosine' or 'euclidean'"): ReIDInterpretation(None, None, feats, items, metric='l1')
    with pytest.raises(ValueError, match="'query' or 'gallery'"): ReIDInterpretation(None, None, feats, items.assign(split='test'))

def test_learner_level_functions_from_the_module(tmp_path):
    "The exported module on its own (the notebook runs them with fastai's names in scope): figures from a 1-epoch learner"
    from fastai.callback.progress import ProgressCallback
    from dcal_fast.data import fgvc_dls, synthetic_fgvc
    from dcal_fast.learner import dcal_learner
    from dcal_fast.interpret import show_attention, DCALInterpretation
    df = synthetic_fgvc(tmp_path/'fgvc', n_classes=2, n_train=4, n_test=3, size=36, seed=0)
    dls = fgvc_dls(df, img_size=32, resize=36, bs=4, num_workers=0)
    learn = dcal_learner(dls, pretrained=False, top_r=0.25, depth=1, patch_size=8)
    learn.remove_cb(ProgressCallback)
    with learn.no_logging(): learn.fit(1, 1e-3)
    fig = show_attention(learn, idxs=[0, 4])
    assert len(fig.axes) == 2*5
    fig.savefig(tmp_path/'a.png')
    with pytest.raises(IndexError, match='idxs must index'): show_attention(learn, idxs=[99])
    interp = DCALInterpretation.from_learner(learn)
    assert len(interp.plot_top_losses(2).axes) == 2*3
    ws = plot_loss_weights(learn).axes[0].lines[0].get_ydata()
    assert len(ws) == len(dls.train)
