"""Data-parallel DCAL on fastai's engine (`dcal_fast.distributed`, nbs/07c): 2 CPU processes on gloo against one process.

Checked, each against one process with the same seed and global batch:
- every rank's training batch is P/world identities × K images, and step i of the ranks together is global P×K batch i of
  one process: the epoch covers every training image as one process does (every image at least once, P×K padding aside);
- after a 1-epoch Re-ID fit (PWCA on: distractors drawn within each rank's batch) every parameter, the loss weights
  included, is identical on the ranks (DDP all-reduces their gradients), and PWCA and the loss weights' `do_wd=False` were seen
  through the DDP wrapper;
- the Re-ID metrics gathered from both ranks equal those of one process validating the same weights (to 1e-6: the same
  embeddings up to float summation order, the same ranking);
- FGVC with pwca=False, deterministic transforms and SGD: the mean of the ranks' batch losses equals one process's batch
  loss (rtol 1e-4) at every step of 2 epochs, the final weights agree (atol 1e-5), and `distrib_accuracy` on the padded
  validation set equals one process's accuracy. Re-ID losses are not compared: batch-hard triplets
  are mined and PWCA pairs drawn within each rank's half batch, so they differ from one process's by design.
"""
import os, socket, tempfile, time
from pathlib import Path
import numpy as np, torch, pytest
import torch.multiprocessing as mp

pytest.importorskip('accelerate', reason="fastai's distrib_ctx needs accelerate (not yet in settings.ini's requirements)")
W, P, K = 2, 4, 2

def _free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _fgvc(tmp, distrib):
    from fastai.vision.all import set_seed
    from dcal_fast.data import fgvc_dls
    from dcal_fast.learner import dcal_learner
    from dcal_fast.distributed import distrib_accuracy
    import pandas as pd
    df = pd.read_pickle(tmp/'fgvc.pkl')
    set_seed(1)
    dls = fgvc_dls(df, img_size=32, resize=32, bs=P*K, k=K, pairs=None, num_workers=0)
    from fastai.vision.augment import RandTransform
    for pl in (dls.train.after_item, dls.train.after_batch): pl.fs = pl.fs.filter(lambda f: not isinstance(f, RandTransform))   # no random augmentation
    from fastai.optimizer import SGD   # not Adam: its m/sqrt(v) turns float noise in near-zero gradients into whole steps
    learn = dcal_learner(dls, pretrained=False, depth=1, patch_size=8, pwca=False, drop_path_rate=0., metrics=distrib_accuracy(), opt_func=SGD)
    if distrib:
        from dcal_fast.distributed import distrib_dls
        distrib_dls(learn.dls)
    return learn

def _reid(tmp):
    from fastai.vision.all import set_seed
    from dcal_fast.data import reid_dls
    from dcal_fast.learner import dcal_learner
    import pandas as pd
    df = pd.read_pickle(tmp/'reid.pkl')
    set_seed(2)
    dls = reid_dls(df, img_size=(32, 32), p=P, k=K, num_workers=0, val_bs=4)   # 19 query+gallery rows: DistributedDL pads to 20, batches 4+4+2 per rank
    return dcal_learner(dls, pretrained=False, depth=1, patch_size=8, drop_path_rate=0.)

class _Record:
    "A callback factory recording training losses and batch labels"
    def __new__(cls):
        from fastai.callback.core import Callback
        class Rec(Callback):
            order = 100
            def before_fit(self): self.losses, self.ys, self.pwca, self.do_wd = [], [], [], None
            def before_batch(self):
                if self.training: self.pwca.append(len(self.learn.xb) > 1)
            def after_batch(self):
                if not self.training: return
                self.losses.append(float(self.learn.loss)); self.ys.append(self.learn.yb[0].cpu().numpy())
                if self.do_wd is None:
                    w = self.learn.model.module.loss_weights if hasattr(self.learn.model, 'module') else self.learn.model.loss_weights
                    self.do_wd = self.learn.opt.state[w].get('do_wd', True)
        return Rec()

def _worker(rank, port, tmp):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(W), LOCAL_WORLD_SIZE=str(W), OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='')
    torch.set_num_threads(1)
    import torch.distributed as dist
    dist.init_process_group('gloo', rank=rank, world_size=W)   # what accelerate would pick on CPU; fastai's setup_distrib is NCCL-only
    from fastai.distributed import DistributedDL
    from dcal_fast.distributed import distrib_dls, DistribReIDCallback
    out = {}
    # --- Re-ID: batches, parameters in sync, gathered metrics
    learn = _reid(tmp)
    distrib_dls(learn.dls)
    ddl = DistributedDL(learn.dls.train)   # what DistributedTrainer wraps the loader in
    state = learn.dls.train.rng.getstate()
    out['idxs'] = ddl.get_idxs(); out['local_bs'] = ddl.bs; out['n_batches'] = len(ddl)
    learn.dls.train.rng.setstate(state)
    rec = _Record()
    with learn.no_bar(), learn.distrib_ctx(cpu=True):   # accelerate picks gloo and DDP on CPUs only when told (or ACCELERATE_USE_CPU=1)
        learn.fit(1, 1e-3, cbs=[rec, DistribReIDCallback()])
    out['reid_ys'], out['reid_pwca'], out['reid_do_wd'] = rec.ys, rec.pwca, rec.do_wd
    out['reid_metrics'] = list(learn.recorder.log)
    out['reid_state'] = {k: v.clone() for k, v in learn.model.state_dict().items()}
    # --- FGVC without PWCA: the loss curve of the global batch
    learn = _fgvc(tmp, True)
    out['fgvc_init'] = {k: v.clone() for k, v in learn.model.state_dict().items()}
    rec = _Record()
    with learn.no_bar(), learn.distrib_ctx(cpu=True):   # accelerate picks gloo and DDP on CPUs only when told (or ACCELERATE_USE_CPU=1)
        learn.fit(2, 0.05, cbs=rec)
    out['fgvc_losses'], out['fgvc_ys'], out['fgvc_log'] = rec.losses, rec.ys, list(learn.recorder.log)
    out['fgvc_state'] = {k: v.clone() for k, v in learn.model.state_dict().items()}
    torch.save(out, tmp/f'rank{rank}.pt')
    dist.barrier(); dist.destroy_process_group()

@pytest.fixture(scope='module')
def runs():
    from dcal_fast.synthetic import synthetic_fgvc, synthetic_reid
    from fastai.vision.all import set_seed
    tmp = Path(tempfile.mkdtemp())
    synthetic_fgvc(tmp/'fgvc', n_classes=5, n_train=7, n_test=3, size=32).to_pickle(tmp/'fgvc.pkl')
    synthetic_reid(tmp/'reid', n_train_ids=6, n_test_ids=5, size=32, seed=2).to_pickle(tmp/'reid.pkl')
    t0 = time.time()
    mp.start_processes(_worker, args=(_free_port(), tmp), nprocs=W, join=True, start_method='spawn')
    ranks = [torch.load(tmp/f'rank{r}.pt', weights_only=False) for r in range(W)]
    return tmp, ranks, time.time() - t0

def test_pk_batches_split_by_identity(runs):
    tmp, ranks, _ = runs
    learn = _reid(tmp)   # one process, same seed: its first epoch's global P×K batches
    ref = np.array(learn.dls.train.get_idxs()).reshape(-1, P*K)
    labels = learn.dls.train.labels
    assert all(r['local_bs'] == P//W*K for r in ranks)
    assert all(r['n_batches'] == len(ref) for r in ranks)
    per_rank = [np.array(r['idxs']).reshape(-1, P//W*K) for r in ranks]
    for b in np.concatenate(per_rank):   # P/world identities × K images
        assert sorted(np.unique(labels[b], return_counts=True)[1]) == [K] * (P//W)
    np.testing.assert_array_equal(np.concatenate(per_rank, 1), ref)   # step i of the ranks == global batch i
    assert set(np.concatenate(per_rank).ravel()) == set(range(len(labels)))   # every training image this epoch
    for r in ranks:   # the batches the fit saw: P/world identities × K images each
        for y in r['reid_ys']: assert sorted(np.unique(y, return_counts=True)[1]) == [K] * (P//W)

def test_parameters_in_sync_and_callbacks_see_through_ddp(runs):
    _, (r0, r1), _ = runs
    for key in ('reid_state', 'fgvc_state'):
        for k, v in r0[key].items(): assert torch.equal(v, r1[key][k]), f'{key}: {k} differs across ranks'
    assert 'loss_weights' in r0['reid_state'] and not torch.equal(r0['reid_state']['loss_weights'], torch.zeros(3))   # trained
    assert all(r0['reid_pwca']) and all(r1['reid_pwca'])   # PWCACallback gave the model distractors under DDP
    assert r0['reid_do_wd'] is False   # LossWeightsCallback kept the loss weights out of weight decay under DDP

def test_reid_metrics_gathered(runs):
    tmp, (r0, r1), _ = runs
    assert r0['reid_metrics'] == r1['reid_metrics']
    learn = _reid(tmp)
    learn.model.load_state_dict(r0['reid_state'])
    with learn.no_bar(): res = learn.validate()
    # recorder log: epoch, train_loss, mAP, rank1, rank5, rank10, mINP, time
    np.testing.assert_allclose(r0['reid_metrics'][2:-1], res, atol=1e-6)

def test_fgvc_loss_curve_matches_one_process(runs):
    tmp, ranks, _ = runs
    learn = _fgvc(tmp, False)
    rec = _Record()
    with learn.no_bar(): learn.fit(2, 0.05, cbs=rec)
    dist_losses = np.mean([r['fgvc_losses'] for r in ranks], 0)
    assert len(dist_losses) == len(rec.losses)
    np.testing.assert_allclose(dist_losses, rec.losses, rtol=1e-4)
    for k, v in learn.model.state_dict().items():
        torch.testing.assert_close(ranks[0]['fgvc_state'][k], v, atol=1e-5, rtol=1e-4)   # float32: the gradient sums differ in order

def test_fgvc_accuracy_gathered(runs):
    tmp, ranks, _ = runs
    learn = _fgvc(tmp, False)
    learn.model.load_state_dict(ranks[0]['fgvc_state'])
    with learn.no_bar(): _, acc = learn.validate()
    # 15 test images on 2 ranks: DistributedDL pads to 16; `distrib_accuracy` drops the repeat (fastai's `accuracy` would not)
    assert len(learn.dls.valid.dataset) % W
    assert ranks[0]['fgvc_log'][3] == ranks[1]['fgvc_log'][3] == pytest.approx(acc, abs=1e-7)

def test_validation_was_padded(runs):
    tmp, _, secs = runs
    import pandas as pd
    assert (pd.read_pickle(tmp/'reid.pkl').split != 'train').sum() % W   # the padding duplicate had to be dropped
    print(f'2-process run: {secs:.1f}s')
