"""Review findings in the command line's error paths: a clear message on stderr, exit code 2
for bad input (1 when the work itself failed), no traceback, and no junk round recorded."""
import pytest

from desktop.cli import run
from desktop.core import secrets
from desktop.core.store import Store


def rounds(services):
    return Store(services.folders.database).query("SELECT COUNT(*) FROM rounds")[0][0]


def test_ask_with_a_file_that_is_not_a_gguf_model(capsys, services, tmp_path):
    services.close()
    notes = tmp_path / "notes.txt"
    notes.write_text("not a model at all")
    assert run(["ask", "hi", "--local", str(notes)]) == 2
    err = capsys.readouterr().err
    assert "notes.txt is not a GGUF model file" in err and "Traceback" not in err
    assert rounds(services) == 0


def test_ask_with_a_missing_model_file(capsys, services, tmp_path):
    services.close()
    assert run(["ask", "hi", "--local", str(tmp_path / "gone.gguf")]) == 2
    assert "not found" in capsys.readouterr().err
    assert rounds(services) == 0


@pytest.mark.parametrize("url", ["localhost:8080", "ftp://example.com/v1", "http://"])
def test_ask_with_a_bad_base_url(capsys, services, url):
    services.close()
    services.secrets.set(secrets.OPENAI, "sk-test-cli-key-0000")
    assert run(["ask", "hi", "--remote", "gpt-4o-mini", "--base-url", url]) == 2
    err = capsys.readouterr().err
    assert "base URL" in err and url in err
    assert rounds(services) == 0


def test_ask_with_an_empty_prompt(capsys, services):
    services.close()
    assert run(["ask", "   "]) == 2
    assert "empty" in capsys.readouterr().err
    assert Store(services.folders.database).query("SELECT COUNT(*) FROM conversations")[0][0] == 0


def test_vote_on_an_unknown_round(capsys, services):
    services.close()
    assert run(["vote", "999", "left"]) == 2
    err = capsys.readouterr().err
    assert "no round 999" in err.lower() or "round 999" in err


def test_export_with_a_bad_date(capsys, services, tmp_path):
    services.close()
    with pytest.raises(SystemExit) as exc:
        run(["export", "--format", "csv", "--out", str(tmp_path / "x.csv"), "--since", "2024-13-45"])
    assert exc.value.code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_import_of_a_missing_file(capsys, services, tmp_path):
    services.close()
    assert run(["import", str(tmp_path / "nope.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "nope.jsonl" in err and "Traceback" not in err


def test_a_damaged_database_is_a_clear_message(capsys, services):
    services.close()
    db = services.folders.database
    for extra in (db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        extra.unlink(missing_ok=True)
    db.write_bytes(b"this is not sqlite" * 100)
    assert run(["leaderboard"]) == 2
    err = capsys.readouterr().err
    assert str(db) in err and "not" in err
