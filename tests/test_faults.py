"""The fault cases of issue 13, as users meet them: each reproduces one case and asserts what happens now.

Every case is small (generated images, 1-block models, one epoch at most) and runs in-process: the CLI through
`dcal_fast.cli.run`, which is what the console command calls. The SIGINT-and-resume case runs the real console
command in `tests/test_cli.py::test_ctrl_c_then_resume_gives_the_uninterrupted_result`."""
import contextlib, io, os, pickle, shutil, warnings
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch
from PIL import Image
from fastai.callback.tracker import SaveModelCallback
from dcal_fast.cli import run
from dcal_fast.data import fgvc_dls, reid_dls, PILImageRGB
from dcal_fast.datasets import reid_folder
from dcal_fast.learner import dcal_learner
from dcal_fast.synthetic import demo_fgvc, demo_reid

warnings.filterwarnings('ignore', message='.*load_learner.*')
ROOT = Path(__file__).resolve().parents[1]
SMALL = ['--n-classes', '2', '--n-train', '8', '--n-test', '2', '--epochs', '1', '--n-maps', '0', '--bs', '8']

@pytest.fixture(scope='module')
def sets(tmp_path_factory):
    "A generated FGVC set (3 classes) and Re-ID set (4 training, 3 test identities), 36 px"
    tmp = tmp_path_factory.mktemp('sets')
    return (tmp, demo_fgvc(tmp/'fgvc', n_classes=3, n_train=8, n_test=4, size=36, seed=0),
            demo_reid(tmp/'reid', n_train_ids=4, n_test_ids=3, n_per_id=6, size=36, seed=0))

def cli(*argv):
    "Exit status, the last stderr line and stdout of `dcal_fast ARGV`, run in-process"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: run(list(map(str, argv))); code = 0
        except SystemExit as e: code = e.code
    lines = err.getvalue().strip().splitlines()
    return code, lines[-1] if lines else '', out.getvalue()

def fgvc(df, **kw): return fgvc_dls(df, img_size=32, resize=36, bs=kw.pop('bs', 8), num_workers=0, **kw)
def reid(df, **kw): return reid_dls(df, img_size=(32, 16), p=2, k=2, num_workers=0, **kw)
def tiny(dls, **kw): return dcal_learner(dls, pretrained=False, depth=1, patch_size=8, **kw)

def fit1(learn, **kw):
    with learn.no_bar(), learn.no_logging(): learn.fit(1, **kw)
    return learn.recorder.values[-1]

# ---- work and files lost -----------------------------------------------------------------------------------------

def test_failed_export_leaves_the_learner_and_the_old_file(sets, tmp_path):
    _, df, _ = sets
    learn = tiny(fgvc(df))
    learn.export(tmp_path/'export.pkl')
    before = (tmp_path/'export.pkl').read_bytes()
    with pytest.raises(FileNotFoundError, match='no folder'): learn.export(tmp_path/'missing'/'export.pkl')
    learn.model.bad = lambda: None   # unpicklable: the export fails half way
    with pytest.raises(Exception): learn.export(tmp_path/'export.pkl')
    del learn.model.bad
    assert (tmp_path/'export.pkl').read_bytes() == before
    assert len(learn.dls.train) > 0
    fit1(learn)   # still trains

def test_cli_epochs_0_is_refused_at_parsing():
    code, line, _ = cli('demo', '--epochs', '0')
    assert code == 2 and 'argument --epochs' in line

# ---- silent wrong results ----------------------------------------------------------------------------------------

def test_16bit_float_and_exif_images_load_as_seen(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 92, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(tmp_path/'g16.png')
    Image.fromarray(rgb[..., 0].astype(np.float32) / 255, mode='F').save(tmp_path/'f.tiff')
    exif = Image.Exif(); exif[0x0112] = 6
    Image.fromarray(rgb).save(tmp_path/'rot.jpg', exif=exif)
    for f in ('g16.png', 'f.tiff'): assert abs(np.asarray(PILImageRGB.create(tmp_path/f))[..., 0].mean() - rgb[..., 0].mean()) < 0.6
    assert PILImageRGB.create(tmp_path/'rot.jpg').size == (20, 30)

@pytest.mark.parametrize('argv,option', [(['--lr', '-1'], '--lr'), (['--k', '0'], '--k'), (['--patch-size', '0'], '--patch-size'),
                                         (['--num-workers', '-1'], '--num-workers'), (['--depth', '0'], '--depth'),
                                         (['--top-r', '2'], '--top-r')])
def test_bad_cli_numbers_name_the_option(argv, option):
    code, line, _ = cli('demo', *argv)
    assert code == 2 and f'argument {option}' in line, line

def test_eval_bad_bs_names_the_option():
    code, line, _ = cli('eval', '--learner', 'x.pkl', '--bs', '-1')
    assert code == 2 and 'argument --bs' in line

def test_negative_pid_in_training_is_refused(sets):
    _, _, rdf = sets
    bad = rdf.copy(); bad.loc[bad.index[bad.split == 'train'][0], 'pid'] = -1
    with pytest.raises(ValueError, match='negative pid'): reid(bad)

def test_no_test_rows_is_refused(sets):
    _, df, _ = sets
    with pytest.raises(ValueError, match="no row has split 'test'"): fgvc(df[df.split == 'train'])

# ---- unclear or late errors --------------------------------------------------------------------------------------

def test_truncated_jpeg_names_the_file(sets, tmp_path):
    _, df, _ = sets
    b = Path(df.fname.iloc[0]).read_bytes(); (tmp_path/'cut.jpg').write_bytes(b[:len(b)//3])
    bad = df.copy(); bad.loc[bad.index[0], 'fname'] = str(tmp_path/'cut.jpg')
    with pytest.raises(OSError, match=f"cannot read image {tmp_path/'cut.jpg'}"): fit1(tiny(fgvc(bad)))

@pytest.mark.parametrize('what', ['missing', 'zero-byte'])
def test_bad_test_image_is_refused_before_training(sets, tmp_path, what):
    _, df, _ = sets
    f = tmp_path/'img.jpg'
    if what == 'zero-byte': f.write_bytes(b'')
    bad = df.copy(); bad.loc[bad.index[bad.split == 'test'][0], 'fname'] = str(f)
    with pytest.raises(FileNotFoundError, match='empty' if what == 'zero-byte' else 'missing on disk'): fgvc(bad)

def test_class_only_in_test_is_refused(sets):
    _, df, _ = sets
    bad = df.copy(); bad.loc[bad.index[bad.split == 'test'][0], 'label'] = 'never seen'
    with pytest.raises(ValueError, match=r"have no training image, e.g. \['never seen'\]"): fgvc(bad)

@pytest.mark.parametrize('kind', ['strings', 'floats', 'mixed'])
def test_ids_of_any_hashable_type_train_and_evaluate(sets, kind):
    _, _, rdf = sets
    df = rdf.copy().astype({'pid': object, 'camid': object})
    if kind == 'strings': df['pid'], df['camid'] = df.pid.map(lambda p: f'cat_{p:03d}'), df.camid.map(lambda c: f'c{c}')
    elif kind == 'floats': df['pid'] = df.pid.astype(float) + 0.5
    else: df.loc[df.index[::2], 'pid'] = df.pid[::2].map(str)
    vals = fit1(tiny(reid(df), lr=1e-3))
    assert all(np.isfinite(v) for v in vals)

def test_reid_folder_csv_with_string_ids(sets, tmp_path):
    tmp, _, rdf = sets
    t = rdf.assign(pid=rdf.pid.map(lambda p: f'cat_{p:03d}'), camid=rdf.camid.map(lambda c: f'c{c}'))
    t.to_csv(tmp_path/'labels.csv', index=False)
    df = reid_folder(tmp_path, csv='labels.csv')
    assert df.pid.iloc[0].startswith('cat_') and df.camid.iloc[0].startswith('c')
    fit1(tiny(reid(df), lr=1e-3))

def test_no_query_identity_in_gallery_says_so(sets):
    _, _, rdf = sets
    others = rdf[rdf.split == 'train'].assign(split='gallery')
    df = pd.concat([rdf[rdf.split != 'gallery'], others])
    with pytest.raises(ValueError, match='none of their identities is in the gallery'): reid(df)
    with pytest.raises(ValueError, match="no row has split 'gallery'"): reid(rdf[rdf.split != 'gallery'])

def test_save_model_callback_defaults_on_reid(sets, tmp_path):
    _, _, rdf = sets
    learn = tiny(reid(rdf), path=tmp_path)
    cb = SaveModelCallback()
    fit1(learn, cbs=cb)
    assert cb.monitor == 'mAP' and (tmp_path/'models'/'model.pth').exists()

def test_batch_of_one_without_pwca(tmp_path):
    code, line, _ = cli('demo', '--out', tmp_path, *SMALL, '--bs', '1', '--no-pwca')
    assert code == 0, line

@pytest.mark.parametrize('argv,says', [(['--out', '/proc/no/such'], '--out: cannot write into'),
                                       (['--bs', '100'], '--bs 100 is larger than the training split')])
def test_cli_runtime_input_names_the_option(tmp_path, argv, says):
    code, line, _ = cli('demo', '--out', tmp_path/'o', *SMALL, *argv)
    assert code == 2 and says in line, line

def test_cli_weights_that_are_not_weights(tmp_path):
    (tmp_path/'notes.pth').write_text('hello')
    code, line, _ = cli('demo', '--out', tmp_path/'o', *SMALL, '--weights', tmp_path/'notes.pth')
    assert code == 2 and '--weights: ' in line and 'is not a weights file' in line, line

def test_cli_diverging_fit_stops_with_the_nan_guard(tmp_path):
    code, line, _ = cli('demo', '--out', tmp_path, *SMALL, '--lr', '1e30')
    assert code == 1 and 'NonFiniteLossError' in line and 'non-finite loss' in line, line

# ---- untrusted files ---------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def demo_run(tmp_path_factory):
    "A finished tiny `dcal_fast demo`: its output folder"
    out = tmp_path_factory.mktemp('demo')
    code, line, _ = cli('demo', '--out', out, *SMALL)
    assert code == 0, line
    return out

def test_eval_refuses_a_crafted_pickle_and_runs_nothing(demo_run, tmp_path):
    class Evil:
        def __reduce__(self): return (os.system, (f'touch {tmp_path}/pwned',))
    torch.save(Evil(), tmp_path/'evil.pkl')
    with open(tmp_path/'plain.pkl', 'wb') as f: pickle.dump(Evil(), f)
    for name in ('evil.pkl', 'plain.pkl'):
        code, line, _ = cli('eval', '--learner', tmp_path/name, '--data', f'fgvc_folder:{demo_run}/data')
        assert code == 2 and 'Traceback' not in line, line
    assert not (tmp_path/'pwned').exists()

@pytest.mark.parametrize('content,says', [(b'hello, this is text', 'text file'), (b'', 'empty'), (None, 'a weights file')])
def test_eval_on_files_that_are_not_exports(demo_run, tmp_path, content, says):
    f = tmp_path/'x.pth'
    if content is None: torch.save({'w': torch.zeros(3)}, f)
    else: f.write_bytes(content)
    code, line, _ = cli('eval', '--learner', f, '--data', f'fgvc_folder:{demo_run}/data')
    assert code == 2 and says in line, line

def test_eval_of_the_real_export_and_of_the_safe_folder_agree(demo_run):
    a = run(['eval', '--learner', str(demo_run/'export.pkl')])
    b = run(['eval', '--model', str(demo_run/'model')])
    assert a['accuracy'] == pytest.approx(b['accuracy'], abs=1e-6)

def test_readme_says_an_export_is_a_pickle():
    readme = (ROOT/'README.md').read_text()
    assert 'pickle' in readme and 'save_pretrained' in readme

# ---- leakage and bad files, found before training ------------------------------------------------------------------

def test_same_file_in_train_and_test_is_a_warning(demo_run, tmp_path):
    data = tmp_path/'data'; shutil.copytree(demo_run/'data', data)
    first = sorted((data/'train').rglob('*.png'))[0]
    shutil.copy(first, data/'test'/first.parent.name/'copy.png')
    code, _, said = cli('check', '--data', f'fgvc_folder:{data}')
    assert code == 0 and 'byte-identical' in said, said

def test_query_copied_into_the_gallery_is_a_warning(sets):
    from dcal_fast.validate import check_dataset
    _, _, rdf = sets
    q = rdf[rdf.split == 'query'].iloc[:1]
    df = pd.concat([rdf, q.assign(split='gallery')], ignore_index=True)
    report = check_dataset(df, warn=False)
    assert any('query' in w and 'gallery' in w for w in report.warnings), report.warnings

def test_zero_byte_image_stops_training_before_the_first_epoch(demo_run, tmp_path):
    data = tmp_path/'data'; shutil.copytree(demo_run/'data', data)
    (data/'test'/'species_00'/'zero.png').write_bytes(b'')
    code, line, _ = cli('train', '--data', f'fgvc_folder:{data}', '--out', tmp_path/'o', '--no-pretrained', '--depth', '1',
                        '--patch-size', '8', '--img-size', '32', '--epochs', '1')
    assert code == 2 and 'zero.png' in line, line
    assert not (tmp_path/'o'/'metrics.csv').exists()

def test_reid_eval_of_the_safe_folder_agrees_with_the_export(tmp_path):
    code, line, _ = cli('demo', '--task', 'reid', '--out', tmp_path, *SMALL)
    assert code == 0, line
    a = run(['eval', '--learner', str(tmp_path/'export.pkl')])
    b = run(['eval', '--model', str(tmp_path/'model')])
    assert a['mAP'] == pytest.approx(b['mAP'], abs=1e-6) and a['rank1'] == pytest.approx(b['rank1'], abs=1e-6)
    # embeddings written by `dcal_fast embed` score the same through `eval --features`
    for split in ('query', 'gallery'):
        code, line, _ = cli('embed', '--learner', tmp_path/'export.pkl', '--images', tmp_path/'data'/split, '--out', tmp_path/f'{split}.npy')
        assert code == 0, line
    from dcal_fast.deploy import read_embeddings
    names, feats = zip(*(read_embeddings(tmp_path/f'{s}.npy') for s in ('query', 'gallery')))
    np.save(tmp_path/'all.npy', np.concatenate(feats)); pd.DataFrame({'fname': names[0] + names[1]}).to_csv(tmp_path/'all.csv', index=False)
    c = run(['eval', '--features', str(tmp_path/'all.npy'), '--data', f'reid_folder:{tmp_path}/data'])
    assert a['mAP'] == pytest.approx(c['mAP'], abs=1e-5), (a, c)
