"""The one rule for how a model's name is shown (desktop/core/names.py)."""
from desktop.core.engines.registry import ModelChoice
from desktop.core.names import model_file_name, shorten, shorter_forms
from desktop.core.ratings import display_names


def test_a_local_model_is_named_by_its_file_without_the_extension():
    assert model_file_name("SmolLM2-135M-Instruct.Q4_1.gguf") == "SmolLM2-135M-Instruct.Q4_1"
    assert model_file_name("x.GGUF") == "x" and model_file_name(".gguf") == ".gguf"
    assert ModelChoice("local", "/m/SmolLM2-135M-Instruct.Q4_1.gguf").label == "SmolLM2-135M-Instruct.Q4_1"
    assert ModelChoice("local", "default").label == "Gemma 3 270M (built in)"
    assert ModelChoice("openai", "gpt-4o-mini").label == "gpt-4o-mini"
    # Rows recorded before the rule read the same as new ones (the latest name wins).
    assert model_file_name("gemma.gguf") == "gemma"
    assert display_names([("sha256:1", "SmolLM2.Q4_1.gguf")]) == {"sha256:1": "SmolLM2.Q4_1"}


def test_shorter_forms_keep_family_and_size_then_the_quantisation():
    assert shorter_forms("SmolLM2-135M-Instruct.Q4_1") == [
        "SmolLM2-135M…Q4_1", "SmolLM2-135M-Instruct…", "SmolLM2-135M…", "SmolLM2…Q4_1", "SmolLM2…"]
    assert shorter_forms("Gemma 3 270M (built in)")[:2] == ["Gemma 3 270M (built…", "Gemma 3 270M…"]
    # A version number is never cut in two ("3.1" is not "3").
    assert all("3…" not in f for f in shorter_forms("Meta-Llama-3.1-8B-Instruct-Q4_K_M"))
    assert shorter_forms("gpt-4o-mini") == ["gpt-4o…", "gpt…"]
    assert shorter_forms("x") == []


def test_shorten_takes_the_best_form_that_fits():
    fits = lambda n: (lambda t: len(t) <= n)  # noqa: E731
    assert shorten("gpt-4o-mini", fits(20)) == "gpt-4o-mini"
    assert shorten("SmolLM2-135M-Instruct.Q4_1", fits(17)) == "SmolLM2-135M…Q4_1"
    assert shorten("SmolLM2-135M-Instruct.Q4_1", fits(14)) == "SmolLM2-135M…"
    assert shorten("SmolLM2-135M-Instruct.Q4_1", fits(3)) is None


def test_entries_sharing_a_name_get_the_hint_that_tells_them_apart():
    from desktop.core.names import distinct_names

    # The s20 review's two "SmolLM2-135M-Instruct.Q4_1" rows: one quant, two origins.
    assert distinct_names([("Smol", ["Q4_1", "imported in place"]), ("Smol", ["Q4_1", "from …/split"]),
                           ("gemma", ["Q4_K_M", "built in"])]) == [
        "Smol · imported in place", "Smol · from …/split", "gemma"]
    # Quantisations differ: that is the hint, for both.
    assert distinct_names([("m", ["Q4_K_M", "x"]), ("m", ["Q8_0", "x"])]) == ["m · Q4_K_M", "m · Q8_0"]
    # No one kind of hint tells three apart: all their hints together do (s22 review F8).
    assert distinct_names([("X", ["Q4_K_M", "imported in place"]), ("X", ["Q4_K_M", "from LM Studio"]),
                           ("X", ["Q8_0", "from LM Studio"])]) == [
        "X · Q4_K_M · imported in place", "X · Q4_K_M · from LM Studio", "X · Q8_0 · from LM Studio"]
    # Nothing tells them apart (two folders both called models): numbered, never two alike.
    assert distinct_names([("m", ["Q4_0", "from …/models"]), ("m", ["Q4_0", "from …/models"])]) == [
        "m · Q4_0 · from …/models (1)", "m · Q4_0 · from …/models (2)"]
    assert distinct_names([("m", []), ("m", [])]) == ["m (1)", "m (2)"]


def test_names_shown_together_never_read_the_same_however_little_room_they_have():
    # A chart axis drops a repeated category, which moves every later name under the wrong
    # model's box (s22 review F1): distinct names must stay distinct at every width.
    from desktop.core.names import short_names, shorten

    fits = lambda n: (lambda t: len(t) <= n)  # noqa: E731
    families = [
        ["gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano"],
        ["Llama-3.1-8B-Instruct-Q4_K_M", "Llama-3.1-8B-Instruct-Q8_0", "Llama-3.1-8B-Base-Q4_K_M"],
        ["Qwen2.5-7B-Base-Q4_K_M", "Qwen2.5-7B-Instruct-1M-Q4_K_M", "Qwen2.5-7B-Instruct-Q4_K_M",
         "Qwen2.5-7B-Instruct-Q6_K", "gpt-4o"],
        ["SmolLM2-135M-Instruct.Q4_1", "SmolLM2-135M-Instruct.Q8_0", "Gemma 3 270M (built in)"],
    ]
    for names in families:
        for width in range(3, 40):
            shown = short_names(names, fits(width))
            assert len(set(shown)) == len(names), (width, shown)
    # Names that do not clash keep their own best short form.
    assert short_names(["Llama-3.1-8B-Instruct-Q4_K_M", "gpt-4o"], fits(16)) == [
        shorten("Llama-3.1-8B-Instruct-Q4_K_M", fits(16)), "gpt-4o"]
