"""The curated catalog: well formed, the families the issue names, and no invented checksums."""
from __future__ import annotations

import json
import re

import pytest

from desktop.core.library.catalog import CatalogError, load_catalog
from desktop.core.library.hub import quant_from_name
from desktop.core.resources import resource


def test_catalog_loads_and_covers_the_families():
    models = load_catalog()
    families = {m.family for m in models}
    assert {"Llama", "Mistral", "Qwen", "Gemma", "Phi"} <= families
    names = " ".join(m.name for m in models)
    for expected in ("Llama 3.1", "Llama 3.2", "Qwen 2.5", "Qwen3", "Gemma 2", "Gemma 3", "Phi-3.5", "Phi-4"):
        assert expected in names
    assert any(m.gated for m in models)  # at least one shows the licence/token path
    for m in models:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", m.repo_id), m.repo_id
        assert m.licence and m.context_length >= 2048 and m.parameters and m.kv_bytes_per_token
        assert m.files
        for f in m.files:
            assert f.filename.endswith(".gguf")
            # The quant the catalog states agrees with the file name, when the name carries one.
            named = quant_from_name(f.filename)
            assert named is None or named == f.quant, (f.filename, f.quant)


def test_header_comment_explains_null_checksums():
    raw = json.loads(resource("catalog.json").read_text())
    comment = raw["comment"]
    assert "null" in comment and "lfs.sha256" in comment and "get_paths_info" in comment
    # Every checksum in the file has a stated source.
    shas = [f["sha256"] for m in raw["models"] for f in m["files"] if f["sha256"]]
    assert shas and set(shas) <= set(raw["sources"])


def test_sizes_are_estimated_where_unknown():
    m = next(m for m in load_catalog() if m.id == "llama-3.1-8b-instruct")
    q4 = next(f for f in m.files if f.quant == "Q4_K_M")
    size, est = q4.size_or_estimate(m.parameters)
    assert est and 4.5e9 < size < 5.2e9  # the real file is 4.92 GB
    pinned = next(m for m in load_catalog() if m.id == "llama-3.2-3b-instruct")
    assert pinned.files[0].size_or_estimate(pinned.parameters) == (2019377600, False)
    assert pinned.revision != "main"


def test_malformed_catalogs_are_refused(tmp_path):
    bad = tmp_path / "c.json"
    bad.write_text("{not json")
    with pytest.raises(CatalogError, match="cannot be read"):
        load_catalog(bad)
    bad.write_text(json.dumps({"schema": 2, "models": []}))
    with pytest.raises(CatalogError, match="schema-1"):
        load_catalog(bad)
    model = {"id": "x", "name": "X", "repo_id": "a/b", "files": [{"filename": "x-Q4_K_M.gguf", "sha256": "zz"}]}
    bad.write_text(json.dumps({"schema": 1, "models": [model]}))
    with pytest.raises(CatalogError, match="malformed sha256"):
        load_catalog(bad)
    model["files"][0]["sha256"] = None
    bad.write_text(json.dumps({"schema": 1, "models": [model, model]}))
    with pytest.raises(CatalogError, match="duplicate"):
        load_catalog(bad)
