"""Quick run of the Re-ID evaluation benchmark: it runs, the fast and reference implementations agree (it exits
non-zero otherwise), and its numbers are sane (see tests/test_bench.py for what is asserted and why)."""
from test_bench import run_quick, check_numbers

def test_bench_reid_eval_quick():
    out, res = run_quick('reid_eval.py')
    assert 'agreement on the sample' in out and ': ok' in out, out
    assert 'dense re_ranking' in out, out
    assert res['agree'] is True, res
    # memory deltas can be 0 (the allocator may reuse freed pages); the two re-rankings may agree exactly
    nums = check_numbers(res, non_negative=['_bytes', 'memory_ratio', 'max_abs_diff'])
    assert {'eval.fast_s', 'eval.reference_s', 'eval.time_ratio', 'rerank.fast_s', 'rerank.reference_s',
            'rerank.time_ratio'} <= set(nums), nums
    # ~20-30x at the quick size and 33x at MSMT17 scale: far beyond a shared machine's noise
    assert nums['eval.time_ratio'] > 1, nums
    assert nums['rerank.max_abs_diff'] < 5e-3, nums
