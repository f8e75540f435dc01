"""Pick the span labels' colours as Label Studio's editor draws them, and print them.

    .venv/bin/python scripts/span_colours.py          # the palette and its figures (≈3 min)
    .venv/bin/python scripts/span_colours.py --check  # the figures of schemas/taxonomy.yaml's
    .venv/bin/python scripts/span_colours.py --repaint 2  # the taxonomy's, 2 labels at most moved

Every layer's spans show on one text, each a 30% tint over white (``drawn_lab``), so 28
colours share a small gamut: spread evenly (farthest-point sampling, the palette before this
script) no two were closer than ΔE 10, and the commonest pairs were among the closest (ORG and
NORP 10.4, MEETING and SECURITY_COOPERATION 10.8: one colour to a browser walkthrough's eye).
This search spends the gamut where an annotator needs it, in this order:

1. every pair at least ``COLOUR_MIN_DELTA_E`` apart (the taxonomy parser's rule);
2. the most frequent labels of the committed exports (``--frequent`` of them, counted over every
   annotation) as far apart as possible, the labels of one layer next (a layer's labels
   are the choices an annotator makes at one span), and with them the labels of two layers
   most often drawn side by side (``--neighbours`` pairs: spans within ``NEAR`` characters in
   one annotation, e.g. AID_RESTRICTION beside GPE in "suspended aid to Niger": two tints an
   annotator tells apart on one line, which the frequent set alone left 11 ΔE apart);
3. zones in greys (chroma ≤ ``ZONE_CHROMA`` at 30%): a zone lies under the other layers'
   spans and tints add up, so a grey zone shifts the hue of the entities inside it least.

A local search from seeded random starts: the same inputs give the same palette. Nothing here
is read by the package: the chosen colours are written into schemas/taxonomy.yaml by hand.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sahelwire.schema.taxonomy import COLOUR_MIN_DELTA_E, drawn_lab  # noqa: E402

ZONES = "zones"
ZONE_CHROMA = 12.0  # a zone's tint at most this grey (C*ab)
SPAN_CHROMA = 10.0  # the other layers' tints at least this coloured
LIGHTEST = 92.0  # a tint lighter than L* 92 hardly shows on white
ZONE_DARKEST = 82.0  # a zone darker than this greys whole paragraphs and what lies on them
GRID = 17  # sRGB step of the candidates (16 levels a channel)
NEAR = 40  # characters between two spans counted as side by side


def span_labels(taxonomy: Path) -> dict[str, tuple[str, str]]:
    """label -> (layer, colour) of every span layer, in the taxonomy's order."""
    data = yaml.safe_load(taxonomy.read_text(encoding="utf-8"))
    return {
        label["name"]: (layer, label["color"])
        for layer, spec in data["span_layers"].items()
        for label in spec["labels"]
    }


def label_counts(exports: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for path in sorted(exports.glob("*.json")):
        task = json.loads(path.read_text(encoding="utf-8"))
        for annotation in task.get("annotations", []):
            for item in annotation.get("result", []):
                if item.get("type") == "labels":
                    counts.update(item["value"]["labels"])
    return counts


def neighbour_counts(exports: Path, labels: dict[str, tuple[str, str]]) -> Counter[tuple[str, str]]:
    """How often two labels of different layers (zones aside) are drawn within NEAR characters
    of each other in one annotation."""
    counts: Counter[tuple[str, str]] = Counter()
    for path in sorted(exports.glob("*.json")):
        task = json.loads(path.read_text(encoding="utf-8"))
        for annotation in task.get("annotations", []):
            spans = [
                (item["value"]["start"], item["value"]["end"], label)
                for item in annotation.get("result", [])
                if item.get("type") == "labels"
                for label in item["value"]["labels"]
                if label in labels and labels[label][0] != ZONES
            ]
            for (s1, e1, a), (s2, e2, b) in itertools.combinations(spans, 2):
                if labels[a][0] != labels[b][0] and s1 <= e2 + NEAR and s2 <= e1 + NEAR:
                    counts[(min(a, b), max(a, b))] += 1
    return counts


class Palette:
    """The figures a palette is judged by, over an array of CIELAB tints (one per label)."""

    def __init__(
        self, layers: list[str], frequent: list[int], neighbours: list[tuple[int, int]]
    ) -> None:
        pairs = list(itertools.combinations(range(len(layers)), 2))
        self.frequent = [(a, b) for a, b in itertools.combinations(frequent, 2)]
        self.neighbours = neighbours
        self.in_layer = [(a, b) for a, b in pairs if layers[a] == layers[b] != ZONES]
        self.zones = [(a, b) for a, b in pairs if layers[a] == layers[b] == ZONES]

    def figures(self, tints: np.ndarray) -> dict[str, float]:
        d = np.sqrt(((tints[:, None, :] - tints[None, :, :]) ** 2).sum(-1))
        np.fill_diagonal(d, np.inf)

        def least(pairs: list[tuple[int, int]]) -> float:
            return float(min((d[a, b] for a, b in pairs), default=np.inf))

        return {
            "all": float(d.min()),
            "frequent": least(self.frequent),
            "neighbours": least(self.neighbours),
            "in_layer": least(self.in_layer),
            "zones": least(self.zones),
        }

    def score(self, tints: np.ndarray) -> tuple[float, ...]:
        f = self.figures(tints)
        # The parser's floor first (no credit above it), then the frequent labels, the side by
        # side pairs and a layer's own labels together (a layer's pairs weigh a little less),
        # then the rest.
        return (
            min(f["all"], COLOUR_MIN_DELTA_E),
            round(min(f["frequent"], f["neighbours"], 1.25 * f["in_layer"]), 1),
            round(f["in_layer"], 1),
            round(min(f["zones"], COLOUR_MIN_DELTA_E), 1),
            f["all"],
        )


def _candidates() -> tuple[list[str], np.ndarray, dict[bool, np.ndarray]]:
    """Every grid colour, its drawn tint, and the indexes a zone (True) or another layer's
    label (False) may take."""
    levels = range(0, 256, GRID)
    hexes = [f"#{r:02x}{g:02x}{b:02x}" for r in levels for g in levels for b in levels]
    lab = np.array([drawn_lab(h) for h in hexes])
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    shows = lab[:, 0] < LIGHTEST
    pools = {
        True: np.flatnonzero(shows & (chroma < ZONE_CHROMA) & (lab[:, 0] >= ZONE_DARKEST)),
        False: np.flatnonzero(shows & (chroma >= SPAN_CHROMA)),
    }
    return hexes, lab, pools


def search(
    labels: dict[str, tuple[str, str]],
    frequent: list[str],
    neighbours: list[tuple[str, str]],
    seed: int,
    starts: int,
) -> list[str]:
    names = list(labels)
    layers = [labels[name][0] for name in names]
    hexes, lab, pools = _candidates()
    judge = Palette(layers, [names.index(name) for name in frequent], _indexed(names, neighbours))
    rng = random.Random(seed)
    best: tuple[tuple[float, ...], list[int]] | None = None
    for _ in range(starts):
        chosen = [int(rng.choice(list(pools[layer == ZONES]))) for layer in layers]
        score = judge.score(lab[chosen])
        improved = True
        while improved:
            improved = False
            for i in rng.sample(range(len(names)), len(names)):
                pool = list(pools[layers[i] == ZONES])
                for candidate in rng.sample(pool, min(len(pool), 400)):
                    before, chosen[i] = chosen[i], int(candidate)
                    trial = judge.score(lab[chosen])
                    if trial > score:
                        score, improved = trial, True
                    else:
                        chosen[i] = before
        if best is None or score > best[0]:
            best = (score, list(chosen))
    assert best is not None
    return [hexes[i] for i in best[1]]


def repaint(
    labels: dict[str, tuple[str, str]],
    frequent: list[str],
    neighbours: list[tuple[str, str]],
    changes: int,
) -> list[str]:
    """The taxonomy's palette with at most ``changes`` labels repainted, greedily: each round
    moves the one label whose best new colour raises the score most. Annotators learn a
    palette; a small fix should not repaint every label."""
    names = list(labels)
    layers = [labels[name][0] for name in names]
    hexes, lab, pools = _candidates()
    judge = Palette(layers, [names.index(name) for name in frequent], _indexed(names, neighbours))
    colours = [labels[name][1] for name in names]
    tints = np.array([drawn_lab(c) for c in colours])
    for _ in range(changes):
        score, move = judge.score(tints), None
        for i in range(len(names)):
            before = tints[i].copy()
            for candidate in pools[layers[i] == ZONES]:
                tints[i] = lab[candidate]
                trial = judge.score(tints)
                if trial > score:
                    score, move = trial, (i, int(candidate))
            tints[i] = before
        if move is None:
            break
        colours[move[0]] = hexes[move[1]]
        tints[move[0]] = lab[move[1]]
    return colours


def _indexed(names: list[str], pairs: list[tuple[str, str]]) -> list[tuple[int, int]]:
    return [(names.index(a), names.index(b)) for a, b in pairs]


def report(
    labels: dict[str, tuple[str, str]],
    colours: list[str],
    frequent: list[str],
    neighbours: list[tuple[str, str]],
) -> None:
    names = list(labels)
    judge = Palette(
        [labels[n][0] for n in names],
        [names.index(n) for n in frequent],
        _indexed(names, neighbours),
    )
    figures = judge.figures(np.array([drawn_lab(c) for c in colours]))
    print(
        "least ΔE (CIE76, 30% on white): " + ", ".join(f"{k} {v:.1f}" for k, v in figures.items())
    )
    print(f"frequent labels: {', '.join(frequent)}")
    print(f"side by side: {', '.join(f'{a}+{b}' for a, b in neighbours)}")
    for name, colour in zip(names, colours, strict=True):
        print(f"  {labels[name][0]:11s} {name:21s} {colour}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only the taxonomy's figures")
    parser.add_argument("--frequent", type=int, default=8)
    parser.add_argument("--neighbours", type=int, default=16)
    parser.add_argument("--starts", type=int, default=8)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument(
        "--repaint",
        type=int,
        metavar="N",
        help="keep the taxonomy's palette and repaint at most N labels (instead of a new one)",
    )
    args = parser.parse_args(argv)
    labels = span_labels(ROOT / "schemas" / "taxonomy.yaml")
    counts = label_counts(ROOT / "annotations" / "exports")
    frequent = [name for name, _ in counts.most_common() if name in labels][: args.frequent]
    exports = ROOT / "annotations" / "exports"
    neighbours = [
        pair for pair, _ in neighbour_counts(exports, labels).most_common(args.neighbours)
    ]
    if args.check:
        report(labels, [colour for _, colour in labels.values()], frequent, neighbours)
        return 0
    if args.repaint is not None:
        colours = repaint(labels, frequent, neighbours, args.repaint)
    else:
        colours = search(labels, frequent, neighbours, args.seed, args.starts)
    report(labels, colours, frequent, neighbours)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
