"""A real pretrained DCAL learner's learning rates (DINOv2 ViT-S/14, CUB species at 112 px): the peak rate of each
parameter group during `fine_tune(1)`, and what `lr_find` suggests beside the rates `fine_tune` uses (and the same for
fastai's `vision_learner` on the same DataLoaders). Writes the numbers to --json.

    python bench/lr_find_real.py [--set cub_ci] [--num-it 60] [--json bench/results/lr_real.json]
"""
import argparse, json, sys, warnings
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]/'tools'))
import compare
from dinov2_weights import dinov2_small_weights
from fastai.vision.all import vision_learner, accuracy, set_seed, minimum, steep, valley, slide, Callback, ProgressCallback
from dcal_fast.learner import dcal_learner

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--json', default=None)
    p.add_argument('--set', default='cub_ci', choices=[k for k, v in compare.SETS.items() if v[0] == 'fgvc'])
    p.add_argument('--num-it', type=int, default=60)
    p.add_argument('--threads', type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    w = str(dinov2_small_weights())
    overlay = dict(pretrained_cfg_overlay=dict(file=w))
    dls = compare.make_dls(a.set, 0)
    warnings.simplefilter('ignore')
    out = {}
    set_seed(0)
    learn = dcal_learner(dls, compare.ARCH, **overlay)
    learn.remove_cb(ProgressCallback)
    res = learn.lr_find(num_it=a.num_it, show_plot=False, suggest_funcs=(minimum, steep, valley, slide))
    out['dcal_lr_find'] = {k: float(v) for k, v in res._asdict().items()}
    print(f"dcal_learner (frozen: the heads): lr_find {res}; fine_tune's heads {learn.head_lr:.3g}, pretrained {learn.lr:.3g}")
    rec = GroupLRs()
    learn.fine_tune(1, cbs=rec)
    out['fine_tune_peaks'] = rec.peaks()
    print('fine_tune(1), peak learning rate per parameter group [pretrained, heads]:', out['fine_tune_peaks'])
    set_seed(0)
    vl = vision_learner(dls, compare.ARCH, metrics=accuracy, img_size=dls.one_batch()[0].shape[-1], **overlay)
    vl.remove_cb(ProgressCallback)
    res = vl.lr_find(num_it=a.num_it, show_plot=False, suggest_funcs=(minimum, steep, valley, slide))
    out['vision_learner_lr_find'] = {k: float(v) for k, v in res._asdict().items()}
    print(f"vision_learner (frozen: its head): lr_find {res}; fastai's fine_tune default base_lr 2e-3")
    if a.json: Path(a.json).write_text(json.dumps(out, indent=1))

class GroupLRs(Callback):
    "The learning rate of every parameter group at every training batch, and whether the body was frozen"
    def __init__(self): self.rows = []
    def after_batch(self):
        if self.training: self.rows.append((getattr(self.opt, 'frozen_idx', 0) > 0, [h['lr'] for h in self.opt.hypers]))
    def peaks(self):
        res = {}
        for phase, frozen in (('head_only', True), ('everything', False)):
            lrs = [l for f, l in self.rows if f == frozen]
            if lrs: res[phase] = [max(l[i] for l in lrs) for i in range(len(lrs[0]))]
        if 'head_only' in res: res['head_only'][0] = None  # the frozen group does not train
        return res

if __name__ == '__main__': main()
