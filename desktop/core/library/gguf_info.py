"""What a GGUF file is, read from its header: architecture, parameter count,
quantisation, context length, chat template.

The format's tables (magic, value types, tensor types and their block sizes,
llama.cpp's file types) come from the `gguf` package. The walk over the header
is our own, over a memory map: `gguf.GGUFReader` builds a numpy view for every
element of every metadata array, which for a 262k-token vocabulary takes about
14 s on the 253 MB embedded model; skipping arrays by their lengths takes a
fraction of a second and reads only the header's pages, however large the file.
No tensor data is read; the tensor table is read to count parameters, find the
dominant tensor type and check the file is not truncated.
"""
from __future__ import annotations

import mmap
import os
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from gguf import GGML_QUANT_SIZES, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGMLQuantizationType, GGUFValueType, LlamaFileType

SUPPORTED_VERSIONS = (2, 3)


class GGUFError(ValueError):
    """The file is not a GGUF model we can read; the message names the file and says why."""


_SCALARS = {
    GGUFValueType.UINT8: "B",
    GGUFValueType.INT8: "b",
    GGUFValueType.UINT16: "H",
    GGUFValueType.INT16: "h",
    GGUFValueType.UINT32: "I",
    GGUFValueType.INT32: "i",
    GGUFValueType.FLOAT32: "f",
    GGUFValueType.BOOL: "?",
    GGUFValueType.UINT64: "Q",
    GGUFValueType.INT64: "q",
    GGUFValueType.FLOAT64: "d",
}
_SIZES = {t: struct.calcsize("<" + c) for t, c in _SCALARS.items()}

# Metadata arrays longer than this are skipped (their length is kept): tokenizer vocabularies.
_MAX_ARRAY_KEPT = 64


def file_type_name(file_type: int | None) -> str | None:
    """llama.cpp's general.file_type number as the name users know: 15 → Q4_K_M, 1 → F16."""
    if file_type is None:
        return None
    try:
        name = LlamaFileType(int(file_type) & ~1024).name  # 1024 marks a "guessed" type
    except ValueError:
        return None
    for prefix in ("MOSTLY_", "ALL_"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


@dataclass
class GGUFInfo:
    path: Path
    file_size: int
    version: int
    architecture: str | None
    name: str | None  # general.name
    size_label: str | None  # general.size_label, e.g. "270M", "8B"
    parameters: int  # sum of the tensors' element counts
    file_type: int | None  # general.file_type
    quant: str | None  # Q4_K_M, Q8_0, F16 ... (from file_type, else the dominant tensor type)
    context_length: int | None
    chat_template: str | None
    block_count: int | None
    embedding_length: int | None
    head_count: int | None
    head_count_kv: int | None
    key_length: int | None
    value_length: int | None
    sliding_window: int | None
    license: str | None
    tensor_count: int
    tensor_types: dict[str, int] = field(default_factory=dict)  # type name → bytes of tensor data
    metadata: dict = field(default_factory=dict)  # every scalar / short-array key
    output_bytes: int = 0  # the output layer's weights (output.weight, or the token embeddings it shares)

    @property
    def tensor_bytes(self) -> int:
        return sum(self.tensor_types.values())

    @property
    def has_chat_template(self) -> bool:
        return bool(self.chat_template)

    @property
    def dominant_tensor_type(self) -> str | None:
        return max(self.tensor_types, key=self.tensor_types.get) if self.tensor_types else None

    def kv_cache_bytes_per_token(self, bytes_per_value: int = 2) -> int | None:
        """K and V for one token across all layers (f16 cache), or None when the header lacks the shape."""
        if not (self.block_count and self.head_count):
            return None
        kv_heads = self.head_count_kv or self.head_count
        if self.key_length and self.value_length:
            k, v = self.key_length, self.value_length
        elif self.embedding_length:
            k = v = self.embedding_length // self.head_count
        else:
            return None
        return self.block_count * kv_heads * (k + v) * bytes_per_value

    def describe(self) -> str:
        parts = [self.architecture or "unknown architecture"]
        if self.size_label or self.parameters:
            parts.append(self.size_label or _human_params(self.parameters))
        if self.quant:
            parts.append(self.quant)
        if self.context_length:
            parts.append(f"{self.context_length:,} ctx")
        parts.append("chat template" if self.has_chat_template else "no chat template")
        return " · ".join(parts)


def _human_params(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.1f}B"
    return f"{n / 1e6:.0f}M"


class _Cursor:
    __slots__ = ("buf", "pos", "end", "order", "path")

    def __init__(self, buf, order: str, path: Path):
        self.buf, self.pos, self.end, self.order, self.path = buf, 0, len(buf), order, path

    def need(self, n: int) -> None:
        if n < 0 or self.pos + n > self.end:
            raise GGUFError(
                f"{self.path.name} is truncated or corrupt: its header runs past the end of the file "
                f"(at byte {self.pos:,} of {self.end:,}). Download or copy it again."
            )

    def scalar(self, fmt: str):
        size = struct.calcsize(fmt)
        self.need(size)
        (value,) = struct.unpack_from(self.order + fmt, self.buf, self.pos)
        self.pos += size
        return value

    def string(self) -> str:
        n = self.scalar("Q")
        self.need(n)
        raw = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return raw.decode("utf-8", errors="replace")

    def value(self, vtype: int, key: str):
        try:
            t = GGUFValueType(vtype)
        except ValueError:
            raise GGUFError(f"{self.path.name} is corrupt: metadata key {key!r} has unknown type {vtype}.") from None
        if t in _SCALARS:
            return self.scalar(_SCALARS[t])
        if t == GGUFValueType.STRING:
            return self.string()
        # ARRAY
        itype = self.scalar("I")
        count = self.scalar("Q")
        try:
            it = GGUFValueType(itype)
        except ValueError:
            raise GGUFError(f"{self.path.name} is corrupt: array {key!r} has unknown item type {itype}.") from None
        if count <= _MAX_ARRAY_KEPT:
            return [self.value(itype, key) for _ in range(count)]
        # Long arrays (vocabularies, merges, scores): skip without building them.
        if it in _SIZES:
            self.need(count * _SIZES[it])
            self.pos += count * _SIZES[it]
        elif it == GGUFValueType.STRING:
            unpack, buf, order_q = struct.unpack_from, self.buf, self.order + "Q"
            pos, end = self.pos, self.end
            for _ in range(count):
                if pos + 8 > end:
                    self.pos = pos
                    self.need(8)
                pos += 8 + unpack(order_q, buf, pos)[0]
            self.pos = pos
            self.need(0)
        else:
            for _ in range(count):
                self.value(itype, key)
        return _SkippedArray(GGUFValueType(itype).name, count)


@dataclass(frozen=True)
class _SkippedArray:
    item_type: str
    length: int


def read_info(path: str | os.PathLike) -> GGUFInfo:
    """Read a GGUF file's header. Raises GGUFError (naming the file) for anything that is not a readable GGUF."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise GGUFError(f"{path} cannot be read: {exc.strerror or exc}.") from None
    if size < 24:
        raise GGUFError(f"{path.name} is not a GGUF model file (it is only {size} bytes).")
    try:
        with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return _parse(mm, path, size)
    except OSError as exc:
        raise GGUFError(f"{path} cannot be read: {exc.strerror or exc}.") from None


def _parse(mm, path: Path, size: int) -> GGUFInfo:
    (magic,) = struct.unpack_from("<I", mm, 0)
    if magic != GGUF_MAGIC:
        raise GGUFError(f"{path.name} is not a GGUF model file (it does not start with 'GGUF').")
    (version,) = struct.unpack_from("<I", mm, 4)
    order = "<"
    if version & 0xFFFF == 0:  # written on a machine of the other byte order
        order = ">"
        (version,) = struct.unpack_from(">I", mm, 4)
    if version not in SUPPORTED_VERSIONS:
        raise GGUFError(
            f"{path.name} is GGUF version {version}; this ArenaDesk reads versions "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))}. Convert it again with a recent llama.cpp."
        )
    cur = _Cursor(mm, order, path)
    cur.pos = 8
    tensor_count = cur.scalar("Q")
    kv_count = cur.scalar("Q")
    if kv_count > size or tensor_count > size:
        raise GGUFError(f"{path.name} is corrupt: its header claims {kv_count:,} keys and {tensor_count:,} tensors.")

    meta: dict = {}
    for _ in range(kv_count):
        key = cur.string()
        vtype = cur.scalar("I")
        meta[key] = cur.value(vtype, key)

    tensor_types: Counter = Counter()
    parameters = 0
    output = {}  # bytes of output.weight and token_embd.weight (a model without the first reuses the second)
    data_end = 0
    for _ in range(tensor_count):
        name = cur.string()
        n_dims = cur.scalar("I")
        if n_dims > 8:
            raise GGUFError(f"{path.name} is corrupt: tensor {name!r} claims {n_dims} dimensions.")
        n = 1
        for _d in range(n_dims):
            n *= cur.scalar("Q")
        raw_type = cur.scalar("I")
        offset = cur.scalar("Q")
        try:
            ttype = GGMLQuantizationType(raw_type)
            block, type_size = GGML_QUANT_SIZES[ttype]
        except (ValueError, KeyError):
            raise GGUFError(
                f"{path.name} uses tensor type {raw_type}, which this version of the gguf package does not know; "
                "update ArenaDesk."
            ) from None
        nbytes = n * type_size // block
        parameters += n
        tensor_types[ttype.name] += nbytes
        if name in ("output.weight", "token_embd.weight"):
            output[name] = nbytes
        data_end = max(data_end, offset + nbytes)

    alignment = meta.get("general.alignment", GGUF_DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise GGUFError(f"{path.name} is corrupt: general.alignment is {alignment!r}.")
    data_start = -(-cur.pos // alignment) * alignment
    needed = data_start + data_end
    if tensor_count and needed > size:
        raise GGUFError(
            f"{path.name} is truncated: its tensors need {needed:,} bytes but the file has {size:,} "
            f"({100 * size / needed:.0f}% of it). The download or copy did not finish; get the file again."
        )

    arch = meta.get("general.architecture")
    arch = arch if isinstance(arch, str) else None

    def arch_int(suffix: str) -> int | None:
        v = meta.get(f"{arch}.{suffix}") if arch else None
        if isinstance(v, list):  # per-layer values (some architectures): take the largest
            v = max((x for x in v if isinstance(x, int)), default=None)
        return v if isinstance(v, int) and not isinstance(v, bool) else None

    def text(key: str) -> str | None:
        v = meta.get(key)
        return v if isinstance(v, str) else None

    file_type = meta.get("general.file_type")
    file_type = file_type if isinstance(file_type, int) else None
    quant = file_type_name(file_type)
    if quant is None and tensor_types:
        # No file_type: name it after the type holding most of the weights (e.g. Q4_K).
        quant = max(tensor_types, key=tensor_types.get)

    return GGUFInfo(
        path=path,
        file_size=size,
        version=version,
        architecture=arch,
        name=text("general.name"),
        size_label=text("general.size_label"),
        parameters=parameters,
        file_type=file_type,
        quant=quant,
        context_length=arch_int("context_length"),
        chat_template=text("tokenizer.chat_template"),
        block_count=arch_int("block_count"),
        embedding_length=arch_int("embedding_length"),
        head_count=arch_int("attention.head_count"),
        head_count_kv=arch_int("attention.head_count_kv"),
        key_length=arch_int("attention.key_length"),
        value_length=arch_int("attention.value_length"),
        sliding_window=arch_int("attention.sliding_window"),
        license=text("general.license"),
        tensor_count=tensor_count,
        tensor_types=dict(tensor_types),
        metadata={k: v for k, v in meta.items() if not isinstance(v, _SkippedArray) and k != "tokenizer.chat_template"},
        output_bytes=output.get("output.weight", output.get("token_embd.weight", 0)),
    )


@dataclass(frozen=True)
class GGUFPeek:
    """The first keys of a header: enough to tell a model from a vision projector or an adapter."""

    tensor_count: int
    metadata: dict  # general.* and the architecture's keys, up to the tokenizer's

    @property
    def architecture(self) -> str | None:
        v = self.metadata.get("general.architecture")
        return v if isinstance(v, str) else None

    @property
    def type(self) -> str | None:
        """general.type: "model", "mmproj", "adapter", "vocab"… (absent in older files)."""
        v = self.metadata.get("general.type")
        return v if isinstance(v, str) else None


def peek(path: str | os.PathLike, *, max_keys: int = 256) -> GGUFPeek:
    """Read the header's leading keys only, stopping at the first tokenizer key.

    Writers put general.* and the architecture's keys first and the tokenizer's long
    vocabulary after them, so this touches a page or two of the file (microseconds),
    where read_info walks the whole header. Used to sort found files before anything slow.
    Raises GGUFError for a file that is not a GGUF.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size < 24:
            raise GGUFError(f"{path.name} is not a GGUF model file (it is only {size} bytes).")
        with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            if mm[:4] != b"GGUF":
                raise GGUFError(f"{path.name} is not a GGUF model file (it does not start with 'GGUF').")
            order = ">" if struct.unpack_from("<I", mm, 4)[0] & 0xFFFF == 0 else "<"
            cur = _Cursor(mm, order, path)
            cur.pos = 8
            tensor_count = cur.scalar("Q")
            kv_count = cur.scalar("Q")
            meta: dict = {}
            for _ in range(min(kv_count, max_keys)):
                key = cur.string()
                if key.startswith("tokenizer."):
                    break
                meta[key] = cur.value(cur.scalar("I"), key)
            return GGUFPeek(tensor_count, {k: v for k, v in meta.items() if not isinstance(v, _SkippedArray)})
    except OSError as exc:
        raise GGUFError(f"{path} cannot be read: {exc.strerror or exc}.") from None
