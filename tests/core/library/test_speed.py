"""Speed verdicts with injected measurements: tokens/s from the measured bandwidth and the GPU
layers that fit, the words shown, the quant recommended when speed matters, and the cache
that is thrown away when the machine or the settings change."""
from __future__ import annotations

import pytest

from desktop.core.library.catalog import load_catalog
from desktop.core.library.hardware import GiB, Fit, GpuInfo, assumed, fit_verdict
from desktop.core.library.decode_probe import DecodeTimes, probe
from desktop.core.library.gguf_info import read_info
from desktop.core.library.speed import (
    SpeedCache, SpeedEstimate, SpeedProfile, estimate_layers, fingerprint, gpu_share, predict, split_token_time,
)

LAPTOP_16GB = assumed(16 * GiB)
RTX_12GB = assumed(32 * GiB, gpus=[GpuInfo("RTX 4070", "cuda", 12 * GiB, 11 * GiB)])


def profile(cpu_gbs: float, gpu_gbs: float | None = None, offload: bool = True) -> SpeedProfile:
    size = 253_000_000
    return SpeedProfile("fp", cpu_gbs * 1e9, gpu_gbs * 1e9 if gpu_gbs else None, cpu_gbs * 1e9 / size, size, 2, 0.0,
                        offload)


def test_cpu_speed_is_bandwidth_over_weights_and_says_slow():
    v = fit_verdict(LAPTOP_16GB, 5_000_000_000, kv_bytes_per_token=131072)
    s = predict(profile(10), v, LAPTOP_16GB)
    assert s.tokens_per_s == pytest.approx(2.0) and s.gpu_share == 0
    assert s.label == "~2 tok/s — slow" and s.slow
    assert "on the CPU" in s.explain() and "slower than reading speed" in s.explain()
    small = fit_verdict(LAPTOP_16GB, 400_000_000, kv_bytes_per_token=32768)
    assert predict(profile(10), small, LAPTOP_16GB).label == "~25 tok/s"
    assert SpeedEstimate(0.4, 0).label == "~0.4 tok/s — very slow"


def test_nothing_is_predicted_without_a_measurement_or_for_a_file_that_does_not_fit():
    v = fit_verdict(LAPTOP_16GB, 5_000_000_000)
    assert predict(None, v, LAPTOP_16GB) is None
    huge = fit_verdict(LAPTOP_16GB, 40_000_000_000)
    assert huge.fit == Fit.TOO_LARGE and predict(profile(10), huge, LAPTOP_16GB) is None


def test_gpu_layers_that_fit_set_the_speed():
    fast = profile(20, 400)
    on_gpu = fit_verdict(RTX_12GB, 5_000_000_000, kv_bytes_per_token=131072)
    assert on_gpu.fit == Fit.GPU
    all_layers = predict(fast, on_gpu, RTX_12GB, gpu_layers=-1)
    assert all_layers.gpu_share == 1 and all_layers.tokens_per_s == pytest.approx(80.0)
    assert predict(fast, on_gpu, RTX_12GB, gpu_layers=0).tokens_per_s == pytest.approx(4.0)  # Settings: CPU only
    half = predict(fast, on_gpu, RTX_12GB, gpu_layers=16, parameters=8_000_000_000)
    assert 0 < half.gpu_share < 1 and 4.0 < half.tokens_per_s < 80.0
    # 20 GB on a 12 GB card: only the layers that fit go there; the CPU's share sets the pace.
    big = fit_verdict(RTX_12GB, 20_000_000_000, kv_bytes_per_token=131072, parameters=32_000_000_000)
    assert big.fit == Fit.RAM
    share = gpu_share(big, RTX_12GB, -1, parameters=32_000_000_000)
    assert 0.4 < share < 0.6
    partly = predict(fast, big, RTX_12GB, gpu_layers=-1, parameters=32_000_000_000)
    assert partly.gpu_share == share
    assert partly.tokens_per_s == pytest.approx(1 / (20e9 * (1 - share) / 20e9 + 20e9 * share / 400e9))
    assert "% of it on the GPU" in partly.explain()
    # A build without GPU offload runs everything on the CPU whatever Settings say.
    assert predict(profile(20, None, offload=False), on_gpu, RTX_12GB, gpu_layers=-1).tokens_per_s == \
        pytest.approx(4.0)
    # Layers meant for a GPU whose speed was not measured: no guess.
    assert predict(profile(20, None, offload=True), on_gpu, RTX_12GB, gpu_layers=-1) is None


def test_the_fixed_time_per_token_is_split_from_the_bandwidth():
    # The built-in model (253 MB, 178 MB of it the output layer) on a machine reading 10 GB/s,
    # with 6 ms per token of work that reads no weights (small operations, sampling, the app).
    bw, fixed = 10e9, 6e-3
    without = (253e6 - 178e6) / bw + 5e-3  # the probe's decode leaves out the app's part of the fixed time
    times = DecodeTimes(without + 178e6 / bw, without)
    app_token_s = 253e6 / bw + fixed
    bandwidth, token_s = split_token_time(times, 178_000_000, 253_000_000, app_token_s)
    assert bandwidth == pytest.approx(bw) and token_s == pytest.approx(fixed)
    measured = SpeedProfile("fp", bandwidth, None, 1 / app_token_s, 253_000_000, 2, 0.0, False, token_s)
    assert "10.0 GB/s" in measured.summary() and "+ 6.0 ms per token" in measured.summary()
    # The built-in model is predicted at the speed it ran...
    builtin = fit_verdict(LAPTOP_16GB, 253_000_000)
    assert predict(measured, builtin, LAPTOP_16GB).tokens_per_s == pytest.approx(1 / app_token_s)
    # ...a file of 97 MB (SmolLM2-135M) at 1 / (9.7 + 6) ms = 64 tok/s, not bandwidth ÷ bytes (103)...
    small = fit_verdict(LAPTOP_16GB, 97_000_000)
    assert predict(measured, small, LAPTOP_16GB).tokens_per_s == pytest.approx(1 / (97e6 / bw + fixed))
    # ...and a 5 GB file stays bandwidth-bound: the fixed time is about 1% of its 0.5 s a token.
    big = fit_verdict(LAPTOP_16GB, 5_000_000_000)
    assert 0.98 * bw / 5e9 < predict(measured, big, LAPTOP_16GB).tokens_per_s < bw / 5e9
    # What the plain rule (no split) says for the same run: everything counted as bandwidth.
    plain = SpeedProfile("fp", 253e6 / app_token_s, None, 1 / app_token_s, 253_000_000, 2, 0.0, False)
    assert predict(plain, small, LAPTOP_16GB).tokens_per_s > 1.25 * predict(measured, small, LAPTOP_16GB).tokens_per_s


def test_probe_times_too_close_to_split_leave_the_plain_rule():
    app = 0.030
    assert split_token_time(DecodeTimes(0.010, 0.011), 178_000_000, 253_000_000, app) is None  # output took no time
    # an output layer read slower than the whole model's average, or implausibly fast: noise
    assert split_token_time(DecodeTimes(0.030, 0.001), 178_000_000, 253_000_000, app) is None
    assert split_token_time(DecodeTimes(0.0201, 0.0200), 178_000_000, 253_000_000, app) is None
    assert split_token_time(DecodeTimes(0.030, 0.020), 0, 253_000_000, app) is None  # no output layer found


@pytest.mark.parametrize("which", ["embedded_model", "chat_model"])
def test_the_decode_probe_times_a_real_model_with_and_without_its_output_layer(which, request):
    path = request.getfixturevalue(which)
    header = read_info(path)
    assert header.block_count and 0 < header.output_bytes < header.tensor_bytes
    times = probe(path, threads=2, pairs=3)
    assert times.with_output_s > 0 and times.without_output_s > 0


def test_the_decode_probe_reports_a_file_it_cannot_load(tmp_path):
    bad = tmp_path / "not-a-model.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(RuntimeError, match="decode probe failed"):
        probe(bad, threads=1, pairs=1)


def test_layer_estimate_is_in_the_right_range():
    assert 16 <= estimate_layers(1_240_000_000) <= 24
    assert 30 <= estimate_layers(8_000_000_000) <= 44
    assert 70 <= estimate_layers(70_000_000_000) <= 90


def test_recommended_quant_takes_speed_into_account():
    catalog = {m.id: m for m in load_catalog()}
    phi4, llama8 = catalog["phi-4"], catalog["llama-3.1-8b-instruct"]
    quants = [f.quant for f in phi4.files]
    # Memory alone: Q4_K_M of a 14B model fits 16 GB of RAM and is recommended...
    assert quants[phi4.recommended(LAPTOP_16GB, 4096)] == "Q4_K_M"
    # ...but at 10 GB/s every quant is slow: the fastest one is suggested, and the row says how slow.
    slow = profile(10)
    rec = phi4.recommended(LAPTOP_16GB, 4096, slow)
    speeds = phi4.speeds(LAPTOP_16GB, 4096, slow)
    assert quants[rec] == "Q3_K_L" and all(s.slow for s in speeds)
    assert speeds[rec].tokens_per_s == max(s.tokens_per_s for s in speeds)
    # With bandwidth to spare, the usual Q4_K_M stays the choice.
    assert quants[phi4.recommended(LAPTOP_16GB, 4096, profile(100))] == "Q4_K_M"
    # Where Q4_K_M is just too slow and a smaller quant is not, the smaller one is recommended.
    l_quants = [f.quant for f in llama8.files]
    sizes = {q: v.weights for q, v in zip(l_quants, llama8.verdicts(LAPTOP_16GB, 4096))}
    bw = 5.0 * (sizes["Q4_K_M"] + sizes["Q3_K_L"]) / 2  # Q4_K_M below 5 tok/s, Q3_K_L above
    assert l_quants[llama8.recommended(LAPTOP_16GB, 4096, profile(bw / 1e9))] == "Q3_K_L"


def test_cache_holds_while_the_fingerprint_matches(tmp_path):
    fp = fingerprint(LAPTOP_16GB, threads=2, gpu_layers=0, model_bytes=253_000_000)
    assert fp != fingerprint(LAPTOP_16GB, threads=4, gpu_layers=0, model_bytes=253_000_000)
    assert fp != fingerprint(LAPTOP_16GB, threads=2, gpu_layers=-1, model_bytes=253_000_000)
    assert fp != fingerprint(RTX_12GB, threads=2, gpu_layers=0, model_bytes=253_000_000)
    # The number of GPU layers is not measured (only GPU on or off): the prediction uses it.
    assert fingerprint(RTX_12GB, 2, 10, 1) == fingerprint(RTX_12GB, 2, 20, 1)
    cache = SpeedCache(tmp_path / "speed.json")
    assert cache.load(fp) is None
    p = SpeedProfile(fp, 9e9, None, 35.0, 253_000_000, 2, 1.0, False)
    cache.save(p)
    assert cache.load(fp) == p
    assert cache.load("another machine") is None
    for junk in ("{not json", "[]", '{"fingerprint": "x"}', '{"fingerprint": "%s", "cpu_bandwidth": -1, '
                 '"gpu_bandwidth": null, "cpu_tps": 1, "model_bytes": 1, "threads": 1, "measured_at": 0}' % fp):
        (tmp_path / "speed.json").write_text(junk)
        assert cache.load(fp) is None
