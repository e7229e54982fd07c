"""`dcal_fast.data` with worker processes (real subprocesses, which a notebook test run cannot host well): the loaders
are pickled into each worker, PK batches and string ids must survive. Everything else is tested in `nbs/03_data.ipynb`."""
import numpy as np, pandas as pd, torch
from fastai.vision.all import Learner, load_learner, nn, Flatten
from dcal_fast.data import reid_dls, TensorPid
from dcal_fast.pairs import pair_indices
from dcal_fast.synthetic import synthetic_reid

def _tiny_model(c): return nn.Sequential(nn.AdaptiveAvgPool2d(1), Flatten(), nn.Linear(3, c))

def test_string_ids_export_and_workers(tmp_path):
    "String pids/camids survive `learn.export` (their codes and decoding) and worker processes"
    df = synthetic_reid(tmp_path/'reid', n_train_ids=5, n_test_ids=3)
    df = df.assign(pid=[f'cat_{p:03d}' for p in df.pid], camid=[f'c{c}' for c in df.camid])
    dls = reid_dls(df, img_size=(32, 16), p=2, k=2, num_workers=2)
    ys = torch.cat([yb for _, yb in dls.valid])
    assert ys.tolist() == dls.valid.items.pid.tolist() and dls.valid.items.camid.dtype == np.int64
    learn = Learner(dls, _tiny_model(dls.c), path=tmp_path)
    learn.export('reid.pkl')
    learn2 = load_learner(tmp_path/'reid.pkl')
    assert list(learn2.dls.vocab) == [f'cat_{p:03d}' for p in range(5)]
    tdl = learn2.dls.test_dl(df[df.split == 'query'], with_labels=True)   # a frame without codes: read as given
    x, y = tdl.one_batch()
    assert y.tolist() == dls.valid.items.pid[:len(y)].tolist()
    assert tdl.decode_batch((x, y))[0][1] == 'pid cat_005'

def test_two_workers_pk_epochs(tmp_path):
    "Every batch P×K, every image visited, valid in `dls.valid.items` order, with 2 worker processes"
    df = synthetic_reid(tmp_path/'reid', n_train_ids=7, n_test_ids=3, n_per_id=(1, 9))
    dls = reid_dls(df, img_size=(32, 16), p=3, k=2, num_workers=2, pairs='mixed')
    tr = dls.train
    for _ in range(2):
        n = 0
        for xb, yb in tr:
            n += 1
            assert sorted(pd.Series(yb.tolist()).value_counts().tolist()) == [2, 2, 2]
            pair = pair_indices(yb, 'mixed')
            assert (pair != torch.arange(len(yb))).all()
        assert n == len(tr)
    ys = torch.cat([yb for _, yb in dls.valid])
    assert isinstance(ys, TensorPid) and ys.tolist() == dls.valid.items.pid.tolist()
