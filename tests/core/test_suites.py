"""Prompt suites: JSONL and MT-bench files, hostile input, editing, the starter suite."""
from __future__ import annotations

import json

import pytest

from desktop.core import suites
from desktop.core.suites import SuiteError, SuiteItem, SuiteLibrary


def test_the_starter_suite_covers_the_categories_and_two_multi_turn_prompts():
    s = suites.starter()
    assert 18 <= len(s.items) <= 24
    assert {"writing", "reasoning", "math", "coding", "extraction", "roleplay"} <= set(s.categories)
    assert sum(len(i.turns) > 1 for i in s.items) == 2
    assert all(len(i.reference) in (0, len(i.turns)) for i in s.items)
    assert s.item("math-1").reference == ["391"]


def test_fastchat_mt_bench_question_file_is_read_unchanged(tmp_path):
    # The shape of FastChat's fastchat/llm_judge/data/mt_bench/question.jsonl
    lines = [
        {"question_id": 81, "category": "writing",
         "turns": ["Compose an engaging travel blog post about a recent trip to Hawaii.",
                   "Rewrite your previous response. Start every sentence with the letter A."]},
        {"question_id": 111, "category": "math",
         "turns": ["The vertices of a triangle are at points (0, 0), (-1, 1), and (3, 3). What is the area?",
                   "What's area of the circle circumscribing the triangle?"],
         "reference": ["Area is 3", "5pi"]},
    ]
    path = tmp_path / "question.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    s = suites.read(path)
    assert s.name == "question"
    assert [i.id for i in s.items] == ["81", "111"]
    assert s.items[1].reference == ["Area is 3", "5pi"] and s.items[0].reference == []
    assert s.n_answers == 4
    # exported in ArenaDesk's shape, read back the same
    out = tmp_path / "out.jsonl"
    suites.write(s, out)
    again = suites.read(out)
    assert [i.to_dict() for i in again.items] == [i.to_dict() for i in s.items]


@pytest.mark.parametrize("content, message", [
    ("{not json\n", "line 1: not valid JSON"),
    ('{"id": "a", "turns": []}\n', "line 1: \"turns\" must be a list"),
    ('{"id": "a", "turns": [1, 2]}\n', "\"turns\" must be a list"),
    ('{"turns": ["hi"]}\n', "needs an \"id\""),
    ('{"id": true, "turns": ["hi"]}\n', "needs an \"id\""),
    ('{"id": "a", "turns": ["hi"]}\n{"id": "a", "turns": ["ho"]}\n', "line 2: the id 'a' is used twice"),
    ('{"id": "a", "turns": ["  "]}\n', "a turn is empty"),
    ('{"id": "a", "turns": ["hi"], "reference": ["x", "y"]}\n', "2 reference answers for 1 turns"),
    ('{"id": "a", "turns": ["hi"], "category": 5}\n', "\"category\" must be a string"),
    ('[1, 2]\n', "expected a JSON object"),
    ("\n\n", "no prompts in it"),
])
def test_hostile_files_say_which_line_is_wrong(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(SuiteError) as err:
        suites.read(path)
    assert message in str(err.value)
    assert "bad.jsonl" in str(err.value)


def test_not_utf8_is_refused_with_advice(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes('{"id": "a", "turns": ["café"]}\n'.encode("latin-1"))
    with pytest.raises(SuiteError, match="not UTF-8"):
        suites.read(path)


def test_a_single_prompt_string_and_a_string_reference_are_accepted():
    s = suites.parse('{"id": 1, "prompt": "Say hi", "reference": "hi"}\n{"id": 2, "turns": ["a", "b"], "reference": "z"}')
    assert s.items[0].turns == ["Say hi"] and s.items[0].reference == ["hi"]
    assert s.items[0].category == suites.DEFAULT_CATEGORY
    assert s.items[1].reference == ["", "z"]  # a single reference belongs to the last turn


def test_library_create_edit_import_export_and_names(tmp_path):
    lib = SuiteLibrary(tmp_path / "suites")
    assert lib.names() == ["starter"]
    mine = lib.create("my prompts")
    mine.put(SuiteItem("q1", "coding", ["Write hello world in C."]))
    mine.put(SuiteItem("q2", "math", ["2+2?"], ["4"]))
    mine.put(SuiteItem("q1", "coding", ["Write hello world in Rust."]))  # replaces q1
    lib.save(mine)
    assert lib.names() == ["starter", "my prompts"]
    loaded = lib.load("my prompts")
    assert [i.id for i in loaded.items] == ["q1", "q2"]
    assert loaded.item("q1").turns == ["Write hello world in Rust."]
    loaded.remove("q2")
    lib.save(loaded)
    assert [i.id for i in lib.load("my prompts").items] == ["q1"]
    with pytest.raises(SuiteError, match="exists already"):
        lib.create("my prompts")
    with pytest.raises(SuiteError, match="empty"):
        mine.put(SuiteItem("q3", "x", [""]))

    out = tmp_path / "export.jsonl"
    assert lib.export("starter", out) == len(suites.starter().items)
    imported = lib.import_file(out, "copy")
    assert lib.load("copy").n_answers == suites.starter().n_answers == imported.n_answers
    with pytest.raises(SuiteError, match="exists already"):
        lib.import_file(out, "copy")
    with pytest.raises(SuiteError, match="not a usable suite name"):
        lib.import_file(out, "../escape")
    with pytest.raises(SuiteError, match="no suite named 'nope'; known suites: starter"):
        lib.load("nope")


def test_lone_surrogates_and_control_text_in_a_file_are_made_storable(tmp_path):
    path = tmp_path / "odd.jsonl"
    path.write_text('{"id": "x\\ud800", "category": "c\\udfff", "turns": ["Say \\ud83d hi"], "reference": "\\udc00"}\n')
    s = suites.read(path)
    item = s.items[0]
    item.turns[0].encode("utf-8")  # no lone surrogate is left
    item.id.encode("utf-8")
    item.category.encode("utf-8")
    item.reference[0].encode("utf-8")
    out = tmp_path / "out.jsonl"
    suites.write(s, out)
    assert suites.read(out).items[0].turns == item.turns
