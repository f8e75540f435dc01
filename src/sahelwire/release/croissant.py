"""dist/croissant.json: MLCommons Croissant 1.1 metadata for every published config.

- Distribution: every Parquet file as a ``cr:FileObject`` with its SHA-256 and size, and
  one ``cr:FileSet`` per config (``data/<config>/*.parquet``, resolved next to this file,
  so the same JSON describes the local build and the Hub repo) that its record set reads.
- One ``cr:RecordSet`` per config whose fields mirror the Parquet schema: scalars by
  column, list columns as arrays, span lists as arrays of sub-fields read with a JSON path
  (the events record set's ``arguments`` included), plus a ``split`` field taken from the
  file name; its ``key`` and each field's ``references`` come from schemas/tables.yaml.
- The Responsible-AI (``rai:``) fields: every figure and name in them is computed from the
  data (``card.facts``), as in the card.

Nothing here depends on the clock: ``datePublished`` is the data's date (its newest
annotation), so two builds of the same inputs are byte-identical.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from sahelwire.io.config import SPLITS, Settings
from sahelwire.release.card.facts import AnnotationFacts, metadata_nulls, value_counts
from sahelwire.release.card.template import LICENSE_SUMMARY
from sahelwire.schema.table_specs import TableSpecs
from sahelwire.schema.taxonomy import Taxonomy

CROISSANT_FILE = "croissant.json"
CONFORMS_TO = "http://mlcommons.org/croissant/1.1"

# The JSON-LD context of Croissant 1.1 (as mlcroissant 1.1.1 writes it).
_CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "arrayShape": "cr:arrayShape",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "containedIn": "cr:containedIn",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isArray": "cr:isArray",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}


def citation(settings: Settings, date: str | None) -> str:
    """The BibTeX entry the card, Croissant ``citeAs`` and the loaded dataset's info share.

    ``date``: the data's date (``card.facts.data_date``); its year is the entry's year.
    """
    version = settings.data_version
    year = f"  year         = {{{date[:4]}}},\n" if date else ""
    return (
        f"@misc{{sahelwire_{version.replace('.', '_')},\n"
        "  title        = {SahelWire: an annotated corpus of news on US--Niger security relations (2023--2024)},\n"
        "  author       = {{SahelWire maintainers}},\n"
        + year
        + f"  version      = {{{version}}},\n"
        f"  howpublished = {{\\url{{https://huggingface.co/datasets/{settings.hub_repo_id}}}}},\n"
        f"  note         = {{Data version {version}, Hugging Face revision v{version}}},\n"
        "}\n"
    )


def _data_type(type_: pa.DataType) -> str:
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return "sc:Text"
    if pa.types.is_boolean(type_):
        return "sc:Boolean"
    if pa.types.is_integer(type_):
        return "sc:Integer"
    if pa.types.is_floating(type_):
        return "sc:Float"
    raise TypeError(f"no Croissant data type for Arrow type {type_}")


def _is_list(type_: pa.DataType) -> bool:
    return bool(pa.types.is_list(type_) or pa.types.is_large_list(type_))


class CroissantBuilder:
    """Builds the Croissant document from the built tables (schemas) and settings."""

    def __init__(self, settings: Settings, taxonomy: Taxonomy, specs: TableSpecs) -> None:
        self.settings = settings
        self.taxonomy = taxonomy
        self.specs = specs

    def _source(self, file_set: str, column: str, json_path: str | None = None) -> dict[str, Any]:
        source: dict[str, Any] = {"fileSet": {"@id": file_set}, "extract": {"column": column}}
        if json_path:
            source["transform"] = {"jsonPath": json_path}
        return source

    def _sub_fields(
        self, parent: str, file_set: str, column: str, struct: pa.StructType, path: str
    ) -> list[dict[str, Any]]:
        """Sub-fields of a list-of-struct column; each one is the array of that member."""
        fields = []
        for member in struct:
            field: dict[str, Any] = {
                "@type": "cr:Field",
                "@id": f"{parent}/{member.name}",
                "name": member.name,
                "isArray": True,
                "arrayShape": "-1",
            }
            if _is_list(member.type) and pa.types.is_struct(member.type.value_type):
                # A list of structs inside a list of structs (documents.events[].arguments):
                # mlcroissant 1.1.1 silently drops such a sub-sub-field, so it is not
                # declared here; the `events` config carries the arguments at top level.
                continue
            field["dataType"] = _data_type(member.type)
            field["source"] = self._source(file_set, column, f"{path}.{member.name}")
            fields.append(field)
        return fields

    def _field(self, config: str, file_set: str, column: pa.Field, description: str) -> dict:
        field: dict[str, Any] = {
            "@type": "cr:Field",
            "@id": f"{config}/{column.name}",
            "name": column.name,
            "description": description,
        }
        type_ = column.type
        if _is_list(type_):
            field["isArray"] = True
            field["arrayShape"] = "-1"
            type_ = type_.value_type
            if pa.types.is_struct(type_):
                skipped = [m.name for m in type_ if _is_list(m.type)]
                if skipped:
                    field["description"] += (
                        f" Not described here: {', '.join(skipped)} (see the events config)."
                    )
                field["subField"] = self._sub_fields(
                    field["@id"], file_set, column.name, type_, "[*]"
                )
                field["source"] = self._source(file_set, column.name)
                return field
        field["dataType"] = _data_type(type_)
        field["source"] = self._source(file_set, column.name)
        return field

    def record_set(
        self,
        config: str,
        schema: pa.Schema,
        labels: Mapping[str, str],
        published: frozenset[str] = frozenset(),
    ) -> dict:
        """The record set of one config; ``published``: configs with files (reference targets)."""
        file_set = f"parquet-{config}"
        spec = self.specs.configs[config]
        described = {c.name: c.description for c in spec.columns}
        fields = [
            {
                "@type": "cr:Field",
                "@id": f"{config}/split",
                "name": "split",
                "description": "Split the row belongs to (train, validation or test; "
                f"{self.specs.unsplit} for a config that is not split by article), from the file name.",
                "dataType": "sc:Text",
                "source": {
                    "fileSet": {"@id": file_set},
                    "extract": {"fileProperty": "fullpath"},
                    "transform": {
                        "regex": rf"^(?:.*/)?({'|'.join((*SPLITS, self.specs.unsplit))})-[0-9]+-of-[0-9]+\.parquet$"
                    },
                },
            }
        ]
        for column in schema:
            text = described.get(column.name, "")
            if column.name in labels:
                text += f" Class labels (integer index into): {labels[column.name]}."
            fields.append(self._field(config, file_set, column, text.strip()))
        for f in fields:
            target = spec.references.get(str(f["name"]))
            if target and target.split(".")[0] in published:
                f["references"] = {"field": {"@id": target.replace(".", "/")}}
        record: dict[str, Any] = {
            "@type": "cr:RecordSet",
            "@id": config,
            "name": config,
            "description": spec.description,
        }
        if spec.key:
            keys = [{"@id": f"{config}/{k}"} for k in spec.key]
            record["key"] = keys[0] if len(keys) == 1 else keys
        return {**record, "field": fields}

    def document(
        self,
        schemas: Mapping[str, pa.Schema],
        class_labels: Mapping[str, Mapping[str, str]],
        rai: Mapping[str, Any],
        facts: DatasetFacts,
    ) -> dict[str, Any]:
        """``schemas``: config -> Arrow schema, only for configs that have files."""
        s = self.settings
        # Every Parquet file with its SHA-256 and size (integrity), then one FileSet per
        # config that the record sets read (a record set reads all splits of its config).
        files = [
            {
                "@type": "cr:FileObject",
                "@id": name,
                "name": name,
                "description": f"The {name.split('/')[2].split('-')[0]} split of the "
                f"{name.split('/')[1]} config.",
                "contentUrl": name,
                "encodingFormat": "application/x-parquet",
                "contentSize": f"{size} B",
                "sha256": sha256,
            }
            for name, (size, sha256) in sorted(facts.files.items())
        ]
        file_sets = [
            {
                "@type": "cr:FileSet",
                "@id": f"parquet-{config}",
                "name": f"parquet-{config}",
                "description": f"Parquet files of the {config} config, one per split.",
                "encodingFormat": "application/x-parquet",
                "includes": f"data/{config}/*.parquet",
            }
            for config in schemas
        ]
        dated = {"datePublished": facts.date} if facts.date else {}
        return {
            "@context": _CONTEXT,
            "@type": "sc:Dataset",
            "name": "sahelwire",
            "alternateName": "SahelWire US–Niger Security News",
            "description": facts.summary,
            "conformsTo": CONFORMS_TO,
            "citeAs": citation(s, facts.date),
            # The whole statement, as the card's YAML (license: other) and ds.info.license
            # give it: the CC BY URL alone said the copyrighted article texts were CC BY too.
            "license": LICENSE_SUMMARY,
            "url": f"https://huggingface.co/datasets/{s.hub_repo_id}",
            "version": s.data_version,
            **dated,
            "inLanguage": "en",
            "keywords": ["news", "Niger", "Sahel", "event extraction", "entity linking"],
            "creator": {"@type": "sc:Organization", "name": "SahelWire maintainers"},
            "isLiveDataset": False,
            **rai,
            "distribution": [*files, *file_sets],
            "recordSet": [
                self.record_set(config, schema, class_labels.get(config, {}), frozenset(schemas))
                for config, schema in schemas.items()
            ],
        }


@dataclass(frozen=True)
class DatasetFacts:
    """What Croissant states about the data beyond its schema, all computed from it."""

    summary: str  # the one-paragraph description (also the loaded dataset's description)
    date: str | None  # card.facts.data_date
    annotation: AnnotationFacts
    disagreements: list[dict[str, Any]]
    organisations: list[dict[str, Any]]
    # data/... -> (size in bytes, sha256) of the Parquet file
    files: Mapping[str, tuple[int, str]] = field(default_factory=dict)


def summary(facts: AnnotationFacts, n_articles: int) -> str:
    """The dataset description shared by Croissant, the card's dataset_info and ``ds.info``."""
    # Who annotated (and who adjudicated) follows the list of layers, as sentences of its own:
    # run into it, the reviewers' sentence read as if they had made the layers.
    layers = (
        "page zones, entity mentions linked to an entity registry, typed event mentions with "
        "realis, arguments and an event registry, quantity claims with normalized values and "
        "units, and article-level stance, frame and quality flags"
    )
    about = (
        f"{n_articles} web news article(s) on US–Niger security relations (2023–2024), kept "
        "exactly as scraped"
    )
    if not facts.accounts:
        return f"{about}, to be annotated in Label Studio with {layers} (no annotation yet)."
    return f"{about}, with {layers}. {facts.annotators_sentence()}"


def rai_fields(
    documents: Mapping[str, pa.Table], taxonomy: Taxonomy, facts: DatasetFacts
) -> dict[str, Any]:
    """The Responsible-AI fields that apply, each figure computed from the data."""
    ann = facts.annotation
    n_docs = sum(t.num_rows for t in documents.values())
    counts = value_counts(documents.values(), "n_annotators")
    per_item = ", ".join(
        f"{articles} article(s) with {n} annotator(s)" for n, articles in sorted(counts.items())
    )
    multi = sum(a for n, a in counts.items() if n >= 2)
    spoken: Counter[str] = Counter()
    for value, n in value_counts(documents.values(), "language").items():
        spoken[str(value)] += n
    languages = ", ".join(f"{k} {n}" for k, n in sorted(spoken.items())) or "none"
    nulls = metadata_nulls(documents, ("outlet", "url", "published_date"))
    named = "; ".join(
        f"article {o['article_id']} names {o['organisation']} in a {o['zone']} zone"
        for o in facts.organisations
    )
    figures = "; ".join(
        f"{d['quantity_type']} in story cluster {d['story_cluster']}: "
        + " vs ".join(f'{c["article_id"]} "{c["text"]}"' for c in d["claims"])
        for d in facts.disagreements
    )
    models = ", ".join(f"{m} ({n})" for m, n in ann.predictions_per_model.items())
    layers = ", ".join(layer.name for layer in taxonomy.span_layers)
    machine = []
    if ann.ai_accounts:
        machine.append(
            f"The account(s) {', '.join(ann.ai_accounts)} are an AI assistant, not a person "
            "(account naming rule): it wrote reviewable worksheets that were submitted through "
            "the Label Studio API. Treat their annotations as silver until a human has "
            "reviewed them."
        )
        machine += ann.independence_sentences()
    if ann.predictions:
        machine.append(
            f"Pre-annotation baseline (sahelwire.labelstudio.prelabel): {ann.predictions} "
            f"prediction(s) on {ann.tasks_with_predictions} task(s), model versions {models}; "
            "published in annotations_raw with source = prediction. "
            f"{ann.from_prediction} of {ann.annotations} annotation(s) record starting from one."
        )
    return {
        "rai:dataCollection": (
            f"{n_docs} web news article(s) (language detected at ingest: {languages}) were "
            "copied by hand as page text (not HTML) and ingested unchanged."
        ),
        "rai:dataCollectionType": ["Web scraping", "Manual Human Curation"],
        "rai:dataCollectionMissingData": (
            "Source metadata is null where it was not recorded at ingest (never guessed): "
            + ", ".join(f"{c} {n} of {n_docs}" for c, n in nulls.items())
            + "."
            + (
                f" The page text itself names organisations outside the article body: {named}."
                if named
                else ""
            )
        ),
        "rai:dataCollectionRawData": (
            "The raw texts are published unchanged in the `text` column (documents config), "
            "including navigation, promotions, captions, repeated lines and reader comments."
        ),
        "rai:dataPreprocessingProtocol": [
            "Only a UTF-8 byte-order mark is removed at ingest (recorded per article).",
            "clean_text removes the annotated non-body zones, then collapses the runs of blank "
            "lines they leave to one and strips whitespace at both ends; nothing else is "
            "normalized.",
            "Span offsets are Unicode code points; every span is checked to equal text[start:end].",
            "Quantity units are mapped to the taxonomy's controlled unit list; the typed unit is kept.",
        ],
        "rai:dataAnnotationProtocol": [
            f"Layers {layers} and article-level labels, following annotations/GUIDELINES.md "
            f"and schemas/taxonomy.yaml (taxonomy version {taxonomy.version}).",
            ann.annotators_sentence(),
            # How a person was kept independent, as the card says it (the AI accounts' is in
            # rai:machineAnnotationTools)
            *[s for s in (ann.human_independence_sentence(),) if s],
            "The gold layer is adjudicated from the per-annotator annotations by recorded rules; "
            "a single annotator's annotation is taken as is.",
        ],
        "rai:dataAnnotationPlatform": ["Label Studio Community Edition (local server)"],
        "rai:dataAnnotationAnalysis": [
            f"{multi} article(s) have two or more annotators; inter-annotator agreement "
            + (
                "(Krippendorff's alpha, pairwise span F1) is computed on them by `sahelwire agreement`."
                if multi
                else "was therefore not measured and none is reported."
            )
        ],
        "rai:annotationsPerItem": per_item,
        "rai:annotatorDemographics": [
            "Not collected. Annotators are identified by account ids only: "
            + (", ".join(ann.accounts) or "none yet")
            + (
                f"; AI assistant account(s): {', '.join(ann.ai_accounts)}"
                if ann.ai_accounts
                else ""
            )
            + "."
        ],
        "rai:machineAnnotationTools": machine or ["None."],
        "rai:dataBiases": [
            "Tiny, English-only sample of mostly US-facing outlets; Nigerien, French-language "
            "and Hausa-language coverage is absent.",
            "Figures disagree across sources and are annotated as claims, not facts"
            + (f" ({figures})." if figures else "."),
        ],
        "rai:dataUseCases": [
            "Boilerplate removal, NER, entity linking, event extraction, cross-document "
            "coreference and numerical claim consistency research.",
            "Not validated for training production systems or for any decision about people.",
        ],
        "rai:dataLimitations": [
            f"{n_docs} article(s): too few for anything but evaluation, tutorials and method "
            "prototyping; use the folds config to evaluate on every article.",
            "Texts are kept as written, factual slips and demonym confusions included.",
        ],
        "rai:dataSocialImpact": (
            "Concerns an armed conflict and a military government; labels describe what "
            "texts say and must not be read as claims about what happened."
        ),
        "rai:personalSensitiveInformation": [
            "Names of public officials; reader comments with personal opinions under "
            "pseudonyms as published by the outlet."
        ],
        "rai:dataReleaseMaintenancePlan": (
            "Semantic versions (MAJOR schema/label break, MINOR new articles or annotations, "
            "PATCH corrections), each tagged vX.Y.Z on the Hub with a release manifest and a "
            "changelog generated from a data diff. Takedown requests via the dataset repository."
        ),
    }


def croissant_bytes(
    settings: Settings,
    taxonomy: Taxonomy,
    specs: TableSpecs,
    tables: Mapping[str, Mapping[str, pa.Table]],
    published: Mapping[str, list[str]],
    class_labels: Mapping[str, Mapping[str, str]],
    facts: DatasetFacts,
) -> bytes:
    """croissant.json for the configs in ``published`` (config -> splits with a file)."""
    schemas = {
        c: next(iter(tables[c].values())).schema.remove_metadata()
        for c in tables
        if published.get(c)
    }
    doc = CroissantBuilder(settings, taxonomy, specs).document(
        schemas, class_labels, rai_fields(tables["documents"], taxonomy, facts), facts
    )
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


def class_label_names(features: Any) -> dict[str, str]:
    """Top-level column -> "0=NAME, 1=NAME..." for ClassLabel (or list of ClassLabel) columns."""
    import datasets

    out: dict[str, str] = {}
    for name, feature in features.items():
        inner = getattr(feature, "feature", feature)
        if isinstance(inner, datasets.ClassLabel):
            out[name] = ", ".join(f"{i}={n}" for i, n in enumerate(inner.names))
    return out
