"""Connections without a network: settings migration, choice strings, presets, the pickers'
grouping, identity in the store (migration 0006), prices, snapshot changes, exports."""
import csv
import json
import sqlite3

import pytest

from desktop.core import connections as cx
from desktop.core import exports, ratings, secrets
from desktop.core import settings as settings_io
from desktop.core.engines.registry import ModelChoice
from desktop.core.pricing import Prices
from desktop.core.store import SlotSpec, Store
from desktop.core.store import db as store_db
from desktop.core.store.migrations import MIGRATIONS


# -- settings: version 1 becomes one connection, nothing for the user to do ------------------
def test_an_old_settings_file_with_a_base_url_becomes_one_keyless_connection(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"version": 1, "openai_base_url": "http://127.0.0.1:8080/v1",
                                "request_timeout_s": 25, "default_remote_model": "gemma", "blind": True}))
    loaded = settings_io.load(path)
    assert loaded.warning is None
    s = loaded.settings
    assert s.version == settings_io.SCHEMA_VERSION == 2
    [conn] = s.connections
    assert (conn.id, conn.name, conn.base_url, conn.timeout_s) == ("openai", "127.0.0.1:8080",
                                                                   "http://127.0.0.1:8080/v1", 25.0)
    assert conn.needs_key is False and conn.key_env == "OPENAI_API_KEY"  # as before: a placeholder when no key
    assert s.blind is True and s.default_remote_model == "gemma"  # the rest is read as it was
    settings_io.save(s, path)
    saved = json.loads(path.read_text())
    assert "openai_base_url" not in saved and saved["version"] == 2
    assert settings_io.load(path).settings == s


def test_an_old_settings_file_without_a_base_url_keeps_openai_and_its_stored_key(arenadesk_home):
    from desktop.core.paths import folders
    from desktop.core.services import Services

    f = folders().ensure()
    f.settings_file.write_text(json.dumps({"version": 1, "openai_base_url": "", "request_timeout_s": 90}))
    secrets.Secrets().set(secrets.OPENAI, "sk-stored-before-connections-0000")  # where version 1 kept it
    services = Services.open()
    try:
        assert json.loads(f.settings_file.read_text())["version"] == 2  # written once, in the new shape
        assert json.loads((f.settings_file.parent / "settings.json.v1").read_text())["request_timeout_s"] == 90
        [conn] = services.settings.connections
        assert (conn.id, conn.name, conn.base_url, conn.needs_key, conn.timeout_s) == (
            "openai", "OpenAI", "https://api.openai.com/v1", True, 90.0)
        assert services.api_key(conn) == "sk-stored-before-connections-0000"
        engine = services.engines.get(ModelChoice.parse("openai:gpt-4o-mini"))  # an old row's choice string
        assert (engine.info.model, engine.info.ref) == ("gpt-4o-mini @ OpenAI", "gpt-4o-mini@openai")
    finally:
        services.close()


def test_a_connection_with_no_key_says_where_to_add_one(services):
    from desktop.core.services import NeedsKey

    conn = cx.new_connection(services.settings, "groq")
    services.settings.connections.append(conn)
    with pytest.raises(NeedsKey, match=r"No Groq key: add one in Settings → Connections → Groq \(or set GROQ_API_KEY\)"):
        services.engines.get(ModelChoice("openai", "llama-3.3-70b", conn.id))
    local = cx.new_connection(services.settings, "ollama")
    services.settings.connections.append(local)
    assert services.api_key(local) == "no-key"  # a local server: a placeholder, no key asked for


def test_unknown_connection_is_a_clear_error(services):
    from desktop.core.services import UnknownConnection

    with pytest.raises(UnknownConnection, match="no connection 'gone'.*Settings → Connections"):
        services.engines.get(ModelChoice.parse("openai:m@gone"))


def test_settings_drop_connections_without_an_id_or_url_and_duplicates():
    s = settings_io.Settings.from_dict({"connections": [
        {"id": "a", "name": "A", "base_url": "http://a/v1", "headers": {"X-A": "1", "bad": 3}},
        {"id": "a", "name": "A again", "base_url": "http://a2/v1"},
        {"id": "", "base_url": "http://b/v1"}, "not a dict", {"id": "c", "name": "C"}]})
    assert [c.id for c in s.connections] == ["a"]
    assert s.connections[0].headers == {"X-A": "1"}
    assert s.connection("A") is s.connection("a")


# -- choices: old strings stay parseable ---------------------------------------------------
@pytest.mark.parametrize("text, engine, model, connection", [
    ("local:default", "local", "default", ""),
    ("openai:gpt-4o-mini", "openai", "gpt-4o-mini", "openai"),  # every API choice before connections
    ("openai:gpt-4o-mini@my-box", "openai", "gpt-4o-mini", "my-box"),
    ("openai:llama3.2:3b@ollama", "openai", "llama3.2:3b", "ollama"),  # Ollama's names have colons
    ("openai:meta-llama/Llama-3.1-8B@vllm", "openai", "meta-llama/Llama-3.1-8B", "vllm"),
    ("openai:name@With Space", "openai", "name@With Space", "openai"),  # not an id: part of the name
])
def test_choice_strings_round_trip(text, engine, model, connection):
    c = ModelChoice.parse(text)
    assert (c.engine, c.model, c.connection) == (engine, model, connection)
    assert str(c) == text and ModelChoice.parse(str(c)) == c


def test_bad_choice_strings_say_what_is_expected():
    for text in ("", "gpt-4o", "api:x", "openai:"):
        with pytest.raises(ValueError, match="openai:<model>@<connection>"):
            ModelChoice.parse(text)


# -- presets, names, headers ------------------------------------------------------------------
def test_presets_fill_the_base_url_and_say_where_a_key_comes_from():
    by_id = {p.id: p for p in cx.PRESETS}
    assert {"openai", "anthropic", "gemini", "openrouter", "groq", "mistral", "deepseek", "together", "ollama",
            "lmstudio", "vllm", "llamacpp"} <= set(by_id)
    assert by_id["ollama"].base_url == "http://localhost:11434/v1" and not by_id["ollama"].needs_key
    assert by_id["lmstudio"].base_url == "http://localhost:1234/v1"
    assert by_id["vllm"].base_url == "http://localhost:8000/v1"
    assert by_id["llamacpp"].base_url == "http://localhost:8080/v1"
    for p in cx.PRESETS:
        assert p.key_help, p.id
        if p.needs_key:
            assert p.key_env and p.base_url.startswith("https://"), p.id


def test_new_connections_get_unique_names_and_ids():
    s = settings_io.Settings()
    a = cx.new_connection(s, "ollama")
    s.connections.append(a)
    b = cx.new_connection(s, "ollama")
    assert (a.id, a.name, b.id, b.name) == ("ollama", "Ollama", "ollama-2", "Ollama 2")
    assert cx.new_connection(s, "openai").id == "openai-2"  # "openai" is taken by the default one
    assert cx.slug("My GPU box!") == "my-gpu-box"


def test_headers_are_parsed_line_by_line():
    assert cx.parse_headers("HTTP-Referer: https://x.org\n\nX-Title: Arena Desk") == {
        "HTTP-Referer": "https://x.org", "X-Title": "Arena Desk"}
    with pytest.raises(ValueError, match="line 2"):
        cx.parse_headers("A: 1\nno colon here")
    assert cx.format_headers({"A": "1"}) == "A: 1"


# -- the pickers ----------------------------------------------------------------------------
def test_contestants_are_grouped_local_files_first_then_each_connection(services):
    from desktop.core.contestants import Contestants

    box = cx.new_connection(services.settings, "vllm", name="my-box", base_url="http://10.0.0.5:8000/v1")
    box.models = ["gpt-4o-mini", "Qwen/Qwen2.5-7B"]
    services.settings.connections.append(box)
    offered = Contestants(services)
    assert str(offered.all()[0].choice) == "local:default"  # the local files come first
    openai, my_box = offered.groups()
    assert "gpt-4o-mini · OpenAI" in [c.label for c in openai]  # not fetched: the preset's list
    assert [(c.label, str(c.choice)) for c in my_box] == [
        ("gpt-4o-mini · my-box", "openai:gpt-4o-mini@my-box"), ("Qwen/Qwen2.5-7B · my-box", "openai:Qwen/Qwen2.5-7B@my-box")]
    offered.set_api_models(["gpt-5"], "openai")
    assert [c.label for c in offered.groups()[0]] == ["gpt-5 · OpenAI"]


# -- prices per model, optionally per connection --------------------------------------------------
def test_a_connection_specific_price_wins_over_the_model_price():
    p = Prices({"gpt-4o": {"input": 1, "output": 1}, "gpt-4o-mini": {"input": 2, "output": 2},
                "gpt-4o-mini@openrouter": {"input": 3, "output": 3}, "gemma@my-box": {"input": 0, "output": 0}})
    assert p.price("gpt-4o-mini") == {"input": 2, "output": 2}
    assert p.price("gpt-4o-mini-2024-07-18", "openrouter") == {"input": 3, "output": 3}
    assert p.price("gpt-4o", "openrouter") == {"input": 1, "output": 1}  # "gpt-4o-mini@..." is not a prefix of it
    assert p.price("gemma") is None and p.cost("gemma", 10, 10, "my-box") == 0.0


# -- identity in the store: migration 0006 --------------------------------------------------------
def old_store(path, monkeypatch) -> None:
    """A database as the version before connections wrote it, with a local and an API answer voted on."""
    before = MIGRATIONS[:[name for name, _ in MIGRATIONS].index("0006_connections_identity")]
    monkeypatch.setattr(store_db, "MIGRATIONS", before)
    Store(path).close()  # the schema of the time
    monkeypatch.setattr(store_db, "MIGRATIONS", MIGRATIONS)
    db = sqlite3.connect(path)
    with db:  # rows as that version wrote them (its INSERT had no connection column)
        db.execute("INSERT INTO conversations (id, uid, created_at) VALUES (1, 'c1', 1.0)")
        db.execute("INSERT INTO rounds (id, uid, conversation_id, turn, prompt, created_at) "
                   "VALUES (1, 'r1', 1, 0, 'p', 1.0)")
        db.executemany("INSERT INTO responses (id, uid, round_id, slot, position, engine, model, model_ref, choice, "
                       "status) VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, 'done')",
                       [(1, "a1", 0, 0, "local", "gemma.gguf", "sha256:abc", "local:/m/gemma.gguf"),
                        (2, "a2", 1, 1, "openai", "gpt-4o-mini", "gpt-4o-mini", "openai:gpt-4o-mini")])
        db.execute("INSERT INTO votes (id, uid, round_id, outcome, created_at, updated_at) "
                   "VALUES (1, 'v1', 1, 'right', 1.0, 1.0)")
        db.execute("INSERT INTO battles (vote_id, response_a, response_b, winner) VALUES (1, 1, 2, 'b')")
    db.close()


def test_migration_attributes_old_api_answers_to_the_openai_connection(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    old_store(path, monkeypatch)
    store = Store(path)
    assert "0006_connections_identity" in store.migrations()
    rows = store.query("SELECT engine, model, model_ref, connection, reported_model, choice FROM responses ORDER BY slot")
    assert rows == [("local", "gemma.gguf", "sha256:abc", "", None, "local:/m/gemma.gguf"),
                    ("openai", "gpt-4o-mini", "gpt-4o-mini@openai", "openai", None, "openai:gpt-4o-mini")]
    # A new answer from the same connection is the same contestant as the old ones.
    conv = store.new_conversation()
    rid, _ = store.add_round(conv, "q", [SlotSpec(0, 0, "openai", "gpt-4o-mini @ OpenAI", "gpt-4o-mini@openai", {},
                                                  "openai:gpt-4o-mini", "openai"),
                                         SlotSpec(1, 1, "local", "gemma.gguf", "sha256:abc")])
    store.cast_vote(rid, "left")
    board = ratings.leaderboard(store.battles(), rounds=50)
    assert sorted(r.label for r in board.rows) == ["gemma", "gpt-4o-mini @ OpenAI"]  # shown without ".gguf"
    store.close()


def two_boxes(store):
    """Two rounds: the same model name on OpenAI and on my-box; the box wins both."""
    specs = [SlotSpec(0, 0, "openai", "gpt-4o-mini @ OpenAI", "gpt-4o-mini@openai", {}, "openai:gpt-4o-mini", "openai"),
             SlotSpec(1, 1, "openai", "gpt-4o-mini @ my-box", "gpt-4o-mini@my-box", {},
                      "openai:gpt-4o-mini@my-box", "my-box")]
    from desktop.core.engines.base import Result

    for i, snapshot in enumerate(("gpt-4o-mini-2024-07-18", "gpt-4o-mini-2025-01-01")):
        conv = store.new_conversation()
        rid, ids = store.add_round(conv, f"prompt {i}", specs)
        for response_id, reported in zip(ids, (snapshot, "gemma-3-270m.gguf")):
            store.save_response(response_id, Result(text="an answer", status="done", started_at=1000.0 + i * 86400 * 40,
                                                    finished_at=1001.0 + i * 86400 * 40, reported_model=reported))
        store.cast_vote(rid, "right")


def test_the_same_model_name_on_two_connections_is_two_contestants(services, tmp_path):
    store = services.store
    two_boxes(store)
    board = ratings.leaderboard(store.battles(), rounds=50)
    assert [r.label for r in board.rows] == ["gpt-4o-mini @ my-box", "gpt-4o-mini @ OpenAI"]
    out = tmp_path / "votes.csv"
    exports.export(store, "csv", out)
    with open(out, encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["left_model"], r["left_connection"], r["right_model"], r["right_connection"]) for r in rows] == [
        ("gpt-4o-mini @ OpenAI", "openai", "gpt-4o-mini @ my-box", "my-box")] * 2
    assert [r["left_reported_model"] for r in rows] == ["gpt-4o-mini-2024-07-18", "gpt-4o-mini-2025-01-01"]
    battles = out.with_suffix(".json")
    exports.export(store, "fastchat", battles)
    assert {(b["model_a"], b["model_b"]) for b in json.loads(battles.read_text())} == {
        ("gpt-4o-mini @ OpenAI", "gpt-4o-mini @ my-box")}


def test_a_changed_snapshot_is_reported_under_the_leaderboard(services, capsys):
    two_boxes(services.store)
    notes = ratings.snapshot_changes(services.store.reported_models())
    assert len(notes) == 1  # my-box reported one name throughout; OpenAI two
    assert notes[0].startswith("Snapshot changed: gpt-4o-mini @ OpenAI answered as gpt-4o-mini-2024-07-18 (1 answer")
    assert "then gpt-4o-mini-2025-01-01" in notes[0]
    from desktop.cli import run

    services.close()
    assert run(["leaderboard"]) == 0
    assert "Snapshot changed: gpt-4o-mini @ OpenAI" in capsys.readouterr().out


def test_jsonl_carries_the_identity_and_an_old_export_is_attributed_like_old_rows(services, tmp_path):
    two_boxes(services.store)
    out = tmp_path / "all.jsonl"
    exports.export(services.store, "jsonl", out)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    answers = [r for r in records if r.get("type") == "response"]
    assert {(a["model_ref"], a["connection"]) for a in answers} == {("gpt-4o-mini@openai", "openai"),
                                                                    ("gpt-4o-mini@my-box", "my-box")}
    # The same file as the version before connections wrote it: no connection, bare model refs.
    for a in answers:
        a.pop("connection"), a.pop("reported_model")
        a["model_ref"] = a["model_ref"].split("@")[0]
    old = tmp_path / "old.jsonl"
    old.write_text("".join(json.dumps(r) + "\n" for r in records))
    fresh = Store(tmp_path / "fresh.db")
    exports.import_jsonl(fresh, old)
    assert sorted(fresh.query("SELECT DISTINCT model_ref, connection FROM responses")) == [
        ("gpt-4o-mini@openai", "openai")]
    fresh.close()


def test_no_key_of_any_connection_is_written_to_the_settings_file(services):
    for i, preset_id in enumerate(("openrouter", "vllm", "anthropic")):
        conn = cx.new_connection(services.settings, preset_id)
        services.settings.connections.append(conn)
        services.secrets.set(secrets.connection_key_name(conn.id), f"sentinel-settings-key-{i}-42424242")
    services.save_settings()
    text = services.folders.settings_file.read_text()
    assert "sentinel-settings-key" not in text and "openrouter" in text
