"""The Label Studio labeling config, generated from schemas/ (taxonomy and registries).

Its controls and what each fills in the taxonomy are :mod:`sahelwire.labelstudio.controls`
(re-exported here). This module renders the XML and is the only place that builds a
per-region result in the config's form (:meth:`LabelConfig.attribute_item`), for
pre-annotations, worksheets and re-opened releases alike (docs/label_studio_format.md).

Layout: the article on the left; on the right, in a column that stays in view while the
text scrolls (``position: sticky``), the label palette, the selected region's fields (each
under a header naming it) and the article-level fields. The article is shown with
``<Text>``, never ``<HyperText>``: news text may contain markup, and it must be displayed as
text, not rendered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import quoteattr

from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.controls import (
    Control,
    attribute_result_type,
    controls,
    picker_name,
    result_types,
)
from sahelwire.labelstudio.hotkeys import reserved_keys
from sahelwire.schema.registries import Registries, load_registries
from sahelwire.schema.taxonomy import Attribute, SpanLayer, Taxonomy, load_taxonomy

HEADER = (
    "<!-- Generated from schemas/taxonomy.yaml, schemas/entities.yaml and schemas/events.yaml "
    "by `sahelwire labelstudio config`; do not edit by hand (a test fails when it drifts). -->"
)

# The right-hand column: wide enough for the longest label row, sticky so the palette and
# the selected region's fields stay in view however far the article is scrolled; it
# scrolls on its own when taller than the window. Measured in a real browser
# (tests/labelstudio/test_browser_layout.py).
LAYOUT = "display: flex; align-items: flex-start; gap: 16px"
TEXT_COLUMN = "flex: 1 1 0; min-width: 0; white-space: pre-wrap"
# max-height: the window less Label Studio's bars above the labeling area (90 px) and the
# scroll area's padding below our view (about 70 px, measured at 1440x900): a sticky box
# never leaves its container, so a taller column has its top cut off at the article's end.
SIDE_COLUMN = (
    "flex: 0 0 380px; position: sticky; top: 0; max-height: calc(100vh - 180px); "
    "overflow-y: auto; padding-right: 4px"
)
LAYER_STYLE = "margin: 6px 0 2px; font-size: 15px; font-weight: 600"
SELECTED_STYLE = "margin: 0; font-size: 15px"
NAME_STYLE = "margin: 8px 0 0; font-size: 14px; font-weight: 600"
HINT_STYLE = (
    "margin: 0 0 4px; font-size: 12px; line-height: 1.35; font-weight: normal; opacity: 0.75"
)


def _attrs(**kv: str) -> str:
    return " ".join(f"{k}={quoteattr(v)}" for k, v in kv.items())


@dataclass(frozen=True)
class LabelConfig:
    """The config for one taxonomy and registry: its XML and the form of its results."""

    taxonomy: Taxonomy
    # picker name -> ((id, hint), ...): the registry's ids of that label, in file order
    pickers: Mapping[str, tuple[tuple[str, str], ...]]

    @classmethod
    def of(cls, taxonomy: Taxonomy, registries: Registries) -> LabelConfig:
        frames = {"entities": registries.entities, "events": registries.events}
        pickers: dict[str, tuple[tuple[str, str], ...]] = {}
        for layer in taxonomy.span_layers:
            for attr in layer.attributes:
                if attr.registry is None:
                    continue
                rows = list(frames[attr.registry].iter_rows(named=True))
                for label in layer.label_names:
                    ids = tuple(
                        (str(r["id"]), f"{r['name']}: {r['description'] or ''}".strip())
                        for r in rows
                        if r["type"] == label
                    )
                    if ids:
                        pickers[picker_name(attr, label)] = ids
        return cls(taxonomy, pickers)

    @classmethod
    def load(cls, paths: ProjectPaths) -> LabelConfig:
        return cls.of(load_taxonomy(paths.taxonomy_file), load_registries(paths))

    # -- results in this config's form --------------------------------------------
    def attribute_item(
        self, rid: str, layer: str, label: str, name: str, value: Any, span: Mapping[str, int]
    ) -> dict[str, Any]:
        """The result item setting attribute ``name`` of region ``rid`` to ``value``.

        A registry id goes to the picker of the region's label when that list offers it
        (the editor shows it there); otherwise to the typed field, so nothing is lost.
        """
        attr = self.taxonomy.layer(layer).attribute(name)
        if attr is None:
            raise KeyError(f"{layer} has no attribute {name!r}")
        kind, control = attribute_result_type(attr), name
        if attr.registry is not None:
            offered = {i for i, _ in self.pickers.get(picker_name(attr, label), ())}
            if value in offered:
                kind, control = "choices", picker_name(attr, label)
        if kind == "choices":
            payload: dict[str, Any] = {
                "choices": ["true" if value else "false"] if isinstance(value, bool) else [value]
            }
        elif kind == "number":
            payload = {"number": int(value) if float(value).is_integer() else value}
        else:
            payload = {"text": [str(value)]}
        return {
            "id": rid,
            "from_name": control,
            "to_name": "text",
            "type": kind,
            "value": {**span, **payload},
        }

    def in_config_form(self, results: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """``results`` with every typed registry id moved to its picker where it offers it.

        For producers that write the typed form (the pre-annotation baseline); every other
        item is kept as it is.
        """
        results = list(results)
        labels = _region_labels(results)
        typed = self._typed_registry_attributes()
        out = []
        for item in results:
            name = item.get("from_name")
            if name in typed and item.get("type") == "textarea" and item.get("id") in labels:
                layer, label = labels[item["id"]]
                value = item["value"]
                text = value.get("text") or []
                if len(text) == 1 and layer == typed[name]:
                    span = {k: value[k] for k in ("start", "end") if k in value}
                    new = self.attribute_item(item["id"], layer, label, name, text[0], span)
                    item = {**item, **{k: new[k] for k in ("from_name", "type", "value")}}
            out.append(item)
        return out

    def comparable(self, results: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """``results`` with every picked registry id written in the typed form: two results
        that say the same thing in the older and the current form compare equal."""
        pickers = {
            name: c.target
            for name, c in controls(self.taxonomy).items()
            if c.kind == "attribute" and c.label is not None
        }
        out = []
        for item in results:
            name = item.get("from_name")
            if name in pickers and item.get("type") == "choices":
                value = {k: v for k, v in item["value"].items() if k != "choices"}
                value["text"] = list(item["value"].get("choices") or [])
                item = {**item, "from_name": pickers[name], "type": "textarea", "value": value}
            out.append(item)
        return out

    def _typed_registry_attributes(self) -> dict[str, str]:
        return {
            a.name: la.name
            for la in self.taxonomy.span_layers
            for a in la.attributes
            if a.registry is not None
        }

    # -- the XML ---------------------------------------------------------------------
    def xml(self) -> str:
        tx = self.taxonomy
        out = [f"<View {_attrs(style=LAYOUT)}>"]
        out.append(f"  <View {_attrs(style=TEXT_COLUMN)}>")
        out.append('    <Text name="text" value="$text"/>')
        out.append("  </View>")
        out.append(f"  <View {_attrs(style=SIDE_COLUMN)}>")
        events = next((la for la in tx.span_layers if la.relation_labels), None)
        if events is not None:
            # choice="single": one role per relation (Label Studio's default is several).
            out.append('    <Relations choice="single">')
            out += [f"      <Relation {_attrs(value=r.name)}/>" for r in events.relation_labels]
            out.append("    </Relations>")
        # The selected region's fields first: in view the moment a region is selected,
        # wherever it is in the article (they push the palette down while shown).
        for layer in tx.span_layers:
            if layer.attributes:
                out += self._region_fields(layer)
        for layer in tx.span_layers:
            out.append(f"    <Header {_attrs(value=layer.title, style=LAYER_STYLE)}/>")
            out.append(f"    <Labels {_attrs(name=layer.name, toName='text', showInline='true')}>")
            for label in layer.labels:
                extra = {"hotkey": label.hotkey} if label.hotkey else {}
                colour = {"background": label.color} if label.color else {}
                out.append(
                    f"      <Label {_attrs(value=label.name, hint=label.description, **colour, **extra)}/>"
                )
            out.append("    </Labels>")
        for f in tx.document_fields:
            out.append(f'    <Header {_attrs(value=f"{f.name}: {f.description}")} size="5"/>')
            if f.kind == "text":
                out.append(
                    f"    <TextArea {_attrs(name=f.name, toName='text', maxSubmissions='1', editable='true')}/>"
                )
                continue
            choice = "multiple" if f.kind == "multi" else "single"
            out.append(
                f"    <Choices {_attrs(name=f.name, toName='text', choice=choice, showInline='true')}>"
            )
            out += [f"      <Choice {_attrs(value=v)}/>" for v in f.value_names]
            out.append("    </Choices>")
        reserved = reserved_keys(tx)
        if reserved:
            # Inert on purpose (sahelwire.labelstudio.hotkeys): these keys focus a hidden
            # input, i.e. do nothing, and Label Studio has no free key left to assign.
            first = tx.span_layers[0].name
            out.append('    <View style="display: none">')
            out += [
                f"      <Filter {_attrs(name=f'reserved_key_{k}', toName=first, hotkey=k)}/>"
                for k in reserved
            ]
            out.append("    </View>")
        out.append("  </View>")
        out.append("</View>")
        # A plain root around the two columns: what is added at the top of the root (the
        # review project's fields, sahelwire.annotations.review) goes above both columns.
        return "\n".join([HEADER, "<View>", *(f"  {line}" for line in out), "</View>"]) + "\n"

    def _region_fields(self, layer: SpanLayer) -> list[str]:
        """The fields shown while a region of ``layer`` is selected."""
        shown = {"visibleWhen": "region-selected", "whenTagName": layer.name}
        out = [f"    <View {_attrs(**shown)}>"]
        title = f"Selected {layer.title.lower().removesuffix('s')}"
        out.append(f"      <Header {_attrs(value=title, style=SELECTED_STYLE)}/>")
        for attr in layer.attributes:
            if attr.registry is None:
                out += _field(layer.name, attr)
                continue
            for label in layer.label_names:
                ids = self.pickers.get(picker_name(attr, label))
                if not ids:
                    continue
                out += _picker(layer.name, attr, label, ids)
            if attr.proposal is not None:
                p = attr.proposal
                out += _named(p.name, p.description)
                out.append(f"      <TextArea {_attrs(**_common(p.name, layer.name), **_TEXT)}/>")
            # The typed field: ids entered before the pickers existed show (and survive an
            # edit) here; Label Studio drops a result whose control the config lacks.
            title = f"{attr.name} typed by hand (annotations made before the lists)"
            out.append("      <Collapse>")
            out.append(f"        <Panel {_attrs(value=title)}>")
            out.append(f"          <TextArea {_attrs(**_common(attr.name, layer.name), **_TEXT)}/>")
            out.append("        </Panel>")
            out.append("      </Collapse>")
        out.append('      <View style="border-bottom: 1px solid; margin: 8px 0"/>')
        out.append("    </View>")
        return out


_TEXT = {"maxSubmissions": "1", "editable": "true", "rows": "1"}


def _named(name: str, hint: str, indent: str = "      ") -> list[str]:
    """A field's name, prominent, then what it is in small type, above its control."""
    return [
        f"{indent}<Header {_attrs(value=name, style=NAME_STYLE)}/>",
        f"{indent}<Header {_attrs(value=hint, style=HINT_STYLE)}/>",
    ]


def _common(name: str, layer: str, label: str | None = None) -> dict[str, str]:
    # visibleWhen + whenTagName: shown (and, if required, enforced) only for regions of
    # this layer; without visibleWhen, Label Studio ignores whenTagName (the browser test
    # caught an entity region being refused for lack of an event's realis).
    out = {
        "name": name,
        "toName": "text",
        "perRegion": "true",
        "visibleWhen": "region-selected",
        "whenTagName": layer,
    }
    if label is not None:
        out["whenLabelValue"] = label
    return out


def _field(layer: str, attr: Attribute) -> list[str]:
    """A per-region attribute control under a header naming it."""
    hint = attr.description
    if attr.units:
        hint += " Units: " + "; ".join(
            f"{u.name}" + (f" ({', '.join(u.aliases)})" if u.aliases else "") for u in attr.units
        )
    lines = _named(attr.name, hint)
    tag = attribute_result_type(attr)
    if tag == "choices":
        required = {"required": "true"} if attr.required else {}
        lines.append(
            f"      <Choices {_attrs(**_common(attr.name, layer), choice='single', showInline='true', **required)}>"
        )
        lines += [f"        <Choice {_attrs(value=v)}/>" for v in attr.choice_values or ()]
        lines.append("      </Choices>")
    elif tag == "number":
        lines.append(f"      <Number {_attrs(**_common(attr.name, layer))}/>")
    else:
        lines.append(f"      <TextArea {_attrs(**_common(attr.name, layer), **_TEXT)}/>")
    return lines


def _picker(layer: str, attr: Attribute, label: str, ids: tuple[tuple[str, str], ...]) -> list[str]:
    """The registry's ids of one label, as a drop-down shown for regions of that label."""
    name = picker_name(attr, label)
    shown = {"visibleWhen": "region-selected", "whenTagName": layer, "whenLabelValue": label}
    lines = [
        f"      <View {_attrs(**shown)}>",
        *_named(f"{attr.name} ({label})", f"{attr.description} Pick from the list.", "        "),
        f"        <Choices {_attrs(**_common(name, layer, label), choice='single', layout='select')}>",
    ]
    lines += [f"          <Choice {_attrs(value=i, hint=hint)}/>" for i, hint in ids]
    lines += ["        </Choices>", "      </View>"]
    return lines


def _region_labels(results: Iterable[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Region id -> (layer, label) of every span item of ``results``."""
    out = {}
    for item in results:
        labels = item.get("value", {}).get("labels") if item.get("type") == "labels" else None
        if labels and isinstance(item.get("id"), str):
            out[item["id"]] = (str(item["from_name"]), str(labels[0]))
    return out


__all__ = [
    "Control",
    "LabelConfig",
    "attribute_result_type",
    "controls",
    "picker_name",
    "render_label_config",
    "result_types",
]


def render_label_config(taxonomy: Taxonomy, registries: Registries) -> str:
    return LabelConfig.of(taxonomy, registries).xml()
