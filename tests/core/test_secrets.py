import keyring
import keyring.backends.fail
import pytest

from desktop.core import secrets as s


def test_key_goes_to_the_keychain_only(memory_keyring):
    store = s.Secrets()
    assert store.get(s.OPENAI).source is s.Source.NONE
    assert store.set(s.OPENAI, " sk-test-123456789 ") is s.Source.KEYCHAIN
    got = store.get(s.OPENAI)
    assert got.value == "sk-test-123456789" and got.source is s.Source.KEYCHAIN
    assert "sk-test" not in repr(got)
    store.delete(s.OPENAI)
    assert store.get(s.OPENAI).value is None


def test_no_backend_says_so_and_offers_session_or_environment(monkeypatch):
    keyring.set_keyring(keyring.backends.fail.Keyring())
    store = s.Secrets()
    assert not store.keychain_available()
    with pytest.raises(s.NoKeychain, match="session only"):
        store.set(s.OPENAI, "sk-abcdefghijkl")
    assert store.set(s.OPENAI, "sk-abcdefghijkl", session_only=True) is s.Source.SESSION
    assert store.get(s.OPENAI).source is s.Source.SESSION
    fresh = s.Secrets()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-0000")
    got = fresh.get(s.OPENAI)
    assert got.value == "sk-from-env-0000" and got.source is s.Source.ENVIRONMENT


def test_redact():
    assert s.redact("bad key sk-abcdefghijklmnop here") == "bad key sk-[redacted] here"
    assert s.redact("token hf_abcdefgh12", "hf_abcdefgh12") == "token [redacted]"
    assert s.redact("check it", "k") == "check it"  # a one-letter placeholder key is no secret


def test_a_redaction_removes_what_redact_removes_in_both_strengths():
    """An export's Redaction and the engines' redact() remove the same forms of a secret (whole,
    percent-decoded, without its sk-proj- prefix, a URL's short password); the error strength also
    drops any URL's user:password@, the text strength keeps one an answer wrote as content."""
    key, password = "sk-proj-abc%2Fdefghijk", "pw12"
    known = s.Redaction(secrets=("x", key), passwords=(password,))
    raw = (f"echo {key} / {key.replace('%2F', '/')} / abc%2Fdefghijk / pass {password} / "
           "sk-somethingelse99 / postgres://user:secretpass@db/x")
    by_redact = s.redact(raw, "x", key, passwords=[password])
    assert known.error(raw) == by_redact == (
        "echo [redacted] / [redacted] / [redacted] / pass [redacted] / sk-[redacted] / postgres://db/x")
    assert known.text(raw).endswith("sk-[redacted] / postgres://user:secretpass@db/x")
    assert known.text("x marks the spot") == "x marks the spot"  # a placeholder key is no secret


def test_a_plaintext_file_backend_is_not_a_keychain(tmp_path):
    """keyrings.alt's file backends would put the key in a file: treat them as no keychain."""
    import keyring.backend

    class PlaintextKeyring(keyring.backend.KeyringBackend):  # stands in for keyrings.alt.file.PlaintextKeyring
        priority = 0.5

        def get_password(self, service, username):
            return None

        def set_password(self, service, username, password):
            raise AssertionError("a key must never be written to a file")

        def delete_password(self, service, username):
            pass

    PlaintextKeyring.__module__ = "keyrings.alt.file"
    keyring.set_keyring(PlaintextKeyring())
    store = s.Secrets()
    assert not store.keychain_available()
    with pytest.raises(s.NoKeychain):
        store.set(s.OPENAI, "sk-abcdefghijkl")


def test_a_redactions_markers_find_every_record_it_would_change():
    """touches() looks for the fewest markers: a form holding another is not looked for on its
    own (an sk- key holds "sk-"), and a record holding any secret form is still found."""
    from desktop.core.secrets import Redaction

    r = Redaction(secrets=("sk-proj-abcdefghijkl", "hf_TOKENVALUE123"), passwords=("p\u00e4ss\"w",))
    assert "sk-" in r.markers and not any(m.startswith("sk-proj") for m in r.markers)
    for form in ("sk-proj-abcdefghijkl", "abcdefghijkl", "hf_TOKENVALUE123", "TOKENVALUE123", "p\u00e4ss\"w",
                 'p\u00e4ss\\"w', "https://u:x@h"):
        assert r.touches(f'{{"text":"before {form} after"}}')
        if "\\" not in form and "://" not in form:  # (the JSON-escaped one is how a record holds it)
            assert "[redacted]" in r.text(f"x {form} y")
    assert not r.touches('{"text":"nothing to see"}')
