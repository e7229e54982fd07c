"""Quick runs of the benchmark scripts (`--quick`): each must run and end with a `RESULT {json}` line whose numbers are sane.

The machines are noisy and CPU-shared, so only what holds there is asserted: every timing, rate and ratio is finite
and positive (memory deltas and differences of two timings: finite, and >= 0 where they cannot be negative), and a
ratio must exceed 1 only where the gap is deterministic (a FLOP count) or far beyond noise (the Re-ID evaluation's
~20-30x speed-up over the common implementation, checked in tests/test_reid_eval.py with the same helpers)."""
import json, math, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

def run_quick(script):
    "Run `bench/{script} --quick`: its stdout, and the dict of its `RESULT {json}` line"
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    r = subprocess.run([sys.executable, str(ROOT/'bench'/script), '--quick'], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    lines = [l for l in r.stdout.splitlines() if l.startswith('RESULT ')]
    assert len(lines) == 1, f"{script} must print one `RESULT {{json}}` line:\n{r.stdout[-3000:]}"
    return r.stdout, json.loads(lines[0][len('RESULT '):])

def numbers(d, prefix=''):
    "(dotted key, value) of every number in a nested dict"
    for k, v in d.items():
        if isinstance(v, dict): yield from numbers(v, f'{prefix}{k}.')
        elif isinstance(v, (int, float)) and not isinstance(v, bool): yield prefix + k, v

def check_numbers(res, any_sign=(), non_negative=()):
    "Every number finite; positive unless its key ends with one of `non_negative` (then >= 0) or `any_sign`"
    found = list(numbers(res))
    assert found, res
    for k, v in found:
        assert math.isfinite(v), f'{k} = {v}'
        if k.endswith(tuple(any_sign)): continue
        if k.endswith(tuple(non_negative)): assert v >= 0, f'{k} = {v}'
        else: assert v > 0, f'{k} = {v}'
    return dict(found)

def test_train_step_quick():
    out, res = run_quick('train_step.py')
    # the rollout's share is a difference of two medians: on a tiny model it is noise around a few percent
    nums = check_numbers(res, any_sign=['rollout_share'])
    assert {'dcal_vs_baseline', 'ms_per_step.SA baseline (timm)', 'ms_per_step.DCAL', 'flop_ratio'} <= set(nums), nums
    assert nums['vs_baseline.SA baseline (timm)'] == 1
    assert nums['flop_ratio'] > 1.5, nums   # counted, not timed: DCAL's extra streams cost ~2x the FLOPs of SA
    assert 'FLOP ratio' in out

def test_dataloader_quick():
    out, res = run_quick('dataloader.py')
    nums = check_numbers(res)
    assert {'images_per_s.fgvc_plain', 'images_per_s.reid_plain', 'fgvc_vs_plain.plain', 'reid_vs_plain.plain',
            'pair_indices_mixed_us', 'pk_batches_epoch_ms'} <= set(nums), nums
    assert nums['fgvc_vs_plain.plain'] == nums['reid_vs_plain.plain'] == 1

def test_epoch_quick():
    out, res = run_quick('epoch.py')
    nums = check_numbers(res)
    assert {'dcal_epoch_vs_sa', 'dcal_vs_sa.train', 'dcal_vs_sa.valid', 'seconds.DCAL.train', 'seconds.SA baseline.valid'} <= set(nums), nums

def test_inference_quick():
    out, res = run_quick('inference.py')
    nums = check_numbers(res)
    (setting,) = res
    assert nums[f'{setting}.flops_vs_sa.SA baseline'] == nums[f'{setting}.time_vs_sa.SA baseline'] == 1
    # counted, not timed: one softmax per block for output and rollout costs fewer FLOPs than recomputing it
    assert nums[f'{setting}.flops_vs_sa.DCAL'] < nums[f'{setting}.flops_vs_sa.DCAL recompute'], nums
    assert 'GFLOPs' in out

def test_memory_quick():
    out, res = run_quick('memory.py')
    nums = check_numbers(res, non_negative=['SA baseline', 'DCAL', "grad_checkpointing='pwca'", 'grad_checkpointing=True'])
    (setting,) = res
    assert nums[f'{setting}.step_ms.SA baseline'] > 0
    assert {f"{setting}.peak_mb.DCAL, grad_checkpointing='pwca'", f'{setting}.step_ms.DCAL'} <= set(nums), nums

def test_onnx_latency_quick():
    out, res = run_quick('onnx_latency.py')
    nums = check_numbers(res, non_negative=['max_abs_diff'])
    (setting,) = res
    assert {f'{setting}.bs1.onnxruntime_vs_eager', f'{setting}.bs2.ms.onnxruntime', f'{setting}.bs2.ms.PyTorch eager'} <= set(nums), nums
    assert nums[f'{setting}.bs1.max_abs_diff'] < 1e-4 and nums[f'{setting}.bs2.max_abs_diff'] < 1e-4, nums   # one computation, two engines
    assert 'onnxruntime/eager' in out

def test_hat_step_quick():
    out, res = run_quick('hat_step.py')
    nums = check_numbers(res)
    assert nums['vs_baseline.plain backbone'] == 1 and nums['flop_ratio'] > 1, nums   # HAT adds work: counted, not timed
    assert nums['params.HAT {3,3,6,0}'] > nums['params.plain backbone'], nums

def test_clustering_quick():
    "Issue 17: the clustering step, sparse against the dense route people write, on 2000 synthetic features of 100 identities"
    out, res = run_quick('clustering.py')
    nums = check_numbers(res, non_negative=('outliers', 'peak_mb'))
    for route in ('sparse_2000', 'dense_2000'):
        assert nums[f'{route}.clusters'] == nums[f'{route}.true_ids'] == 100 and nums[f'{route}.ari'] == 1, nums   # well separated: exact
    assert nums['sparse_2000.stored_pairs'] * 50 < nums['dense_2000.stored_pairs'], nums   # only pairs within eps are kept
