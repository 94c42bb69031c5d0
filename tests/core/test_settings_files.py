"""Review findings in settings and keys."""
import json

from desktop.core import secrets, settings


def test_a_hand_written_file_without_a_version_is_read_not_thrown_away(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"openai_base_url": "http://127.0.0.1:8080/v1", "runtime": {"threads": 3}}))
    loaded = settings.load(path)
    assert loaded.warning is None
    conn = loaded.settings.connection("openai")
    assert conn.base_url == "http://127.0.0.1:8080/v1" and loaded.settings.runtime.threads == 3
    assert path.exists()


def test_a_version_that_is_not_a_number_is_not_called_newer(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"version": "two"}))
    loaded = settings.load(path)
    assert "newer" not in loaded.warning and "'two'" in loaded.warning


def test_a_key_from_the_environment_loses_a_trailing_newline(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-123456\n")
    assert secrets.Secrets().get(secrets.OPENAI).value == "sk-from-env-123456"
