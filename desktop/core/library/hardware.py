"""Will it run here? Memory on this machine and a verdict per model file.

What is measured:
- RAM: psutil (total and currently available).
- NVIDIA (CUDA): pynvml when installed, else `nvidia-smi`; total and free memory per GPU.
- AMD (ROCm): `rocm-smi --showmeminfo vram --json`, best effort.
- Apple silicon (Metal): unified memory. Metal lets a process wire about two thirds of
  RAM on machines up to 36 GB and about three quarters above (macOS's
  recommendedMaxWorkingSetSize), so that is the GPU budget.
- Vulkan (other GPUs): `vulkaninfo --summary` names the device; its device-local heap
  size is read from the full `vulkaninfo` output when present. Best effort only.

The verdict. A model needs its file (the weights, memory-mapped) plus the KV cache for
the context it is run with (f16: layers × KV heads × (key + value dims) × 2 bytes per
token) plus llama.cpp's compute buffers (taken as 256 MiB + 2% of the weights). That sum,
with a 5% margin on top (MARGIN), must fit:
- on the GPU: in the largest GPU's memory less 512 MiB for the display and driver;
- in RAM: in total RAM less what the system and other apps keep (the larger of 1.5 GiB
  and 15% of RAM).
Otherwise it is too large. When the KV shape is unknown (a file not yet downloaded whose
architecture the catalog does not list) it is estimated from the parameter count.
"""
from __future__ import annotations

import json
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from enum import Enum
from typing import Iterable, Sequence

GiB = 1 << 30
MiB = 1 << 20
MARGIN = 1.05
GPU_RESERVE = 512 * MiB
COMPUTE_FIXED = 256 * MiB
COMPUTE_FRACTION = 0.02
RAM_RESERVE = int(1.5 * GiB)
RAM_RESERVE_FRACTION = 0.15


@dataclass(frozen=True)
class GpuInfo:
    name: str
    backend: str  # cuda | rocm | metal | vulkan
    total: int  # bytes
    free: int | None = None
    unified: bool = False  # shares RAM (Apple silicon)

    @property
    def budget(self) -> int:
        if self.unified:
            return self.total  # already the Metal working-set limit
        return max(0, self.total - GPU_RESERVE)


@dataclass(frozen=True)
class MemoryInfo:
    ram_total: int
    ram_available: int
    gpus: tuple[GpuInfo, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ram_budget(self) -> int:
        return max(0, self.ram_total - max(RAM_RESERVE, int(RAM_RESERVE_FRACTION * self.ram_total)))

    @property
    def best_gpu(self) -> GpuInfo | None:
        return max(self.gpus, key=lambda g: g.budget, default=None)

    def summary(self) -> str:
        parts = [f"RAM {fmt_bytes(self.ram_total)} ({fmt_bytes(self.ram_available)} free now)"]
        if self.gpus:
            for g in self.gpus:
                what = "unified memory usable by Metal" if g.unified else "memory"
                parts.append(f"{g.name} ({g.backend.upper()}): {fmt_bytes(g.total)} {what}")
        else:
            parts.append("no GPU found (models run on the CPU)")
        return " · ".join(parts)


class Fit(str, Enum):
    GPU = "gpu"
    RAM = "ram"
    TOO_LARGE = "too_large"

    @property
    def label(self) -> str:
        return {"gpu": "Fits on the GPU", "ram": "Fits in RAM (CPU)", "too_large": "Too large"}[self.value]


@dataclass(frozen=True)
class FitVerdict:
    fit: Fit
    needed: int  # bytes, margin included
    weights: int
    kv_cache: int
    overhead: int
    budget_gpu: int | None
    budget_ram: int
    kv_estimated: bool  # the KV shape was guessed from the parameter count
    size_estimated: bool = False  # the file size was guessed (catalog entry without a size)

    @property
    def estimated(self) -> bool:
        return self.kv_estimated or self.size_estimated

    def explain(self) -> str:
        est = "≈" if self.estimated else ""
        w = "≈" if self.size_estimated else ""
        kv = "≈" if self.kv_estimated else ""
        head = (f"needs {est}{fmt_bytes(self.needed)}: weights {w}{fmt_bytes(self.weights)} + KV cache "
                f"{kv}{fmt_bytes(self.kv_cache)} + buffers {fmt_bytes(self.overhead)}, "
                f"plus {round((MARGIN - 1) * 100)}% margin")
        room = f"RAM budget {fmt_bytes(self.budget_ram)}"
        if self.budget_gpu is not None:
            room = f"GPU budget {fmt_bytes(self.budget_gpu)}, " + room
        return f"{self.fit.label}: {head} ({room})"


def fmt_bytes(n: int | float | None) -> str:
    if n is None:
        return "?"
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit in ("B", "KB") else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


# -- estimates -------------------------------------------------------------------------------
def estimate_kv_bytes_per_token(parameters: int | None) -> int:
    """KV cache bytes per token (f16) guessed from the parameter count.

    Fitted, on the conservative side, to GQA models: Llama 3.2 1B 32 KiB, 3B 112 KiB,
    Llama 3.1 8B 128 KiB, Qwen 2.5 7B 56 KiB, Gemma 2 9B 336 KiB, Llama 3 70B 320 KiB.
    """
    if not parameters:
        return 160 * 1024
    return int(48 * 1024 * (max(parameters, 1e8) / 1e9) ** 0.6)


def estimate_parameters(size: int, quant: str | None) -> int | None:
    from .hub import bits_per_weight

    bpw = bits_per_weight(quant)
    return int(size * 8 / bpw) if bpw else None


def fit_verdict(
    memory: MemoryInfo,
    size: int,
    *,
    context_length: int = 4096,
    kv_bytes_per_token: int | None = None,
    parameters: int | None = None,
    quant: str | None = None,
) -> FitVerdict:
    estimated = kv_bytes_per_token is None
    if kv_bytes_per_token is None:
        kv_bytes_per_token = estimate_kv_bytes_per_token(parameters or estimate_parameters(size, quant))
    kv = kv_bytes_per_token * max(1, context_length)
    overhead = COMPUTE_FIXED + int(COMPUTE_FRACTION * size)
    needed = int((size + kv + overhead) * MARGIN)
    gpu = memory.best_gpu
    gpu_budget = gpu.budget if gpu else None
    if gpu_budget is not None and needed <= gpu_budget:
        fit = Fit.GPU
    elif needed <= memory.ram_budget:
        fit = Fit.RAM
    else:
        fit = Fit.TOO_LARGE
    return FitVerdict(fit, needed, size, kv, overhead, gpu_budget, memory.ram_budget, estimated)


# Preference order when choosing one quant to recommend: good quality per byte first.
_CPU_PREFERENCE = ["Q4_K_M", "Q4_K_S", "IQ4_XS", "Q4_0", "Q5_K_M", "Q3_K_M", "IQ3_M", "Q3_K_L", "Q3_K_S",
                   "IQ3_XS", "Q2_K", "IQ2_M"]
_GPU_PREFERENCE = ["Q6_K", "Q5_K_M", "Q8_0", "Q4_K_M", "Q5_K_S", "Q4_K_S", "IQ4_XS", "Q4_0", "Q3_K_M", "IQ3_M",
                   "Q3_K_S", "IQ3_XS", "Q2_K", "IQ2_M"]


def recommend(candidates: Sequence[tuple[str | None, FitVerdict]],
              speeds: Sequence[float | None] | None = None, min_tps: float = 5.0) -> int | None:
    """Index of the one quant to recommend among (quant, verdict) pairs, or None when nothing fits.

    On a GPU that holds it: the best quality up to Q6_K/Q8_0 (more bits are nearly free there).
    On the CPU: Q4_K_M, the usual sweet spot (speed there is bound by memory bandwidth, so
    smaller is faster), else the nearest smaller quant that fits. Unquantised files (F16/BF16/F32)
    only when nothing else is offered.

    With `speeds` (predicted tokens/s per candidate, None where unknown): only quants that
    answer at least `min_tps` are considered; when none does, the fastest one that fits is
    recommended, since a better quant nobody waits for is worth less than a usable one.
    """
    if speeds is not None:
        known = [i for i, s in enumerate(speeds) if s is not None and candidates[i][1].fit != Fit.TOO_LARGE]
        usable = [i for i in known if speeds[i] >= min_tps]
        if usable:
            k = _recommend([candidates[i] for i in usable])
            return usable[k] if k is not None else None
        quantised = [i for i in known if (candidates[i][0] or "").upper() not in ("F16", "BF16", "F32")] or known
        if quantised:
            return max(quantised, key=lambda i: speeds[i])
    return _recommend(candidates)


def _recommend(candidates: Sequence[tuple[str | None, FitVerdict]]) -> int | None:
    def pick(fit: Fit, order: list[str]) -> int | None:
        for q in order:
            for i, (quant, v) in enumerate(candidates):
                if (quant or "").upper() == q and v.fit == fit:
                    return i
        # Names outside the table: the largest file with that verdict.
        same = [i for i, (quant, v) in enumerate(candidates)
                if v.fit == fit and (quant or "").upper() not in ("F16", "BF16", "F32")]
        return max(same, key=lambda i: candidates[i][1].weights) if same else None

    for fit, order in ((Fit.GPU, _GPU_PREFERENCE), (Fit.RAM, _CPU_PREFERENCE)):
        i = pick(fit, order)
        if i is not None:
            return i
    fitting = [i for i, (_, v) in enumerate(candidates) if v.fit != Fit.TOO_LARGE]
    return min(fitting, key=lambda i: candidates[i][1].weights) if fitting else None


# -- detection -------------------------------------------------------------------------------
def _run(cmd: list[str], timeout: float = 4.0) -> str | None:
    exe = shutil.which(cmd[0])
    if not exe:
        return None
    try:
        out = subprocess.run([exe, *cmd[1:]], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def parse_nvidia_smi(text: str) -> list[GpuInfo]:
    """Lines of `nvidia-smi --query-gpu=name,memory.total,memory.free --format=csv,noheader,nounits` (MiB)."""
    gpus = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.rsplit(",", 2)]
        if len(parts) != 3:
            continue
        try:
            gpus.append(GpuInfo(parts[0], "cuda", int(float(parts[1])) * MiB, int(float(parts[2])) * MiB))
        except ValueError:
            continue
    return gpus


def _nvidia() -> list[GpuInfo]:
    try:
        import pynvml  # optional: nvidia-ml-py

        pynvml.nvmlInit()
        try:
            gpus = []
            for i in range(pynvml.nvmlDeviceGetCount()):
                h = pynvml.nvmlDeviceGetHandleByIndex(i)
                mem = pynvml.nvmlDeviceGetMemoryInfo(h)
                name = pynvml.nvmlDeviceGetName(h)
                gpus.append(GpuInfo(name.decode() if isinstance(name, bytes) else name, "cuda", mem.total, mem.free))
            return gpus
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # not installed, no driver, no device
        pass
    text = _run(["nvidia-smi", "--query-gpu=name,memory.total,memory.free", "--format=csv,noheader,nounits"])
    return parse_nvidia_smi(text) if text else []


def parse_rocm_smi(text: str) -> list[GpuInfo]:
    try:
        data = json.loads(text)
    except ValueError:
        return []
    gpus = []
    for card, fields in sorted(data.items()) if isinstance(data, dict) else []:
        if not isinstance(fields, dict):
            continue
        total = next((v for k, v in fields.items() if "total" in k.lower() and "used" not in k.lower()), None)
        used = next((v for k, v in fields.items() if "used" in k.lower()), None)
        try:
            total_i = int(total)
        except (TypeError, ValueError):
            continue
        free = total_i - int(used) if str(used or "").isdigit() else None
        gpus.append(GpuInfo(f"AMD GPU ({card})", "rocm", total_i, free))
    return gpus


def parse_vulkaninfo(text: str) -> list[GpuInfo]:
    """Device names and their largest DEVICE_LOCAL heap from `vulkaninfo` output (best effort)."""
    gpus = []
    blocks = re.split(r"\n(?=GPU\d+:)", "\n" + text)
    for block in blocks:
        name = re.search(r"deviceName\s*=\s*(.+)", block)
        if not name:
            continue
        dtype = re.search(r"deviceType\s*=\s*(\S+)", block)
        if dtype and "CPU" in dtype.group(1):
            continue
        heaps = re.findall(r"size\s*=\s*(\d+)[^\n]*\n(?:[^\n]*\n){0,4}?[^\n]*MEMORY_HEAP_DEVICE_LOCAL_BIT", block)
        total = max((int(h) for h in heaps), default=0)
        gpus.append(GpuInfo(name.group(1).strip(), "vulkan", total))
    # The same device may be listed twice (summary and details): keep the one with a size.
    by_name: dict[str, GpuInfo] = {}
    for g in gpus:
        if g.name not in by_name or g.total > by_name[g.name].total:
            by_name[g.name] = g
    return list(by_name.values())


def apple_unified(ram_total: int, machine: str | None = None, system: str | None = None) -> GpuInfo | None:
    system = system or platform.system()
    machine = machine or platform.machine()
    if system != "Darwin" or machine != "arm64":
        return None
    share = 0.75 if ram_total > 36 * GiB else 2 / 3
    return GpuInfo("Apple silicon GPU", "metal", int(ram_total * share), unified=True)


def detect(*, probes: Iterable[str] = ("cuda", "metal", "rocm", "vulkan")) -> MemoryInfo:
    """Measure this machine. Runs external tools (a few seconds at worst): call it off the GUI thread."""
    import psutil

    vm = psutil.virtual_memory()
    gpus: list[GpuInfo] = []
    notes: list[str] = []
    probes = set(probes)
    if "cuda" in probes:
        gpus += _nvidia()
    if "metal" in probes:
        g = apple_unified(vm.total)
        if g:
            gpus.append(g)
    if "rocm" in probes and not gpus:
        text = _run(["rocm-smi", "--showmeminfo", "vram", "--json"])
        gpus += parse_rocm_smi(text) if text else []
    if "vulkan" in probes and not gpus:
        text = _run(["vulkaninfo"], timeout=6.0)
        found = parse_vulkaninfo(text) if text else []
        if found:
            notes.append("GPU memory read through Vulkan (best effort).")
        gpus += [g for g in found if g.total > 0]
    if gpus:
        notes.append("A GPU verdict assumes llama.cpp was built for that GPU (see the install notes).")
    return MemoryInfo(vm.total, vm.available, tuple(gpus), tuple(notes))


def assumed(ram_total: int, ram_available: int | None = None, gpus: Sequence[GpuInfo] = ()) -> MemoryInfo:
    """A MemoryInfo from given figures (tests, and a user who wants to plan for another machine)."""
    return MemoryInfo(ram_total, ram_total if ram_available is None else ram_available, tuple(gpus))


__all__ = [
    "Fit", "FitVerdict", "GpuInfo", "MemoryInfo", "MARGIN", "assumed", "detect", "fit_verdict", "fmt_bytes",
    "recommend", "estimate_kv_bytes_per_token", "parse_nvidia_smi", "parse_rocm_smi", "parse_vulkaninfo",
    "apple_unified",
]
