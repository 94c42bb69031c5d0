"""Fit verdicts with injected memory figures, the recommended quant, and the
parsers of nvidia-smi / rocm-smi / vulkaninfo output."""
from __future__ import annotations

import pytest

from desktop.core.library.catalog import load_catalog
from desktop.core.library.hardware import (
    MARGIN, Fit, GiB, GpuInfo, MiB, apple_unified, assumed, detect, estimate_kv_bytes_per_token, fit_verdict,
    parse_nvidia_smi, parse_rocm_smi, parse_vulkaninfo, recommend,
)

LAPTOP_8GB = assumed(8 * GiB)
DESKTOP_32GB_RTX = assumed(32 * GiB, gpus=[GpuInfo("RTX 4070", "cuda", 12 * GiB, 11 * GiB)])
TINY_4GB = assumed(4 * GiB)


def test_verdicts_with_injected_memory():
    q4_8b = 4_920_000_000  # Llama 3.1 8B Q4_K_M, about
    kv = 131072  # its KV cache per token (32 layers × 8 KV heads × 256 × 2 bytes)
    v = fit_verdict(DESKTOP_32GB_RTX, q4_8b, context_length=4096, kv_bytes_per_token=kv)
    assert v.fit == Fit.GPU
    assert v.kv_cache == 4096 * kv == 512 * MiB
    assert v.needed == int((q4_8b + v.kv_cache + v.overhead) * MARGIN)
    assert v.estimated is False
    assert fit_verdict(LAPTOP_8GB, q4_8b, context_length=4096, kv_bytes_per_token=kv).fit == Fit.RAM
    assert fit_verdict(TINY_4GB, q4_8b, context_length=4096, kv_bytes_per_token=kv).fit == Fit.TOO_LARGE
    # A long context pushes the same file off the GPU: 64k tokens × 128 KiB = 8 GiB of KV cache.
    assert fit_verdict(DESKTOP_32GB_RTX, q4_8b, context_length=32768, kv_bytes_per_token=kv).fit == Fit.GPU
    assert fit_verdict(DESKTOP_32GB_RTX, q4_8b, context_length=65536, kv_bytes_per_token=kv).fit == Fit.RAM
    # A 70B Q4 (~42 GB) is too large even for 32 GB of RAM.
    assert fit_verdict(DESKTOP_32GB_RTX, 42_500_000_000, kv_bytes_per_token=327680).fit == Fit.TOO_LARGE
    text = v.explain()
    assert text.startswith("Fits on the GPU") and "5% margin" in text and "KV cache" in text


def test_budgets_keep_room_for_the_system():
    assert LAPTOP_8GB.ram_budget == 8 * GiB - int(1.5 * GiB)  # 1.5 GiB (more than 15% of 8)
    assert assumed(64 * GiB).ram_budget == 64 * GiB - int(0.15 * 64 * GiB)
    assert GpuInfo("x", "cuda", 8 * GiB).budget == 8 * GiB - 512 * MiB
    mac = apple_unified(16 * GiB, machine="arm64", system="Darwin")
    assert mac.unified and mac.total == int(16 * GiB * 2 / 3) and mac.budget == mac.total
    assert apple_unified(64 * GiB, machine="arm64", system="Darwin").total == int(64 * GiB * 0.75)
    assert apple_unified(16 * GiB, machine="x86_64", system="Linux") is None


def test_unknown_kv_shape_is_estimated_and_marked():
    v = fit_verdict(LAPTOP_8GB, 2_000_000_000, quant="Q4_K_M")
    assert v.estimated and "≈" in v.explain()
    # Monotone and of the right size against known models (KiB per token).
    assert 30 * 1024 <= estimate_kv_bytes_per_token(1_240_000_000) <= 80 * 1024
    assert 100 * 1024 <= estimate_kv_bytes_per_token(8_000_000_000) <= 260 * 1024


def test_one_quant_is_recommended_per_model():
    llama8 = next(m for m in load_catalog() if m.id == "llama-3.1-8b-instruct")
    quants = [f.quant for f in llama8.files]
    on_gpu = llama8.recommended(DESKTOP_32GB_RTX, 4096)
    assert quants[on_gpu] == "Q6_K"  # plenty of GPU memory: the best quality that fits with room
    on_laptop = llama8.recommended(LAPTOP_8GB, 4096)
    assert quants[on_laptop] == "Q4_K_M"  # CPU: the usual sweet spot
    assert llama8.recommended(TINY_4GB, 4096) is None or quants[llama8.recommended(TINY_4GB, 4096)] == "Q3_K_L"
    nothing = assumed(1 * GiB)
    assert llama8.recommended(nothing, 4096) is None


def test_recommend_prefers_gpu_then_cpu_order():
    mem = assumed(16 * GiB, gpus=[GpuInfo("small", "cuda", 4 * GiB)])
    sizes = {"Q3_K_L": 1_800_000_000, "Q4_K_M": 2_000_000_000, "Q6_K": 3_000_000_000, "Q8_0": 3_400_000_000}
    cands = [(q, fit_verdict(mem, s, kv_bytes_per_token=114688)) for q, s in sizes.items()]
    assert [v.fit for _, v in cands] == [Fit.GPU, Fit.GPU, Fit.RAM, Fit.RAM]
    assert cands[recommend(cands)][0] == "Q4_K_M"  # the best that fits on that GPU


def test_parse_nvidia_smi():
    gpus = parse_nvidia_smi("NVIDIA GeForce RTX 4090, 24564, 23000\nNVIDIA H100 80GB HBM3, 81559, 81000\n")
    assert [(g.name, g.total // MiB, g.free // MiB, g.backend) for g in gpus] == [
        ("NVIDIA GeForce RTX 4090", 24564, 23000, "cuda"), ("NVIDIA H100 80GB HBM3", 81559, 81000, "cuda")]
    assert parse_nvidia_smi("") == [] and parse_nvidia_smi("garbage") == []


def test_parse_rocm_smi():
    text = '{"card0": {"VRAM Total Memory (B)": "17163091968", "VRAM Total Used Memory (B)": "1163091968"}}'
    [g] = parse_rocm_smi(text)
    assert g.backend == "rocm" and g.total == 17163091968 and g.free == 16000000000
    assert parse_rocm_smi("not json") == []


VULKANINFO = """\
GPU0:
VkPhysicalDeviceProperties:
---------------------------
	apiVersion        = 1.3.255
	deviceName        = AMD Radeon RX 6600 (RADV NAVI23)
	deviceType        = PHYSICAL_DEVICE_TYPE_DISCRETE_GPU
VkPhysicalDeviceMemoryProperties:
=================================
memoryHeaps: count = 2
	memoryHeaps[0]:
		size   = 8589934592 (0x200000000) (8.00 GiB)
		budget = 8321499136 (0x1f0000000) (7.75 GiB)
		usage  = 0 (0x00000000) (0.00 B)
		flags: count = 1
			MEMORY_HEAP_DEVICE_LOCAL_BIT
	memoryHeaps[1]:
		size   = 16706134016 (0x3e3c2a000) (15.56 GiB)
		flags:
			None
GPU1:
VkPhysicalDeviceProperties:
	deviceName        = llvmpipe (LLVM 15.0.6, 256 bits)
	deviceType        = PHYSICAL_DEVICE_TYPE_CPU
"""


def test_parse_vulkaninfo_best_effort():
    gpus = parse_vulkaninfo(VULKANINFO)
    assert [(g.name, g.total, g.backend) for g in gpus] == [("AMD Radeon RX 6600 (RADV NAVI23)", 8589934592, "vulkan")]
    assert parse_vulkaninfo("GPU0:\n\tdeviceName = llvmpipe\n\tdeviceType = PHYSICAL_DEVICE_TYPE_CPU\n") == []


def test_detect_on_this_machine():
    import psutil

    mem = detect(probes=("cuda",))  # nvidia-smi absent here: no GPU, no error
    assert mem.ram_total == psutil.virtual_memory().total
    assert 0 < mem.ram_available <= mem.ram_total
    assert "RAM" in mem.summary()


@pytest.mark.parametrize("ctx", [2048, 8192])
def test_catalog_verdicts_cover_every_file(ctx):
    for model in load_catalog():
        verdicts = model.verdicts(DESKTOP_32GB_RTX, ctx)
        assert len(verdicts) == len(model.files)
        for f, v in zip(model.files, verdicts):
            assert v.weights > 0, (model.id, f.filename)
            assert v.size_estimated == (f.size is None) and not v.kv_estimated
