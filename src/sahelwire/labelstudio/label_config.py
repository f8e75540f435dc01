"""The Label Studio labeling config, generated from schemas/taxonomy.yaml.

Control names are the taxonomy's own names (layer, attribute and document-field names), so
an exported result's ``from_name`` maps straight back to the taxonomy (see
docs/label_studio_format.md). The article is shown with ``<Text>``, never ``<HyperText>``:
news text may contain markup, and it must be displayed as text, not rendered.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from sahelwire.schema.taxonomy import Attribute, Taxonomy

HEADER = (
    "<!-- Generated from schemas/taxonomy.yaml by `sahelwire labelstudio config`; "
    "do not edit by hand (a test fails when it drifts). -->"
)


def attribute_result_type(attr: Attribute) -> str:
    """The result ``type`` of a per-region attribute's control (its tag, lower-cased)."""
    if attr.values is not None or attr.type == "boolean":
        return "choices"
    if attr.type == "number":
        return "number"
    return "textarea"


def result_types(taxonomy: Taxonomy) -> dict[str, str]:
    """Control name -> the ``type`` its results carry in an export (labels, choices, ...).

    The same decisions as :func:`render_label_config`, so the export parser checks each
    result against the control the config really has.
    """
    types = {layer.name: "labels" for layer in taxonomy.span_layers}
    for layer in taxonomy.span_layers:
        types.update({a.name: attribute_result_type(a) for a in layer.attributes})
    for f in taxonomy.document_fields:
        types[f.name] = "textarea" if f.kind == "text" else "choices"
    return types


def _attrs(**kv: str) -> str:
    return " ".join(f"{k}={quoteattr(v)}" for k, v in kv.items())


def _region_control(layer: str, attr: Attribute) -> list[str]:
    """A per-region control shown when a region of ``layer`` is selected."""
    # visibleWhen + whenTagName: shown (and, if required, enforced) only for regions of
    # this layer; without visibleWhen, Label Studio ignores whenTagName (the browser test
    # caught an entity region being refused for lack of an event's realis).
    common = {
        "name": attr.name,
        "toName": "text",
        "perRegion": "true",
        "visibleWhen": "region-selected",
        "whenTagName": layer,
    }
    hint = f"{attr.name}: {attr.description}"
    if attr.units:
        hint += " Units: " + "; ".join(
            f"{u.name}" + (f" ({', '.join(u.aliases)})" if u.aliases else "") for u in attr.units
        )
    lines = [f'    <Header value={quoteattr(hint)} size="6"/>']
    tag = attribute_result_type(attr)
    if tag == "choices" and attr.values is not None:
        required = {"required": "true"} if attr.required else {}
        lines.append(
            f"    <Choices {_attrs(**common, choice='single', showInline='true', **required)}>"
        )
        lines += [f"      <Choice {_attrs(value=v)}/>" for v in attr.values]
        lines.append("    </Choices>")
    elif tag == "choices":  # boolean
        lines.append(f"    <Choices {_attrs(**common, choice='single', showInline='true')}>")
        lines += [f"      <Choice {_attrs(value=v)}/>" for v in ("true", "false")]
        lines.append("    </Choices>")
    elif tag == "number":
        lines.append(f"    <Number {_attrs(**common)}/>")
    else:
        lines.append(
            f"    <TextArea {_attrs(**common, maxSubmissions='1', editable='true', rows='1')}/>"
        )
    return lines


def render_label_config(taxonomy: Taxonomy) -> str:
    out = [HEADER, "<View>"]
    events = next((la for la in taxonomy.span_layers if la.relation_labels), None)
    if events is not None:
        out.append("  <Relations>")
        out += [f"    <Relation {_attrs(value=r.name)}/>" for r in events.relation_labels]
        out.append("  </Relations>")
    for layer in taxonomy.span_layers:
        out.append(f'  <Header {_attrs(value=layer.title)} size="5"/>')
        out.append(f"  <Labels {_attrs(name=layer.name, toName='text', showInline='true')}>")
        for label in layer.labels:
            extra = {"hotkey": label.hotkey} if label.hotkey else {}
            colour = {"background": label.color} if label.color else {}
            out.append(
                f"    <Label {_attrs(value=label.name, hint=label.description, **colour, **extra)}/>"
            )
        out.append("  </Labels>")
    out.append('  <View style="white-space: pre-wrap">')
    out.append('    <Text name="text" value="$text"/>')
    out.append("  </View>")
    for la in taxonomy.span_layers:
        if not la.attributes:
            continue
        out.append(f"  <View {_attrs(visibleWhen='region-selected', whenTagName=la.name)}>")
        for attr in la.attributes:
            out += _region_control(la.name, attr)
        out.append("  </View>")
    for f in taxonomy.document_fields:
        out.append(f'  <Header {_attrs(value=f"{f.name}: {f.description}")} size="5"/>')
        if f.kind == "text":
            out.append(
                f"  <TextArea {_attrs(name=f.name, toName='text', maxSubmissions='1', editable='true')}/>"
            )
            continue
        choice = "multiple" if f.kind == "multi" else "single"
        out.append(
            f"  <Choices {_attrs(name=f.name, toName='text', choice=choice, showInline='true')}>"
        )
        out += [f"    <Choice {_attrs(value=v)}/>" for v in f.value_names]
        out.append("  </Choices>")
    out.append("</View>")
    return "\n".join(out) + "\n"
