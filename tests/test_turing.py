"""`ganforge turing`: the real-versus-colorized page, played in a real browser, and the scoring of its answers."""

from __future__ import annotations

import html
import json
import os
import re

import pytest

from ganforge.cli import main
from ganforge.core.errors import UsageError
from ganforge.evaluation.browser import find_browser, rendered_dom
from ganforge.evaluation.turing import KEY_FILE, PAGE_FILE, score_answers, wilson_interval, write_test

from .helpers import checkpoint
from .test_predictions import copies, originals

needs_browser = pytest.mark.skipif(
    find_browser() is None and not os.environ.get("GANFORGE_REQUIRE_BROWSER"),
    reason="no Chromium here (CI installs it and sets GANFORGE_REQUIRE_BROWSER=1)",
)

# Appended to a copy of the page: press Start, then answer every pair with the given side, through the
# page's own buttons, as fast as virtual time allows.
PLAYER = """<script>
document.getElementById("start").click();
(function answer() {
  if (!document.getElementById("done").classList.contains("hidden")) return;
  document.getElementById("%s").click();
  setTimeout(answer, 20);
})();
</script></body>"""


@pytest.fixture
def test_page(tmp_path):
    """A page for a checkpoint and a folder that holds the originals themselves (a perfect 'colorizer')."""
    source = originals(tmp_path / "photos", layout=("a", "b", "c", "d"), size=(40, 40))
    model = checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3}, name="mine")
    perfect = copies(source, tmp_path / "perfect")
    out = tmp_path / "turing"
    write_test([str(model), str(perfect)], f"imagefolder:{source}", out, size=32, seconds=0.5, seed=3)
    return out


def page_data(out):
    text = (out / PAGE_FILE).read_text()
    return json.loads(
        re.search(r'<script id="turing-data" type="application/json">(.*?)</script>', text, re.S).group(1)
    )


def test_the_page_holds_every_pair_once_and_the_key_says_which_side_is_real(test_page):
    key = json.loads((test_page / KEY_FILE).read_text())
    page = page_data(test_page)
    assert key["models"] == ["mine", "perfect"] and len(key["trials"]) == 8 and page["page_id"] == key["page_id"]
    assert sorted((t["model"], t["image"].rsplit("/", 1)[1]) for t in key["trials"]) == [
        (m, f"{n}.jpg") for m in ("mine", "perfect") for n in "abcd"
    ]
    assert [t["real_side"] for t in page["trials"]] == [t["real_side"] for t in key["trials"]]
    assert {t["real_side"] for t in key["trials"]} == {"left", "right"}
    assert len(page["images"]) == 4 + 8 and all(
        uri.startswith("data:image/jpeg;base64,") for uri in page["images"].values()
    )
    assert page["seconds"] == 0.5


def test_the_page_is_the_same_for_the_same_seed_and_shuffled_by_another(tmp_path, test_page):
    source = tmp_path / "photos"
    again, other = tmp_path / "again", tmp_path / "other"
    for out, seed in ((again, 3), (other, 4)):
        write_test(
            [str(tmp_path / "mine.safetensors"), str(tmp_path / "perfect")],
            f"imagefolder:{source}",
            out,
            size=32,
            seconds=0.5,
            seed=seed,
        )
    first = json.loads((test_page / KEY_FILE).read_text())
    assert json.loads((again / KEY_FILE).read_text()) == first
    assert json.loads((other / KEY_FILE).read_text())["trials"] != first["trials"]


def play(out, side, tmp_path):
    """Answer every pair with ``side`` in headless Chromium; the answers JSON the page offers for download."""
    played = tmp_path / "played.html"
    played.write_text((out / PAGE_FILE).read_text().replace("</body>", PLAYER % side))
    dom = rendered_dom(played)
    return html.unescape(re.search(r'<pre id="answers-json">(.*?)</pre>', dom, re.S).group(1))


@needs_browser
def test_a_scripted_session_in_chromium_produces_answers_that_score_as_expected(test_page, tmp_path):
    key = json.loads((test_page / KEY_FILE).read_text())
    answers = tmp_path / "answers.json"
    answers.write_text(play(test_page, "left", tmp_path))
    recorded = json.loads(answers.read_text())
    assert recorded["page_id"] == key["page_id"]
    assert [a["trial"] for a in recorded["answers"]] == list(range(8)) and {
        a["chosen"] for a in recorded["answers"]
    } == {"left"}
    scores = score_answers(test_page, [answers])
    for model in ("mine", "perfect"):  # always "left": fooled exactly where the real photo was on the right
        expected = sum(t["model"] == model and t["real_side"] == "right" for t in key["trials"])
        assert scores[model]["fooled"] == expected and scores[model]["judgements"] == 4
    assert json.loads((test_page / "scores.json").read_text())["scores"] == scores


def test_answers_of_several_participants_add_up_with_a_wilson_interval(test_page, tmp_path, capsys):
    key = json.loads((test_page / KEY_FILE).read_text())
    files = []
    for name, pick in (
        ("fooled.json", lambda t: "left" if t["real_side"] == "right" else "right"),
        ("right.json", lambda t: t["real_side"]),
    ):
        answers = [{"trial": i, "chosen": pick(t), "ms": 700} for i, t in enumerate(key["trials"])]
        (tmp_path / name).write_text(json.dumps({"page_id": key["page_id"], "answers": answers}))
        files.append(str(tmp_path / name))
    assert main(["turing", "--score", *files, "-o", str(test_page)]) == 0
    printed = capsys.readouterr().out
    assert "| mine | 8 | 4 | 50% (22%-78%) |" in printed
    scores = json.loads((test_page / "scores.json").read_text())
    assert scores["participants"] == 2 and scores["scores"]["perfect"]["fooling_rate"] == 0.5


def test_the_same_answers_given_twice_count_once(test_page, tmp_path, capsys):
    key = json.loads((test_page / KEY_FILE).read_text())
    answers = [{"trial": i, "chosen": t["real_side"], "ms": 700} for i, t in enumerate(key["trials"])]
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"page_id": key["page_id"], "answers": answers}))
    (tmp_path / "copy.json").write_bytes(one.read_bytes())
    assert main(["turing", "--score", str(one), str(one), str(tmp_path / "copy.json"), "-o", str(test_page)]) == 0
    scores = json.loads((test_page / "scores.json").read_text())
    assert scores["participants"] == 1 and scores["scores"]["mine"]["judgements"] == 4


def test_a_damaged_key_is_one_line(test_page, tmp_path):
    (test_page / KEY_FILE).write_text('{"page_id": "x", "models": ["a"], "trials": [{"model": "b"}]}')
    with pytest.raises(UsageError, match="is not a test key 'ganforge turing' wrote"):
        score_answers(test_page, [tmp_path / "none.json"])


def test_wilson_interval_matches_published_values():
    # Newcombe (1998), Statistics in Medicine 17: 857-872, table I: 81/263 and 15/148 (method 3, Wilson)
    assert wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    assert wilson_interval(15, 148) == pytest.approx((0.0624, 0.1605), abs=5e-5)
    assert wilson_interval(0, 20) == pytest.approx((0.0, 0.1611), abs=5e-5)


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", r"answers file '.*bad.json' is not JSON"),
        ('{"page_id": "elsewhere", "answers": []}', r"was made on another test page"),
        ('{"page_id": "ID", "answers": [{"trial": 99, "chosen": "left"}]}', r"holds a malformed answer"),
        ('{"page_id": "ID", "answers": [{"trial": 0, "chosen": "up"}]}', r"holds a malformed answer"),
        ('{"page_id": "ID", "answers": []}', r"the answers files hold no answers"),
        ("[1, 2]", r"has no list of answers"),
        (
            '{"page_id": "ID", "answers": [{"trial": 1, "chosen": "left"}, {"trial": 1, "chosen": "left"}]}',
            r"answers trial 1 more than once",
        ),
        ('{"page_id": "ID", "answers": [{"trial": true, "chosen": "left"}]}', r"holds a malformed answer"),
        ("[" * 100_000 + "]" * 100_000, r"is nested too deeply"),
    ],
    ids=[
        "not-json",
        "other-page",
        "unknown-trial",
        "unknown-side",
        "empty",
        "wrong-shape",
        "repeated-trial",
        "boolean-trial",
        "nested",
    ],
)
def test_bad_answers_files_get_one_line_errors(test_page, tmp_path, content, message):
    key = json.loads((test_page / KEY_FILE).read_text())
    bad = tmp_path / "bad.json"
    bad.write_text(content.replace("ID", key["page_id"]))
    with pytest.raises(UsageError, match=message):
        score_answers(test_page, [bad])


def test_turing_usage_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    source = originals(tmp_path / "photos", layout=("a",), size=(40, 40))
    cases = [
        (["turing", "default"], "the test needs --data SOURCE"),
        (["turing", "default", "--score", "a.json"], "--score reads answers files: give it without models or --data"),
        (
            ["turing", "--score", "a.json", "-o", str(tmp_path / "nowhere")],
            "key.json' does not exist; -o must be the folder",
        ),
        (["turing", "--data", f"imagefolder:{source}", "-o", str(tmp_path / "t")], "name at least one checkpoint"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        assert message in capsys.readouterr().err
