"""Model cards: the README.md that ``ganforge export`` writes beside the weights, in the Hub's format.

A folder holding ``model.safetensors`` and this README is what a Hugging Face
model repository holds, so it can be uploaded as it is, and ``ganforge.load``
takes the folder like a Hub id. The card says what the model is (recipe,
network, color space), what it learned from (the recipe's data sources and
weights), how it scored (a ``ganforge eval`` or ``compare`` metrics.json, when
one is given) and under which licence; its YAML front matter carries the same
for the Hub's search (``library_name: ganforge``, ``model-index`` results).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import yaml

from ganforge.core.atomic import write_text
from ganforge.core.config import recipe_to_yaml
from ganforge.core.errors import UsageError, read_user_json
from ganforge.data.sources import mixture_parts
from ganforge.evaluation.report import Table
from ganforge.inference.checkpoint import Checkpoint

log = logging.getLogger(__name__)

CARD_FILE = "README.md"
LIBRARY = "ganforge"
BASELINE_ROWS = ("gray (no color)", "mean color")

Results = list[tuple[str, int, dict[str, dict[str, float]]]]  # (data source, images, {row: {metric: value}})


def evaluation_results(path: str | Path) -> Results:
    """``(data source, images, {row: {metric: value}})`` from a ``ganforge eval`` or ``ganforge compare`` metrics.json."""
    path = Path(path)
    result = read_user_json(path, "--metrics-from", "pass the metrics.json of a ganforge eval or compare")
    if isinstance(result, dict) and isinstance(result.get("metrics"), dict) and "data" in result:  # ganforge eval
        return [(result["data"], result.get("images", 0), result["metrics"])]
    if isinstance(result, dict) and isinstance(result.get("results"), dict):  # ganforge compare
        return [
            (source, entry["images"], entry["metrics"])
            for source, entry in result["results"].items() if isinstance(entry, dict) and "metrics" in entry
        ]  # fmt: skip
    raise UsageError(f"--metrics-from '{path}' is not the metrics.json of a ganforge eval or compare")


def _model_row(rows: dict[str, dict[str, float]], name: str) -> str | None:
    """The row of the exported model in an evaluation: 'model' (eval), its own name (compare), or the only non-baseline."""
    models = [row for row in rows if row not in BASELINE_ROWS]
    for candidate in ("model", name):
        if candidate in rows:
            return candidate
    return models[0] if len(models) == 1 else None


def _front_matter(name: str, licence: str, results: Results) -> str:
    model_index = []
    for source, _, rows in results:
        row = _model_row(rows, name)
        if row is None:
            continue
        metrics = [
            {"type": metric, "value": round(value, 4), "name": metric}
            for metric, value in rows[row].items()
            if value is not None
        ]
        model_index.append({
            "task": {"type": "image-to-image", "name": "Image colorization"},
            "dataset": {"name": source, "type": source.partition(":")[0]},
            "metrics": metrics,
        })  # fmt: skip
    front: dict[str, Any] = {
        "library_name": LIBRARY,
        "license": licence,
        "pipeline_tag": "image-to-image",
        "tags": ["colorization", "ganforge"],
    }
    if model_index:
        front["model-index"] = [{"name": name, "results": model_index}]
    return "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n"


def _data_lines(value: Any) -> list[str]:
    try:
        parts = mixture_parts(value, "data.train")
    except UsageError:
        return [f"- `{value}`"]
    total = sum(weight for _, weight in parts)
    return [
        f"- `{source}`" + (f" (drawn with weight {weight / total:.2f})" if len(parts) > 1 else "")
        for source, weight in parts
    ]


def _as_numbers(rows: dict[str, dict[str, float | None]]) -> dict[str, dict[str, float]]:
    """metrics.json rows as a report table reads them: a metric that did not apply (null) is NaN again."""
    return {
        row: {name: math.nan if value is None else value for name, value in values.items()}
        for row, values in rows.items()
    }


def model_card(checkpoint: Checkpoint, licence: str, results: Results | None = None, results_file: str = "") -> str:
    """The README.md text for the exported ``checkpoint``, with ``results`` read from ``results_file``."""
    recipe = checkpoint.recipe
    generator = recipe.generator if isinstance(recipe.generator, dict) else {"name": recipe.generator}
    lines = [
        _front_matter(recipe.name, licence, results or []),
        f"# {recipe.name}",
        "",
        f"A ganforge model that colorizes grayscale photographs: generator "
        f"`{generator.get('name')}`, color space `{recipe.color_space}`, weights: {checkpoint.metadata.get('weights', 'generator')}"
        f"{' (stored as float16)' if checkpoint.metadata.get('stored_dtype') == 'float16' else ''}.",
        "",
        "## Use",
        "",
        "```python",
        "import ganforge\nfrom PIL import Image",
        'colorizer = ganforge.load("THIS_FOLDER_OR_HUB_ID")   # a local folder holding this README works like a Hub id',
        'color = colorizer(Image.open("photo.jpg"))        # PIL in, PIL out (numpy arrays and tensors work too)',
        "```",
        "",
        "or `ganforge colorize THIS_FOLDER_OR_HUB_ID photos/ -o colorized/`.",
        "",
        "## Training data",
        "",
        *_data_lines(recipe.data.train),
        "",
        f"Crops of {recipe.data.size} px, batch {recipe.data.batch_size}, {sum(p.steps for p in recipe.phases)} steps "
        f"in {len(recipe.phases)} phase(s): {', '.join(f'{p.name} ({p.steps})' for p in recipe.phases)}.",
        "",
        "## Evaluation",
        "",
    ]
    if results:
        for source, images, rows in results:
            lines += [
                f"`{source}`, {images} images, beside the gray and mean-color baselines (`{results_file}`):",
                "",
                Table(_as_numbers(rows), baselines=BASELINE_ROWS).markdown(),
                "",
            ]
    else:
        lines += [
            "Not evaluated at export; `ganforge eval THIS_FOLDER --data SOURCE` scores it beside the baselines.",
            "",
        ]
    lines += [
        "## Recipe",
        "",
        "The complete recipe the model was trained with (also stored in the weights file's metadata):",
        "",
        "```yaml",
        recipe_to_yaml(recipe).rstrip(),
        "```",
        "",
        "## Licence",
        "",
        f"The weights: `{licence}`. Check that the terms of the training data above suit your use of a model trained on it.",
        "",
    ]
    return "\n".join(lines)


def is_ganforge_card(path: Path) -> bool:
    """Whether ``path`` is a card ganforge wrote (its front matter names the library), so it may be replaced."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---\n"):
        return False
    try:
        front = yaml.safe_load(text[4 : text.find("\n---", 4)])
    except yaml.YAMLError:
        return False
    return isinstance(front, dict) and front.get("library_name") == LIBRARY


def write_model_card(
    checkpoint: Checkpoint, licence: str, results: Results | None = None, results_file: str = ""
) -> Path | None:
    """Write ``README.md`` beside the checkpoint; a README that is not a ganforge card is kept (``None`` returned)."""
    card = checkpoint.path.parent / CARD_FILE
    if card.exists() and not is_ganforge_card(card):
        log.warning("kept %s: it is not a ganforge model card; no card written (move it away to get one)", card)
        return None
    write_text(card, model_card(checkpoint, licence, results, results_file))
    return card
