"""Every key of the labeling screen, chosen on purpose in schemas/taxonomy.yaml.

Label Studio (1.23; ``web/libs/editor``: ``Annotation.setupHotKeys`` and ``Hotkey.makeComb``)
first binds the ``hotkey`` of every Label, Choice, Number, Rating and Filter that has one,
then gives each of those that has none the next free key of :data:`AUTO_HOTKEY_POOL`, in
config order, until the pool is used up. That is how realis got 7/8/9/0, ``approximate``
o/p and the stance ``n`` without anyone choosing them: a stray ``n`` set the article's
stance, and (measured in a real browser) ``7`` with an *entity* selected wrote a realis
onto the entity, where no field shows it. So the only keys are the taxonomy's span-label
keys, and every key of the pool they leave free is *reserved*: bound, in the generated
config, to a hidden ``<Filter>`` whose only action is to focus a hidden input, i.e.
nothing. With the pool used up, Label Studio hands out no key of its own. The guidelines'
key list is generated from the same data (:func:`keys_section`, placed there by
:mod:`sahelwire.labelstudio.guidelines`) and drift-tested against the taxonomy and the config.
"""

from __future__ import annotations

from sahelwire.io.markdown import markdown_table
from sahelwire.schema.taxonomy import Taxonomy, taxonomy_hotkeys

# Label Studio's order of automatic keys (Hotkey.makeComb in 1.23.2: no `r`, `h` or `u`).
AUTO_HOTKEY_POOL = "1234567890qwetasdfgzxcvbyiopjklnm"


def reserved_keys(taxonomy: Taxonomy) -> tuple[str, ...]:
    """The pool keys no taxonomy hotkey takes: bound to nothing so Label Studio cannot."""
    used = {key.lower() for key, _ in taxonomy_hotkeys(taxonomy)}
    return tuple(k for k in AUTO_HOTKEY_POOL if k not in used)


def keys_section(taxonomy: Taxonomy) -> str:
    """The guidelines' list of every key of the labeling screen (Markdown)."""
    layers = [la for la in taxonomy.span_layers if any(lab.hotkey for lab in la.labels)]
    depth = max(len(la.labels) for la in layers)
    rows: list[list[object]] = [
        [
            f"`{la.labels[i].hotkey}` {la.labels[i].name}"
            if i < len(la.labels) and la.labels[i].hotkey
            else ""
            for la in layers
        ]
        for i in range(depth)
    ]
    reserved = ", ".join(f"`{k}`" for k in reserved_keys(taxonomy))
    # Every per-region field, from the taxonomy: the registry attributes are lists.
    fields = dict.fromkeys(
        "the registry lists" if a.registry is not None else a.name
        for la in taxonomy.span_layers
        for a in la.attributes
    )
    return "".join(
        [
            "**Label keys** (the only keys the labeling config defines). With no region "
            "selected, a label key picks the label for the next selection: press it, then "
            "select the text. **With a region selected, a label key relabels that region**: a "
            "key of its own layer replaces its label (an id picked from the old label's list "
            "then no longer fits, and `validate` says so); a key of another layer adds a second "
            "label to it, which `validate` refuses (one label per region). Press `u` or "
            "`escape` to unselect first.\n\n",
            markdown_table([la.title for la in layers], rows),
            f"\n**Reserved keys**: {reserved or 'none'} do nothing, on purpose. Label Studio "
            "would give them to fields nobody chose keys for (a stray `n` set the article's "
            "stance; `7` with an entity selected wrote a realis onto the entity, where no "
            "field shows it), so the labeling config binds them to nothing. Per-region fields "
            f"({', '.join(fields)}) and the article-level fields have no key: use the mouse.\n",
        ]
    )
