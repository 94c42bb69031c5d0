"""How fast would it answer here? A predicted decode speed (tokens/s) per model file.

Generating a token reads every weight once, so decoding is mostly bound by memory
bandwidth. Mostly: a token's time on the CPU is

    weights ÷ bandwidth  +  a fixed time per token

The fixed part is the work that does not scale with the weights' bytes: the graph of several
hundred small operations a token runs through, the threads meeting after each one, sampling,
and the app's loop and pipe to the window. On a 1-15 GB file it is a few percent of the time;
on the 100-250 MB test models it is a third or more, and a pure bandwidth rule predicted
SmolLM2-135M at 1.8× the speed it really reached (lead's run, load 0.7). It was first taken
as a cost per layer, but the built-in model (18 thick layers) spends more of it than SmolLM2
(30 thin ones): what it scales with is the graph's operations, about alike for small models.

Nothing here is guessed from a spec sheet: this machine measures both on the built-in model
with the user's thread setting:
  - the app's own engine answers: the time per token as the user sees it;
  - a probe (decode_probe.py) times single-token decodes with and without the output layer
    (one large matrix: for Gemma 3, 178 of its 247 MB). Their difference is the time to read
    those bytes alone, which gives the bandwidth; what the token takes beyond reading all of
    its weights at that rate is the fixed time.
If the probe cannot run or its two times are too close to split (a noisy machine), the
whole time counts as bandwidth, as before (tokens/s × bytes).

When the build can offload and a GPU was found, a second run puts every layer on the GPU
and gives a GPU bandwidth (whole-model: tokens/s × bytes; its fixed costs are inside it).

A file partly on the GPU (the GPU layers that fit, or the number set in Settings) takes
the CPU's time for its CPU share and the GPU's for the rest.

The measurement costs a few seconds of a worker thread, so it is kept in a small JSON file
in the cache folder with a fingerprint of what it depends on (CPU, memory, GPUs, threads,
GPU layers, llama-cpp-python's version, the built-in model): when any of them changes,
the next look at the library measures again.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .decode_probe import COUNTING_PROMPT  # the probe decodes the same prompt

from ..atomic import write_text_atomic
from .hardware import Fit, FitVerdict, MemoryInfo

SLOW_TPS = 5.0
"""Below this many tokens per second an answer is slower than people read: "slow"."""

VERY_SLOW_TPS = 1.0

# Enough tokens that the first ones (warming caches) do not dominate, few enough to take
# about a second on a 2-core machine. Two runs; the faster counts (another program may
# have had the CPU during one of them).
MEASURE_TOKENS = 32
MEASURE_RUNS = 2
# The built-in base model continues a count reliably, so every run yields MEASURE_TOKENS.
_MEASURE_MESSAGES = [{"role": "user", "content": COUNTING_PROMPT}]


@dataclass(frozen=True)
class SpeedProfile:
    """What this machine measured: effective bandwidths in bytes per second."""

    fingerprint: str
    cpu_bandwidth: float  # bytes/s of weights read while decoding on the CPU
    gpu_bandwidth: float | None  # the same with every layer on the GPU; None: not measured (no GPU or no offload)
    cpu_tps: float  # the built-in model's tokens/s on the CPU
    model_bytes: int  # the built-in model's size
    threads: int
    measured_at: float
    gpu_offload: bool = False  # this llama.cpp build can put layers on a GPU
    token_s: float = 0.0  # fixed time per token besides reading the weights (small operations, sampling, the app)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "SpeedProfile | None":
        try:
            raw = json.loads(text)
            profile = cls(**raw)
        except (ValueError, TypeError):
            return None
        if not (isinstance(profile.cpu_bandwidth, (int, float)) and profile.cpu_bandwidth > 0):
            return None
        return profile

    def summary(self) -> str:
        gpu = f", GPU {self.gpu_bandwidth / 1e9:.1f} GB/s" if self.gpu_bandwidth else ""
        fixed = f" + {self.token_s * 1e3:.1f} ms per token" if self.token_s else ""
        return (f"measured decode bandwidth: CPU {self.cpu_bandwidth / 1e9:.1f} GB/s with {self.threads} "
                f"thread{'s' if self.threads != 1 else ''}{gpu}{fixed} (the built-in model ran at "
                f"{self.cpu_tps:.0f} tok/s)")


@dataclass(frozen=True)
class SpeedEstimate:
    tokens_per_s: float
    gpu_share: float  # of the weights, 0..1

    @property
    def slow(self) -> bool:
        return self.tokens_per_s < SLOW_TPS

    @property
    def label(self) -> str:
        """"~25 tok/s", "~2 tok/s — slow"."""
        tps = self.tokens_per_s
        shown = f"{tps:.0f}" if tps >= 1.95 else f"{tps:.1f}"
        if tps < VERY_SLOW_TPS:
            return f"~{shown} tok/s — very slow"
        if tps < SLOW_TPS:
            return f"~{shown} tok/s — slow"
        return f"~{shown} tok/s"

    def explain(self) -> str:
        where = ("on the GPU" if self.gpu_share >= 0.999 else "on the CPU" if self.gpu_share <= 0.001
                 else f"{self.gpu_share:.0%} of it on the GPU")
        words = " (slower than reading speed)" if self.slow else ""
        return f"Predicted speed {self.label.split(' —')[0]} {where}{words}"


def estimate_layers(parameters: int | None) -> int:
    """Block count guessed from the parameter count (1B ≈ 16-22, 8B ≈ 32-40, 70B ≈ 80)."""
    p = max(parameters or 7e9, 1e8) / 1e9
    return max(8, round(22 * p ** 0.3))


def gpu_share(verdict: FitVerdict, memory: MemoryInfo, gpu_layers: int, layers: int | None = None,
              parameters: int | None = None) -> float:
    """The share of the weights on the GPU: the layers asked for in Settings, as far as they fit."""
    gpu = memory.best_gpu
    if gpu is None or gpu_layers == 0 or not verdict.weights:
        return 0.0
    layers = layers or estimate_layers(parameters)
    asked = 1.0 if gpu_layers < 0 else min(1.0, gpu_layers / layers)
    if verdict.fit == Fit.GPU:
        return asked
    # KV cache and buffers first (llama.cpp keeps the offloaded layers' KV on the GPU too,
    # taken here whole: on the safe side), then as many whole layers as the rest holds.
    room = gpu.budget / 1.05 - verdict.kv_cache - verdict.overhead
    fits = max(0, int(room / (verdict.weights / layers))) / layers if room > 0 else 0.0
    return max(0.0, min(asked, fits))


def predict(profile: SpeedProfile | None, verdict: FitVerdict | None, memory: MemoryInfo | None, *,
            gpu_layers: int = 0, layers: int | None = None, parameters: int | None = None) -> SpeedEstimate | None:
    """Predicted decode speed of a file, or None when it cannot be told (not measured yet, too
    large, or layers would go to a GPU whose speed was not measured)."""
    if profile is None or verdict is None or memory is None or verdict.fit == Fit.TOO_LARGE or not verdict.weights:
        return None
    share = gpu_share(verdict, memory, gpu_layers, layers, parameters) if profile.gpu_offload else 0.0
    if share > 0 and not profile.gpu_bandwidth:
        return None
    seconds = verdict.weights * (1 - share) / profile.cpu_bandwidth
    if share > 0:
        seconds += verdict.weights * share / profile.gpu_bandwidth  # the GPU's fixed costs are in its bandwidth
    return SpeedEstimate(1.0 / (seconds + profile.token_s), share)


MAX_SPLIT_RATIO = 8.0
"""The output layer's bandwidth may be this many times the whole model's effective one at most;
beyond that the probe's two times were too close to tell apart (noise), and are not used."""


def split_token_time(times, output_bytes: int, model_bytes: int, app_token_s: float) -> tuple[float, float] | None:
    """(bandwidth, fixed time per token) from the probe's decode times of a model of `model_bytes`
    whose output layer holds `output_bytes`, and its time per token through the app; None when
    the measurement cannot be split (no output layer found, or noise)."""
    if output_bytes <= 0 or model_bytes <= output_bytes or app_token_s <= 0 or times.output_s <= 0:
        return None
    bandwidth = output_bytes / times.output_s
    effective = model_bytes / app_token_s  # everything counted as reading weights: the slowest it can be
    if not effective <= bandwidth <= MAX_SPLIT_RATIO * effective:
        return None
    return bandwidth, app_token_s - model_bytes / bandwidth


# -- measuring ------------------------------------------------------------------------------------

def fingerprint(memory: MemoryInfo, threads: int, gpu_layers: int, model_bytes: int) -> str:
    """What a measurement depends on; a change of any part means measuring again."""
    try:
        from importlib.metadata import version

        llama = version("llama-cpp-python")
    except Exception:
        llama = "?"
    parts = [platform.machine(), _cpu_name(), str(os.cpu_count()), str(memory.ram_total // (1 << 26)),
             ";".join(f"{g.name}:{g.backend}:{g.total // (1 << 26)}" for g in memory.gpus),
             f"threads={threads}", f"gpu={1 if gpu_layers else 0}", llama, str(model_bytes),
             "model=2"]  # 2: the fixed time per token is measured too
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def measure_tps(model_path: Path, *, threads: int, gpu_layers: int = 0, log_dir: Path | None = None,
                tokens: int = MEASURE_TOKENS, runs: int = MEASURE_RUNS) -> tuple[float, dict]:
    """The model's decode speed here (the best of `runs`), through the app's own local engine
    (a child process, so a crash here is an error, not the end of the app); and what the
    child reported on loading (GPU offload, layers)."""
    from ..engines.base import Recorder
    from ..engines.local import LocalEngine
    from ..settings import LocalRuntime, Sampling

    engine = LocalEngine(model_path, LocalRuntime(context_length=512, gpu_layers=gpu_layers, threads=threads),
                         log_dir=log_dir)
    params = Sampling(max_tokens=tokens, temperature=0.0, top_p=1.0, top_k=40, repeat_penalty=1.0, seed=7)
    best = 0.0
    try:
        for _ in range(runs):
            rec = Recorder()
            for event in engine.stream(_MEASURE_MESSAGES, params):
                rec.feed(event)
            r = rec.result
            if r.status != "done":
                raise RuntimeError(r.error or f"the measuring run ended: {r.status}")
            best = max(best, r.tokens_per_s or 0.0)
        info = dict(engine.load_info or {})
    finally:
        engine.close()
    if best <= 0:
        raise RuntimeError("the built-in model produced too few tokens to time")
    return best, info


def measure(memory: MemoryInfo, *, model_path: Path, threads: int, gpu_layers: int,
            log_dir: Path | None = None) -> SpeedProfile:
    """Run the built-in model here and turn its speed into bandwidths. Seconds of work: a worker's job."""
    from .decode_probe import probe
    from .gguf_info import GGUFError, read_info

    size = model_path.stat().st_size
    tps, info = measure_tps(model_path, threads=threads, gpu_layers=0, log_dir=log_dir)
    cpu_bw, token_s = tps * size, 0.0  # without a split: all of the time counted as reading weights
    try:
        header = read_info(model_path)
        split = split_token_time(probe(model_path, threads=threads, log_dir=log_dir), header.output_bytes, size,
                                 1.0 / tps)
    except (GGUFError, OSError, RuntimeError):
        split = None  # the plain rule still holds, only less exactly for small models
    if split is not None:
        cpu_bw, token_s = split
    gpu_bw = None
    offload = bool(info.get("gpu_offload_supported"))
    if gpu_layers and memory.best_gpu is not None and offload:
        gpu_tps, gpu_info = measure_tps(model_path, threads=threads, gpu_layers=-1, log_dir=log_dir)
        if gpu_info.get("gpu_layers_offloaded"):
            gpu_bw = gpu_tps * size
    return SpeedProfile(fingerprint(memory, threads, gpu_layers, size), cpu_bw, gpu_bw, tps, size, threads,
                        time.time(), offload, token_s)


CACHE_NAME = "speed-profile.json"


class SpeedCache:
    """The last measurement, kept in a JSON file; valid while its fingerprint matches."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def load(self, fingerprint_now: str) -> SpeedProfile | None:
        try:
            profile = SpeedProfile.from_json(self.path.read_text(encoding="utf-8"))
        except OSError:
            return None
        return profile if profile is not None and profile.fingerprint == fingerprint_now else None

    def save(self, profile: SpeedProfile) -> None:
        write_text_atomic(self.path, profile.to_json())


def profile_inputs(services, memory: MemoryInfo) -> tuple[Path, int, int, str]:
    """(built-in model path, threads, GPU layers, fingerprint) for the current settings."""
    from ..engines.local import default_threads

    model = services.local_model_path("default")
    threads = services.settings.runtime.threads or default_threads()
    gpu_layers = services.settings.runtime.gpu_layers
    size = model.stat().st_size if model.is_file() else 0
    return model, threads, gpu_layers, fingerprint(memory, threads, gpu_layers, size)


def cached_profile(services, memory: MemoryInfo) -> SpeedProfile | None:
    """The kept measurement if it still holds for this machine and these settings (cheap)."""
    *_, fp = profile_inputs(services, memory)
    return SpeedCache(services.folders.cache / CACHE_NAME).load(fp)


_MEASURED: dict[str, SpeedProfile] = {}  # this process's measurements, by fingerprint
_MEASURING = threading.Lock()  # one measurement at a time: two at once would time each other


def current_profile(services, memory: MemoryInfo) -> SpeedProfile:
    """The kept measurement, or a new one (seconds: call it on a worker) when it no longer holds."""
    model, threads, gpu_layers, fp = profile_inputs(services, memory)
    cache = SpeedCache(services.folders.cache / CACHE_NAME)
    with _MEASURING:
        kept = cache.load(fp)
        profile = kept or _MEASURED.get(fp)
        if profile is None:
            profile = measure(memory, model_path=model, threads=threads, gpu_layers=gpu_layers,
                              log_dir=services.folders.logs)
        _MEASURED[fp] = profile
        if kept is None:  # the file already holds what it would be rewritten with
            cache.save(profile)
    return profile


__all__ = ["cached_profile", "current_profile", "profile_inputs", "SLOW_TPS", "SpeedCache", "SpeedEstimate", "SpeedProfile", "estimate_layers", "fingerprint",
           "gpu_share", "measure", "measure_tps", "predict", "split_token_time"]
