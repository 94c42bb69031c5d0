"""Variants of the real chat model's file that carry other model families' chat-template shapes.

Each keeps SmolLM2's weights and changes only metadata: the chat template and, where the
family's markers are special tokens, the texts of SmolLM2's own special tokens (so the
family's end-of-turn marker *is* the token the model was trained to end its turns with,
as in a real Llama 3 or Gemma file). Output quality is not the point; rendering, stopping
on the family's own end marker, and clear errors for broken templates are.

Writing a variant copies the header with the changed key-value pairs (re-encoded with the
`gguf` package's own constants and reader offsets) and then the tensor data unchanged: the
tensor infos give offsets relative to the data section, so only its alignment is redone.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LLAMA3 = (
    "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    " + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
# Gemma's own template: no system role (it raises), turns must alternate, the assistant is "model".
GEMMA = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'assistant' %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}"
)
# Mistral v0.1's: [INST] as text, the answer closed by the end-of-sequence token, no system role.
MISTRAL = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)
PHI3 = (
    "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}"
    "{% elif message['role'] == 'user' %}{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}"
    "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}"
)
# A reasoning model's (DeepSeek-R1 / Qwen3 style): the generation prompt opens <think>.
REASONING = CHATML.replace("{{ '<|im_start|>assistant\\n' }}", "{{ '<|im_start|>assistant\\n<think>\\n' }}")
RAISES = "{{ raise_exception('This template is broken on purpose') }}"
UNKNOWN_FILTER = "{% for message in messages %}{{ message['content'] | shout }}{% endfor %}"
RENDERS_EMPTY = "{% for message in messages %}{% endfor %}"


@dataclass(frozen=True)
class Variant:
    name: str
    template: str
    end_marker: str | None = None  # the family's end-of-turn marker (None: a broken template)
    tokens: dict[int, str] = field(default_factory=dict)  # SmolLM2 special token id -> this family's text
    bos: int | None = None  # another token as the beginning-of-text token (the family's own BOS text)
    problem: str | None = None  # words the pane error must contain, for a broken template


# SmolLM2's special tokens: 0 <|endoftext|>, 1 <|im_start|> (its BOS), 2 <|im_end|> (its EOS and
# end of turn), 3.. spare ones (<repo_name>, <reponame>, <file_sep>...).
VARIANTS = [
    Variant("chatml", CHATML, "<|im_end|>"),
    Variant("llama3", LLAMA3, "<|eot_id|>",
            {0: "<|begin_of_text|>", 1: "<|start_header_id|>", 2: "<|eot_id|>", 3: "<|end_header_id|>"}, bos=0),
    Variant("gemma", GEMMA, "<end_of_turn>", {0: "<bos>", 1: "<start_of_turn>", 2: "<end_of_turn>"}, bos=0),
    Variant("mistral", MISTRAL, "</s>", {0: "<unk>", 1: "<s>", 2: "</s>"}),
    Variant("phi3", PHI3, "<|end|>", {2: "<|end|>", 3: "<|user|>", 4: "<|assistant|>", 5: "<|system|>"}),
    Variant("reasoning", REASONING, "<|im_end|>"),
    Variant("raises", RAISES, problem="broken on purpose"),
    Variant("unknown_filter", UNKNOWN_FILTER, problem="shout"),
    Variant("renders_empty", RENDERS_EMPTY, problem="empty prompt"),
]


def write_variant(source, target: Path, template: str, tokens: dict[int, str] | None = None,
                  bos: int | None = None) -> Path:
    """`source`: the file's path, or a GGUFReader of it (parsing its 49,152 tokens is the slow part)."""
    from gguf import GGUFReader, GGUFValueType

    reader = source if isinstance(source, GGUFReader) else GGUFReader(source)
    raw = reader.data  # the whole file, memory-mapped
    fields = list(reader.fields.values())

    def span(f) -> tuple[int, int]:
        return f.offset, f.offset + sum(int(p.nbytes) for p in f.parts)

    def string(s: str) -> bytes:
        b = s.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    def kv_string(key: str, value: str) -> bytes:
        return string(key) + struct.pack("<I", GGUFValueType.STRING) + string(value)

    def kv_tokens(f) -> bytes:
        texts = [bytes(f.parts[i]).decode("utf-8") for i in f.data]
        for token_id, text in (tokens or {}).items():
            texts[token_id] = text
        out = [string(f.name), struct.pack("<IIQ", GGUFValueType.ARRAY, GGUFValueType.STRING, len(texts))]
        out += [string(t) for t in texts]
        return b"".join(out)

    # Header: magic, version, tensor count, key-value count (this many keys: only values change).
    kvs = [f for f in fields if not f.name.startswith("GGUF.")]
    kv_start = span(kvs[0])[0]
    out = [raw[:kv_start].tobytes()]
    for f in kvs:
        if f.name == "tokenizer.chat_template":
            out.append(kv_string(f.name, template))
        elif f.name == "tokenizer.ggml.tokens" and tokens:
            out.append(kv_tokens(f))
        elif f.name == "tokenizer.ggml.bos_token_id" and bos is not None:
            assert f.types == [GGUFValueType.UINT32], f.types
            out.append(string(f.name) + struct.pack("<II", GGUFValueType.UINT32, bos))
        else:
            a, b = span(f)
            out.append(raw[a:b].tobytes())
    infos_start = span(kvs[-1])[1]
    infos_end = max(span(t.field)[1] for t in reader.tensors)
    out.append(raw[infos_start:infos_end].tobytes())
    head = b"".join(out)
    alignment = reader.alignment
    head += b"\0" * (-len(head) % alignment)
    with target.open("wb") as fh:
        fh.write(head)
        fh.write(raw[reader.data_offset:].tobytes())
    return target


def variant_files(source: Path, folder: Path) -> dict[str, Path]:
    """Every variant written once into `folder` (about 100 MB each, under a second each)."""
    from gguf import GGUFReader

    folder.mkdir(parents=True, exist_ok=True)
    reader = GGUFReader(source)
    out = {}
    for v in VARIANTS:
        target = folder / f"smollm2-{v.name}.gguf"
        if not target.exists():
            write_variant(reader, target, v.template, v.tokens, v.bos)
        out[v.name] = target
    return out


if __name__ == "__main__":  # python tests/template_variants.py SRC DIR: write them to look at
    import sys

    for name, path in variant_files(Path(sys.argv[1]), Path(sys.argv[2])).items():
        print(name, path)
