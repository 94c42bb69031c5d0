"""GGUF headers: the real embedded model, small files written with the gguf
package, and files that are truncated or not GGUF at all."""
from __future__ import annotations

import time

import gguf
import pytest

from desktop.core.library.gguf_info import GGUFError, file_type_name, read_info
from fakehub import make_gguf
def test_embedded_model_header(embedded_model):
    t0 = time.perf_counter()
    info = read_info(embedded_model)
    elapsed = time.perf_counter() - t0
    assert info.architecture == "gemma3"
    assert info.quant == "Q4_K_M" and info.file_type == 15
    assert info.size_label == "270M"
    assert 260e6 < info.parameters < 280e6  # the tensors' element counts add up to the label
    assert info.context_length == 32768
    assert info.has_chat_template is False  # a base model: the reason the app falls back to a plain transcript
    assert info.block_count == 18 and info.head_count_kv == 1
    assert info.kv_cache_bytes_per_token() == 18 * 1 * (256 + 256) * 2
    assert info.tensor_count == 236
    assert "gemma3" in info.describe() and "Q4_K_M" in info.describe()
    # Memory-mapped and skipping the 262k-token vocabulary: well under a second (GGUFReader takes ~14 s).
    assert elapsed < 2.0, elapsed


def test_small_file_matches_the_gguf_packages_reader(tmp_path):
    path = make_gguf(tmp_path / "m.gguf", arch="qwen2", context_length=4096, chat_template="{% for m in messages %}")
    info = read_info(path)
    ref = gguf.GGUFReader(path)
    assert info.architecture == ref.fields["general.architecture"].contents() == "qwen2"
    assert info.context_length == ref.fields["qwen2.context_length"].contents() == 4096
    assert info.chat_template == ref.fields["tokenizer.chat_template"].contents()
    assert info.parameters == sum(t.n_elements for t in ref.tensors)
    assert info.tensor_count == len(ref.tensors)
    assert info.quant == "Q4_K_M"
    assert info.name == "Tiny Test"


def test_quant_falls_back_to_the_dominant_tensor_type(tmp_path):
    import numpy as np

    path = tmp_path / "nofiletype.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tensor("a", np.zeros((4, 32), dtype=np.float16))
    w.add_tensor("b", np.zeros((2,), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    info = read_info(path)
    assert info.file_type is None and info.quant == "F16"


@pytest.mark.parametrize("number,name", [(15, "Q4_K_M"), (7, "Q8_0"), (1, "F16"), (0, "F32"), (32, "BF16"),
                                         (22, "IQ3_XS"), (18, "Q6_K"), (1024 + 15, "Q4_K_M"), (999, None)])
def test_file_type_names(number, name):
    assert file_type_name(number) == name


def test_truncated_file_gives_a_clear_error(tmp_path, embedded_model):
    # Cut the real model in half: the header is complete but the tensors are not.
    cut = tmp_path / "gemma-half.gguf"
    with embedded_model.open("rb") as src, cut.open("wb") as dst:
        dst.write(src.read(embedded_model.stat().st_size // 2))
    with pytest.raises(GGUFError) as err:
        read_info(cut)
    assert "gemma-half.gguf" in str(err.value) and "truncated" in str(err.value)
    assert "50%" in str(err.value)

    # Cut inside the header (in the vocabulary): also truncated, also named.
    head = tmp_path / "gemma-head.gguf"
    with embedded_model.open("rb") as src, head.open("wb") as dst:
        dst.write(src.read(100_000))
    with pytest.raises(GGUFError, match=r"gemma-head\.gguf is truncated"):
        read_info(head)


def test_not_a_gguf_file(tmp_path):
    html = tmp_path / "model.gguf"
    html.write_text("<!DOCTYPE html><html><body>Sign in to continue</body></html>" * 3)
    with pytest.raises(GGUFError, match=r"model\.gguf is not a GGUF model file"):
        read_info(html)
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(GGUFError, match="empty.gguf"):
        read_info(empty)
    with pytest.raises(GGUFError, match="does-not-exist.gguf"):
        read_info(tmp_path / "does-not-exist.gguf")


def test_future_version_is_refused(tmp_path):
    path = make_gguf(tmp_path / "v9.gguf")
    data = bytearray(path.read_bytes())
    data[4:8] = (9).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(GGUFError, match="version 9"):
        read_info(path)
