"""`dcal_fast.data` beyond its notebook: pickling through `learn.export`, two worker processes."""
import numpy as np, pandas as pd, torch
from fastai.vision.all import Learner, load_learner, nn, Flatten
from dcal_fast.data import fgvc_dls, reid_dls, PKDL, TensorPid
from dcal_fast.pairs import pair_indices
from dcal_fast.synthetic import synthetic_fgvc, synthetic_reid

def _tiny_model(c): return nn.Sequential(nn.AdaptiveAvgPool2d(1), Flatten(), nn.Linear(3, c))

def test_export_keeps_task_and_loaders(tmp_path):
    df = synthetic_reid(tmp_path/'reid', n_train_ids=5, n_test_ids=3)
    dls = reid_dls(df, img_size=(32, 16), p=2, k=4, num_workers=0)
    learn = Learner(dls, _tiny_model(dls.c), path=tmp_path)
    learn.export('reid.pkl')
    learn2 = load_learner(tmp_path/'reid.pkl')
    assert (learn2.dls.task, learn2.dls.c, learn2.dls.pairs) == ('reid', 5, 'random')
    assert type(learn2.dls.train) is PKDL
    emb = learn2.get_preds(dl=learn2.dls.test_dl(df.fname[:6].tolist()))[0]
    assert emb.shape == (6, 5)

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

def test_fgvc_export(tmp_path):
    df = synthetic_fgvc(tmp_path/'fgvc', n_classes=3, n_train=4, n_test=2)
    dls = fgvc_dls(df, img_size=32, resize=40, bs=4, pairs='intra', num_workers=0)
    learn = Learner(dls, _tiny_model(dls.c), path=tmp_path)
    learn.export('fgvc.pkl')
    learn2 = load_learner(tmp_path/'fgvc.pkl')
    assert (learn2.dls.task, learn2.dls.c, learn2.dls.pairs) == ('fgvc', 3, 'intra')
    assert list(learn2.dls.vocab) == ['class_00', 'class_01', 'class_02']

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
