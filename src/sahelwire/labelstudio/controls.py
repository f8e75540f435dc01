"""The controls of the labeling config, mapped back to the taxonomy (what an export names).

Control names are the taxonomy's own names (layer, attribute and document-field names), so
an exported result's ``from_name`` maps straight back to the taxonomy; the exceptions are
the registry lists, one per label (``entity_id_GPE``: the GPE entities of
schemas/entities.yaml), and the proposal fields next to them. :func:`controls` is that map,
for the export parser and for :mod:`sahelwire.labelstudio.label_config`, which renders the
config from the same decisions.
"""

from __future__ import annotations

from dataclasses import dataclass

from sahelwire.schema.taxonomy import Attribute, Taxonomy


@dataclass(frozen=True)
class Control:
    """A control as an exported result names it (``from_name``), mapped to the taxonomy.

    ``kind``: ``layer`` (span labels), ``attribute`` (a per-region attribute, ``target``
    its column), ``proposal`` (the free-text registry proposal of attribute ``target``) or
    ``document`` (an article-level field). ``label``: a picker lists ids for regions of
    this label only.
    """

    name: str
    result_type: str
    kind: str
    target: str
    layer: str | None = None
    label: str | None = None


def attribute_result_type(attr: Attribute) -> str:
    """The result ``type`` of an attribute's typed (non-picker) control."""
    if attr.choice_values is not None:
        return "choices"
    if attr.type == "number":
        return "number"
    return "textarea"


def picker_name(attr: Attribute, label: str) -> str:
    """The control that lists ``attr``'s registry ids for regions labelled ``label``."""
    return f"{attr.name}_{label}"


def controls(taxonomy: Taxonomy) -> dict[str, Control]:
    """Every control name a result may carry -> what it fills in the taxonomy.

    A registry attribute has a picker per label of its layer (whether or not the current
    registry has ids of that label, so reading exports never depends on the registry) and
    its typed TextArea (how ids were entered before the pickers; kept so those annotations
    keep their ids when edited, docs/label_studio_format.md).
    """
    out: dict[str, Control] = {}
    for layer in taxonomy.span_layers:
        out[layer.name] = Control(layer.name, "labels", "layer", layer.name, layer.name)
        for attr in layer.attributes:
            kind = attribute_result_type(attr)
            out[attr.name] = Control(attr.name, kind, "attribute", attr.name, layer.name)
            if attr.registry is None:
                continue
            for label in layer.label_names:
                name = picker_name(attr, label)
                out[name] = Control(name, "choices", "attribute", attr.name, layer.name, label)
            if attr.proposal is not None:
                p = attr.proposal.name
                out[p] = Control(p, "textarea", "proposal", attr.name, layer.name)
    for f in taxonomy.document_fields:
        kind = "textarea" if f.kind == "text" else "choices"
        out[f.name] = Control(f.name, kind, "document", f.name)
    return out


def result_types(taxonomy: Taxonomy) -> dict[str, str]:
    """Control name -> the ``type`` its results carry in an export (labels, choices, ...)."""
    return {name: c.result_type for name, c in controls(taxonomy).items()}
