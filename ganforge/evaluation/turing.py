"""``ganforge turing``: people judge which of two photos is real, as in Zhang et al. 2016's perceptual test.

Metrics cannot say whether a colorization *looks* real; people can. The test
page shows pairs (the real color photo and one colorization of it, sides drawn
at random) for a few seconds each and asks which one is real. A model's
*fooling rate* is the share of pairs where the colorization was picked: 50 %
means people could not tell them apart (Zhang et al. report 32 % for theirs).

``ganforge turing MODELS... --data SOURCE -o DIR`` writes ``DIR/turing.html``
(self-contained: one file to send to participants, nothing leaves their machine
until they send the answers back) and ``DIR/key.json`` (which side was real).
Each participant downloads a JSON file of answers from the page;
``ganforge turing --score ANSWERS... -o DIR`` turns any number of them into a
fooling rate per model with a 95 % confidence interval (Wilson score interval).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ganforge.core.atomic import check_new_output, write_text
from ganforge.core.errors import UsageError, read_user_json
from ganforge.core.images import to_pil
from ganforge.data.crops import EvalImages, load_eval_images
from ganforge.evaluation.compare import contender_labels
from ganforge.evaluation.evaluate import colorize_all
from ganforge.evaluation.predictions import listing, load_predictions
from ganforge.inference.colorizer import load

PAGE_TEMPLATE = Path(__file__).with_name("turing_page.html")
KEY_FILE, PAGE_FILE, SCORES_FILE = "key.json", "turing.html", "scores.json"
SIDES = ("left", "right")
JPEG_QUALITY = 92


@dataclass
class Colorizations:
    """One model's (or folder's) colorizations of the originals it covers, by original index."""

    label: str
    indices: list[int]
    rgb: torch.Tensor


def colorizations(inputs: list[str], images: EvalImages, batch_size: int = 16) -> list[Colorizations]:
    """Colorize ``images`` with each checkpoint, or read each folder of another tool's colorizations."""
    result = []
    for label, item in zip(contender_labels([Path(i) for i in inputs]), inputs):
        if Path(item).is_dir():
            predicted = load_predictions(item, images)
            result.append(Colorizations(label, predicted.indices, predicted.rgb))
            continue
        colorizer = load(item)
        gray = images.gray(colorizer.gray_conversion)
        prediction, _ = colorize_all(colorizer, gray, batch_size, 0, f"colorizing with {label}")
        result.append(Colorizations(label, list(range(len(images))), prediction))
    return result


def data_uri(picture: torch.Tensor) -> str:
    """A picture ``(3, H, W)`` as an inline JPEG, so the page is one file."""
    buffer = io.BytesIO()
    to_pil(picture).save(buffer, "JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def build_test(
    models: list[Colorizations], images: EvalImages, *, seconds: float, seed: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The page's data (pictures and trials) and the key (which side was real), in one shuffled order."""
    rng = random.Random(seed)
    trials = [(model, position, index) for model in models for position, index in enumerate(model.indices)]
    rng.shuffle(trials)
    pictures: dict[str, str] = {}
    page_trials, key_trials = [], []
    for model, position, index in trials:
        real, fake = f"real/{index}", f"{model.label}/{index}"
        pictures.setdefault(real, data_uri(images.truth[index]))  # type: ignore[index]
        pictures[fake] = data_uri(model.rgb[position])
        side = rng.choice(SIDES)
        page_trials.append({"real": real, "fake": fake, "real_side": side})
        key_trials.append({"model": model.label, "image": images.names[index], "real_side": side})
    key = {
        "data": images.source,
        "size": images.size,
        "seconds": seconds,
        "seed": seed,
        "models": [m.label for m in models],
        "trials": key_trials,
    }
    key["page_id"] = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    page = {"page_id": key["page_id"], "seconds": seconds, "images": pictures, "trials": page_trials}
    return page, key


def write_test(
    inputs: list[str],
    data: str,
    out_dir: Path,
    *,
    size: int = 256,
    count: int | None = 40,
    seconds: float = 1.0,
    seed: int = 0,
    upscale: bool = False,
    overwrite: bool = False,
) -> Path:
    """What ``ganforge turing MODELS... --data SOURCE -o DIR`` does; returns the page's path.

    An earlier test's key is kept unless ``overwrite``: the answers it collected could not be scored without it.
    """
    if not inputs:
        raise UsageError(
            "name at least one checkpoint ('default', a .safetensors file, a Hub id) or folder of colorizations"
        )
    check_new_output(out_dir / KEY_FILE, overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = load_eval_images(data, size=size, count=count, upscale=upscale)
    if images.truth is None:
        raise UsageError(
            f"'{data}' holds no color photos; the test needs the real color photo beside each colorization"
        )
    page, key = build_test(colorizations(inputs, images), images, seconds=seconds, seed=seed)
    html = PAGE_TEMPLATE.read_text(encoding="utf-8").replace(
        "__TURING_DATA__", json.dumps(page).replace("<", "\\u003c")
    )
    write_text(out_dir / KEY_FILE, json.dumps(key, indent=1) + "\n")
    write_text(out_dir / PAGE_FILE, html)
    return out_dir / PAGE_FILE


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion: sensible at small counts and near 0 or 1, unlike p ± z·se."""
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


def read_answers(path: Path, key: dict[str, Any]) -> list[dict[str, Any]]:
    """One participant's answers, checked against the key: made on this page, every trial known, one side each."""
    answers = read_user_json(path, "answers file", "pass the file the test page downloaded")
    if not isinstance(answers, dict) or not isinstance(answers.get("answers"), list):
        raise UsageError(f"answers file '{path}' has no list of answers; pass the file the test page downloaded")
    if answers.get("page_id") != key["page_id"]:
        raise UsageError(
            f"answers file '{path}' was made on another test page than the one whose key is here; score it with that page's folder"
        )
    seen: set[int] = set()
    for answer in answers["answers"]:
        trial, chosen = (
            answer.get("trial") if isinstance(answer, dict) else None,
            answer.get("chosen") if isinstance(answer, dict) else None,
        )
        is_index = isinstance(trial, int) and not isinstance(trial, bool)  # JSON true is no trial number
        if not (is_index and 0 <= trial < len(key["trials"]) and chosen in SIDES):
            raise UsageError(
                f"answers file '{path}' holds a malformed answer {str(answer)[:80]}; pass the file the test page downloaded"
            )
        if trial in seen:
            raise UsageError(
                f"answers file '{path}' answers trial {trial} more than once; the test page records one answer per trial"
            )
        seen.add(trial)
    return answers["answers"]


def score_answers(out_dir: Path, answer_files: list[Path]) -> dict[str, dict[str, Any]]:
    """Fooling rate per model over every participant's answers; also written to ``DIR/scores.json``."""
    key_path = out_dir / KEY_FILE
    if not key_path.is_file():
        raise UsageError(
            f"'{key_path}' does not exist; -o must be the folder 'ganforge turing' wrote the test page into"
        )
    key = read_user_json(key_path, "test key", "-o must be the folder 'ganforge turing' wrote the test page into")
    if not _is_key(key):
        raise UsageError(
            f"'{key_path}' is not a test key 'ganforge turing' wrote; -o must be the folder it wrote the test page into"
        )
    counts = {model: [0, 0] for model in key["models"]}  # fooled, judged
    answer_files = _distinct_files(answer_files)
    for path in answer_files:
        for answer in read_answers(path, key):
            trial = key["trials"][answer["trial"]]
            counts[trial["model"]][0] += answer["chosen"] != trial["real_side"]
            counts[trial["model"]][1] += 1
    if not any(judged for _, judged in counts.values()):
        raise UsageError(f"the answers files hold no answers ({listing([str(p) for p in answer_files])})")
    scores: dict[str, dict[str, Any]] = {}
    for model, (fooled, judged) in counts.items():
        low, high = wilson_interval(fooled, judged) if judged else (None, None)
        rate = fooled / judged if judged else None
        scores[model] = {
            "judgements": judged,
            "fooled": fooled,
            "fooling_rate": rate,
            "ci95_low": low,
            "ci95_high": high,
        }
    summary = {"page_id": key["page_id"], "participants": len(answer_files), "scores": scores}
    write_text(out_dir / SCORES_FILE, json.dumps(summary, indent=2) + "\n")
    return scores


def _is_key(key: Any) -> bool:
    """Whether ``key`` has the shape of the key.json :func:`write_test` writes."""
    if not (
        isinstance(key, dict)
        and isinstance(key.get("models"), list)
        and isinstance(key.get("trials"), list)
        and "page_id" in key
    ):
        return False
    return all(
        isinstance(t, dict) and t.get("model") in key["models"] and t.get("real_side") in SIDES for t in key["trials"]
    )


def _distinct_files(paths: list[Path]) -> list[Path]:
    """``paths`` without repeats: the same file named twice (or a copy with the same bytes) is one participant."""
    seen, distinct = set(), []
    for path in paths:
        try:
            identity = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            identity = str(path)  # read_answers says what is wrong with it
        if identity not in seen:
            seen.add(identity)
            distinct.append(path)
    return distinct


def scores_table(scores: dict[str, dict[str, Any]]) -> str:
    """A Markdown table: judgements, fooled, and the fooling rate with its 95 % interval, per model."""
    lines = ["| | judgements | fooled | fooling rate (95 % CI) |", "|---|---:|---:|---:|"]
    for model, s in scores.items():
        rate = (
            "—" if s["fooling_rate"] is None else f"{s['fooling_rate']:.0%} ({s['ci95_low']:.0%}-{s['ci95_high']:.0%})"
        )
        lines.append(f"| {model} | {s['judgements']} | {s['fooled']} | {rate} |")
    return "\n".join(lines)
