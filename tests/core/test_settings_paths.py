import json

from desktop.core import settings as settings_io
from desktop.core.paths import folders


def test_home_override_puts_every_folder_under_it(arenadesk_home):
    f = folders().ensure()
    for p in f.all():
        assert p.is_dir()
        assert arenadesk_home in p.parents
    assert f.database.parent == f.data


def test_platform_folders_without_override(monkeypatch):
    monkeypatch.delenv("ARENADESK_HOME")
    f = folders()
    assert "ArenaDesk" in str(f.data) and "ArenaDesk" in str(f.config)


def test_round_trip_and_atomic_save(tmp_path):
    path = tmp_path / "settings.json"
    s = settings_io.Settings()
    s.sampling.temperature = 0.2
    s.runtime.gpu_layers = -1
    s.connections[0].base_url = "http://127.0.0.1:9/v1"
    s.connections[0].headers = {"X-Title": "ArenaDesk"}
    settings_io.save(s, path)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    loaded = settings_io.load(path)
    assert loaded.warning is None
    assert loaded.settings == s


def test_corrupt_file_gives_defaults_and_a_warning(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    loaded = settings_io.load(path)
    assert loaded.settings == settings_io.Settings()
    assert "could not be read" in loaded.warning
    assert (tmp_path / "settings.json.bad").read_text() == "{not json"


def test_newer_version_is_not_trusted(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"version": settings_io.SCHEMA_VERSION + 1, "blind": True}))
    loaded = settings_io.load(path)
    assert loaded.settings.blind is False
    assert "newer" in loaded.warning


def test_wrong_types_and_unknown_keys_keep_defaults(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"version": 1, "blind": "yes", "sampling": {"temperature": "hot", "top_k": 7}, "zzz": 1}))
    loaded = settings_io.load(path)
    assert loaded.warning is None
    assert loaded.settings.blind is False
    assert loaded.settings.sampling.temperature == 0.7
    assert loaded.settings.sampling.top_k == 7
