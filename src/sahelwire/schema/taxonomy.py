"""The annotation taxonomy (schemas/taxonomy.yaml) as typed, read-only objects.

Everything that needs a label name, colour, hotkey or allowed attribute value asks this
module, so the Label Studio config, pandera checks, ClassLabels and card tables cannot
disagree with each other.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sahelwire.io.text_files import read_yaml_mapping


class TaxonomyError(ValueError):
    """schemas/taxonomy.yaml is malformed (duplicate label, hotkey clash, bad reference)."""


# The zone name of text that no zone covers (the article body). Published ``zone`` fields
# use the class path ``zone:span_layers.zones``: BODY first, then the zone labels.
BODY_ZONE = "BODY"


@dataclass(frozen=True)
class Label:
    name: str
    description: str
    color: str | None = None
    hotkey: str | None = None
    # Relation roles only: what the role may point to, each a layer name ("entities") or a
    # label of a layer ("quantities.DURATION"); empty = any layer of the relation's to_layers.
    targets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unit:
    """A controlled unit of a free-text attribute: what annotators may write, and its name."""

    name: str
    aliases: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class Proposal:
    """The free-text field next to a registry picker: an id the registry lacks, proposed."""

    name: str
    description: str


@dataclass(frozen=True)
class Attribute:
    name: str
    description: str
    values: tuple[str, ...] | None  # closed value set, or None for free values
    type: str  # "choice", "number", "string", "boolean", "registry"
    registry: str | None
    required: bool
    # A controlled list for a free-text attribute (quantity units): annotators type a unit
    # name or an alias, and the published value is the unit's name.
    units: tuple[Unit, ...] = ()
    proposal: Proposal | None = None

    @property
    def choice_values(self) -> tuple[str, ...] | None:
        """The values offered as choices: the value set, ``true``/``false`` for a boolean."""
        if self.values is not None:
            return self.values
        return ("true", "false") if self.type == "boolean" else None

    def unit_of(self, written: str | None) -> str | None:
        """The controlled unit name for ``written`` (a name or alias, any case), or None."""
        if written is None:
            return None
        key = written.strip().casefold()
        for unit in self.units:
            if key == unit.name.casefold() or key in (a.casefold() for a in unit.aliases):
                return unit.name
        return None


@dataclass(frozen=True)
class SpanLayer:
    name: str
    title: str
    description: str
    overlap: str  # "none", "nested" or "allowed"
    labels: tuple[Label, ...]
    attributes: tuple[Attribute, ...]
    nesting_allowed: frozenset[tuple[str, str]]
    relation_labels: tuple[Label, ...]
    relation_to_layers: tuple[str, ...]

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)

    def attribute(self, name: str) -> Attribute | None:
        return next((a for a in self.attributes if a.name == name), None)

    def role_allows(self, role: str, layer: str, label: str) -> bool | None:
        """Whether relation ``role`` may point to a ``layer`` region labelled ``label``
        (None: no such role)."""
        found = next((r for r in self.relation_labels if r.name == role), None)
        if found is None:
            return None
        if layer not in self.relation_to_layers:
            return False
        return not found.targets or any(
            t == layer or t == f"{layer}.{label}" for t in found.targets
        )


@dataclass(frozen=True)
class DocumentField:
    name: str
    description: str
    kind: str  # "single", "multi" or "text"
    values: tuple[Label, ...]

    @property
    def value_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.values)


@dataclass(frozen=True)
class Taxonomy:
    version: str
    span_layers: tuple[SpanLayer, ...]
    document_fields: tuple[DocumentField, ...]

    def layer(self, name: str) -> SpanLayer:
        for layer in self.span_layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no span layer {name!r} in taxonomy")

    def document_field(self, name: str) -> DocumentField:
        for f in self.document_fields:
            if f.name == name:
                return f
        raise KeyError(f"no document label {name!r} in taxonomy")

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.span_layers)

    def bio_names(self, layer: str) -> tuple[str, ...]:
        """``O`` then ``B-X``/``I-X`` per label: the tag order NER trainers expect."""
        names = ["O"]
        for label in self.layer(layer).label_names:
            names += [f"B-{label}", f"I-{label}"]
        return tuple(names)

    def class_names(self, path: str) -> tuple[str, ...]:
        """Names for a taxonomy path used in schemas/tables.yaml (see its header)."""
        if path.startswith("bio:"):
            return self.bio_names(path.removeprefix("bio:").split(".")[1])
        if path.startswith("zone:"):
            return (BODY_ZONE, *self.class_names(path.removeprefix("zone:")))
        parts = path.split(".")
        if parts[0] == "span_layers" and len(parts) == 2:
            return self.layer(parts[1]).label_names
        if parts[0] == "span_layers" and len(parts) == 3 and parts[2] == "relations":
            return tuple(label.name for label in self.layer(parts[1]).relation_labels)
        if (
            parts[0] == "span_layers"
            and len(parts) == 4
            and parts[2:] == ["relations", "to_layers"]
        ):
            return self.layer(parts[1]).relation_to_layers
        if parts[0] == "span_layers" and len(parts) == 4 and parts[2] == "attributes":
            attr = self.layer(parts[1]).attribute(parts[3])
            if attr is not None and attr.units:
                return tuple(unit.name for unit in attr.units)
            if attr is None or attr.values is None:
                raise TaxonomyError(f"{path}: not a closed attribute value set")
            return attr.values
        if parts[0] == "document_labels" and len(parts) == 2:
            return self.document_field(parts[1]).value_names
        raise TaxonomyError(f"unknown taxonomy path {path!r}")


def _labels(raw: list[dict[str, Any]], where: str) -> tuple[Label, ...]:
    labels = tuple(
        Label(
            name=str(item["name"]),
            description=str(item.get("description", "")),
            color=item.get("color"),
            hotkey=None if item.get("hotkey") is None else str(item["hotkey"]),
            targets=tuple(str(t) for t in item.get("targets", [])),
        )
        for item in raw
    )
    names = [label.name for label in labels]
    if len(set(names)) != len(names):
        raise TaxonomyError(f"{where}: duplicate label names {names}")
    return labels


def _units(name: str, raw: list[dict[str, Any]]) -> tuple[Unit, ...]:
    units = tuple(
        Unit(
            name=str(u["name"]),
            aliases=tuple(str(a) for a in u.get("aliases", [])),
            description=" ".join(str(u.get("description", "")).split()),
        )
        for u in raw
    )
    # Every written form must map to one unit, whatever its case.
    seen: dict[str, str] = {}
    for unit in units:
        for form in (unit.name, *unit.aliases):
            key = form.casefold()
            if key in seen and seen[key] != unit.name:
                raise TaxonomyError(
                    f"attribute {name}: {form!r} names both {seen[key]} and {unit.name}"
                )
            seen[key] = unit.name
    return units


def _attribute(name: str, raw: dict[str, Any]) -> Attribute:
    values = raw.get("values")
    registry = raw.get("registry")
    kind = "choice" if values else "registry" if registry else str(raw.get("type", "string"))
    proposal = raw.get("proposal")
    attr = Attribute(
        name=name,
        description=" ".join(str(raw.get("description", "")).split()),
        values=tuple(str(v) for v in values) if values else None,
        type=kind,
        registry=registry,
        required=bool(raw.get("required", False)),
        units=_units(name, raw.get("units", [])),
        proposal=None
        if proposal is None
        else Proposal(
            str(proposal["name"]), " ".join(str(proposal.get("description", "")).split())
        ),
    )
    if proposal is not None and registry is None:
        raise TaxonomyError(f"attribute {name}: a proposal field belongs to a registry attribute")
    return attr


def parse_taxonomy(data: dict[str, Any]) -> Taxonomy:
    layers = []
    entity_attrs = data.get("entity_attributes", {})
    for name, raw in data["span_layers"].items():
        attrs = dict(raw.get("attributes", {}))
        if name == "entities":
            attrs.update(entity_attrs)
        relations = raw.get("relations") or {}
        layers.append(
            SpanLayer(
                name=name,
                title=str(raw.get("title", name)),
                description=" ".join(str(raw.get("description", "")).split()),
                overlap=str(raw.get("overlap", "allowed")),
                labels=_labels(raw["labels"], f"span_layers.{name}"),
                attributes=tuple(_attribute(k, v) for k, v in attrs.items()),
                nesting_allowed=frozenset(tuple(pair) for pair in raw.get("nesting_allowed", [])),
                relation_labels=_labels(relations.get("labels", []), f"{name}.relations"),
                relation_to_layers=tuple(relations.get("to_layers", [])),
            )
        )
    fields = tuple(
        DocumentField(
            name=name,
            description=str(raw.get("description", "")),
            kind=str(raw["kind"]),
            values=_labels(raw.get("values", []), f"document_labels.{name}"),
        )
        for name, raw in data["document_labels"].items()
    )
    taxonomy = Taxonomy(str(data["taxonomy_version"]), tuple(layers), fields)
    _check_hotkeys(taxonomy)
    _check_colours(taxonomy)
    _check_relation_targets(taxonomy)
    zones = [la for la in layers if la.name == "zones"]
    if zones and BODY_ZONE in zones[0].label_names:
        raise TaxonomyError(f"zones: {BODY_ZONE} is reserved for text no zone covers")
    return taxonomy


# Single keys the Label Studio editor itself binds in the labeling screen (its keymap.json,
# 1.23: `u` unselects the region); a taxonomy hotkey on one of them would do two things.
EDITOR_KEYS = frozenset({"u", "enter", "escape", "backspace", "delete", "space"})


def taxonomy_hotkeys(taxonomy: Taxonomy) -> list[tuple[str, str]]:
    """(key, ``layer.LABEL``) for every hotkey of the taxonomy, in file order.

    Only span labels have keys: a key for an attribute value would act on whatever region is
    selected (measured in Label Studio 1.23: realis set on an entity), so none is offered.
    The labeling config, the guidelines and their drift test all read this list.
    """
    return [
        (label.hotkey, f"{layer.name}.{label.name}")
        for layer in taxonomy.span_layers
        for label in layer.labels
        if label.hotkey is not None
    ]


def _check_hotkeys(taxonomy: Taxonomy) -> None:
    # Label Studio binds every hotkey globally in the labeling UI: a clash silently
    # makes one label unreachable from the keyboard, so refuse it here.
    seen: dict[str, str] = {}
    for key, what in taxonomy_hotkeys(taxonomy):
        if key in seen:
            raise TaxonomyError(f"hotkey {key!r} used by {seen[key]} and {what}")
        if key.lower() in EDITOR_KEYS:
            raise TaxonomyError(f"hotkey {key!r} of {what} is a key of the Label Studio editor")
        seen[key] = what


# Label Studio 1.23 draws a span's label colour at this opacity over the white page (its
# editor's getLabelColor: convertToRGBA(colour, .3), web/dist/apps/labelstudio/358.js).
SPAN_OPACITY = 0.3
# The least CIE76 colour difference between two span labels as drawn: distinct hex codes
# were not enough (#1f77b4 and #3182bd, ΔE 1.5 at 30%: one blue to an annotator).
COLOUR_MIN_DELTA_E = 10.0


def drawn_lab(colour: str, opacity: float = SPAN_OPACITY) -> tuple[float, float, float]:
    """CIELAB (D65) of ``colour`` (#rrggbb) drawn at ``opacity`` over white."""

    def linear(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (
        linear(opacity * int(colour[i : i + 2], 16) + (1 - opacity) * 255) for i in (1, 3, 5)
    )
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def _check_colours(taxonomy: Taxonomy) -> None:
    # Every layer's regions show on the same text in the editor: an event with the colour
    # of the entities inside it could not be told apart from them (browser walkthroughs:
    # ten colours shared across layers, then distinct codes that looked the same).
    seen: list[tuple[str, tuple[float, float, float]]] = []
    for layer in taxonomy.span_layers:
        for label in layer.labels:
            if label.color is None:
                continue
            what = f"{layer.name}.{label.name}"
            if not re.fullmatch(r"#[0-9a-fA-F]{6}", label.color):
                raise TaxonomyError(f"colour {label.color!r} of {what} is not #rrggbb")
            lab = drawn_lab(label.color)
            for other, other_lab in seen:
                delta = math.dist(lab, other_lab)
                if delta < COLOUR_MIN_DELTA_E:
                    raise TaxonomyError(
                        f"colour {label.color} of {what} looks like {other}'s as the editor "
                        f"draws them (ΔE {delta:.1f} at {SPAN_OPACITY:.0%} opacity on white; "
                        f"at least {COLOUR_MIN_DELTA_E:g})"
                    )
            seen.append((what, lab))


def _check_relation_targets(taxonomy: Taxonomy) -> None:
    for layer in taxonomy.span_layers:
        for role in layer.relation_labels:
            for target in role.targets:
                name, _, label = target.partition(".")
                if name not in layer.relation_to_layers:
                    raise TaxonomyError(
                        f"{layer.name}.relations {role.name}: target {target!r} is not in "
                        f"to_layers {list(layer.relation_to_layers)}"
                    )
                if label and label not in taxonomy.layer(name).label_names:
                    raise TaxonomyError(
                        f"{layer.name}.relations {role.name}: no label {label!r} in {name}"
                    )


@cache
def _load_cached(path: Path, mtime_ns: int) -> Taxonomy:
    del mtime_ns  # part of the cache key only: an edited file is re-read
    data = read_yaml_mapping(path)
    try:
        return parse_taxonomy(data)
    except (AttributeError, KeyError, TypeError) as exc:  # a part missing or of another shape
        raise TaxonomyError(f"{path}: not a taxonomy ({type(exc).__name__}: {exc})") from None


def load_taxonomy(path: Path) -> Taxonomy:
    """Load and check schemas/taxonomy.yaml (cached per file version)."""
    return _load_cached(path.resolve(), path.stat().st_mtime_ns)
