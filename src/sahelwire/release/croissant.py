"""dist/croissant.json: MLCommons Croissant 1.1 metadata for every published config.

One ``cr:FileSet`` per config (``data/<config>/*.parquet``, resolved next to this file, so
the same JSON describes the local build and the Hub repo) and one ``cr:RecordSet`` per
config whose fields mirror the Parquet schema: scalars by column, list columns as arrays,
span lists as arrays of sub-fields read with a JSON path, plus a ``split`` field taken
from the file name. The Responsible-AI (``rai:``) fields that apply to a hand-annotated
news corpus are filled in; figures in them are computed from the built tables.

Nothing here depends on the clock: ``datePublished`` is left out on purpose (mlcroissant
only warns) because a date would make two builds of the same inputs differ.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sahelwire.io.config import SPLITS, Settings
from sahelwire.schema.table_specs import TableSpecs
from sahelwire.schema.taxonomy import Taxonomy

CROISSANT_FILE = "croissant.json"
CONFORMS_TO = "http://mlcommons.org/croissant/1.1"
ANNOTATION_LICENSE = "https://creativecommons.org/licenses/by/4.0/"

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


def citation(settings: Settings) -> str:
    """The BibTeX entry the card and the Croissant ``citeAs`` share."""
    version = settings.data_version
    return (
        f"@misc{{sahelwire_{version.replace('.', '_')},\n"
        "  title        = {SahelWire: an annotated corpus of news on US--Niger security relations (2023--2024)},\n"
        "  author       = {{SahelWire maintainers}},\n"
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

    def record_set(self, config: str, schema: pa.Schema, labels: Mapping[str, str]) -> dict:
        file_set = f"parquet-{config}"
        spec = self.specs.configs[config]
        described = {c.name: c.description for c in spec.columns}
        fields = [
            {
                "@type": "cr:Field",
                "@id": f"{config}/split",
                "name": "split",
                "description": "Split the row belongs to (train, validation or test), from the file name.",
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
        return {
            "@type": "cr:RecordSet",
            "@id": config,
            "name": config,
            "description": spec.description,
            "field": fields,
        }

    def document(
        self,
        schemas: Mapping[str, pa.Schema],
        class_labels: Mapping[str, Mapping[str, str]],
        rai: Mapping[str, Any],
    ) -> dict[str, Any]:
        """``schemas``: config -> Arrow schema, only for configs that have files."""
        s = self.settings
        distribution = [
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
        return {
            "@context": _CONTEXT,
            "@type": "sc:Dataset",
            "name": "sahelwire",
            "alternateName": "SahelWire US–Niger Security News",
            "description": (
                "Web news articles on US–Niger security relations (2023–2024), kept exactly as "
                "scraped and annotated by people in Label Studio: page zones, entity mentions "
                "with canonical ids, typed event mentions with realis and arguments, quantity "
                "claims with normalized values, and article-level stance, frame and quality flags."
            ),
            "conformsTo": CONFORMS_TO,
            "citeAs": citation(s),
            "license": ANNOTATION_LICENSE,
            "url": f"https://huggingface.co/datasets/{s.hub_repo_id}",
            "version": s.data_version,
            "inLanguage": "en",
            "keywords": ["news", "Niger", "Sahel", "event extraction", "entity linking"],
            "creator": {"@type": "sc:Organization", "name": "SahelWire maintainers"},
            "isLiveDataset": False,
            **rai,
            "distribution": distribution,
            "recordSet": [
                self.record_set(config, schema, class_labels.get(config, {}))
                for config, schema in schemas.items()
            ],
        }


def rai_fields(
    documents: Mapping[str, pa.Table], raw: Mapping[str, pa.Table], taxonomy: Taxonomy
) -> dict[str, Any]:
    """The Responsible-AI fields that apply; per-item counts and annotators come from the data."""
    accounts = sorted(
        {
            a
            for split in SPLITS
            for a in pc.unique(raw[split].column("annotator")).to_pylist()  # one per account
            if a
        }
    )
    # AI annotator accounts are named ai-annotator-N (annotations/annotators.json); say so
    ai_accounts = [a for a in accounts if a.startswith("ai-annotator")]
    counts: dict[int, int] = {}
    for split in SPLITS:
        for n in documents[split].column("n_annotators").to_pylist():
            counts[n] = counts.get(n, 0) + 1
    per_item = ", ".join(
        f"{articles} article(s) with {n} annotator(s)" for n, articles in sorted(counts.items())
    )
    layers = ", ".join(layer.name for layer in taxonomy.span_layers)
    return {
        "rai:dataCollection": (
            "Five English-language web news articles were collected by hand as copied page "
            "text (not HTML) and ingested unchanged; later articles are ingested the same way."
        ),
        "rai:dataCollectionType": ["Web scraping", "Manual Human Curation"],
        "rai:dataCollectionMissingData": (
            "Outlet, URL and publication date of the seed articles are unknown and published "
            "as null; they were not recoverable from the copied text."
        ),
        "rai:dataCollectionRawData": (
            "The raw texts are published unchanged in the `text` column (documents config), "
            "including navigation, promotions, captions, repeated lines and reader comments."
        ),
        "rai:dataPreprocessingProtocol": [
            "Only a UTF-8 byte-order mark is removed at ingest (recorded per article).",
            "clean_text removes the annotated non-body zones; nothing else is normalized.",
            "Span offsets are Unicode code points; every span is checked to equal text[start:end].",
        ],
        "rai:dataAnnotationProtocol": [
            f"Layers {layers} and article-level labels, following annotations/guidelines "
            "generated from schemas/taxonomy.yaml (taxonomy version "
            f"{taxonomy.version}).",
            "Pre-annotations from an offline gazetteer baseline are shown as predictions to "
            "correct; the gold layer is adjudicated from per-annotator annotations.",
        ],
        "rai:dataAnnotationPlatform": ["Label Studio Community Edition (local server)"],
        "rai:dataAnnotationAnalysis": [
            "Inter-annotator agreement (Krippendorff's alpha, pairwise span F1) is computed "
            "by `sahelwire agreement` wherever two or more annotators labelled an article."
        ],
        "rai:annotationsPerItem": per_item,
        "rai:annotatorDemographics": [
            "Not collected. Annotators are identified by pseudonymous account ids only: "
            + (", ".join(accounts) or "none yet")
            + "."
        ],
        "rai:machineAnnotationTools": [
            *(
                [
                    f"The account(s) {', '.join(ai_accounts)} are an AI assistant, not a "
                    "person: it wrote reviewable worksheets that were submitted through Label "
                    "Studio. Treat their annotations as silver until a human has reviewed them."
                ]
                if ai_accounts
                else []
            ),
            "Offline gazetteer/pattern pre-annotation baseline (sahelwire.labelstudio.prelabel), "
            "model version recorded per annotation in annotations_raw.",
        ],
        "rai:dataBiases": [
            "Tiny, English-only sample of mostly US-facing outlets; Nigerien, French-language "
            "and Hausa-language coverage is absent.",
            "Figures disagree across sources (e.g. 650 troops vs about 1,000 personnel) and "
            "are annotated as claims, not facts.",
        ],
        "rai:dataUseCases": [
            "Boilerplate removal, NER, entity linking, event extraction, cross-document "
            "coreference and numerical claim consistency research.",
            "Not validated for training production systems or for any decision about people.",
        ],
        "rai:dataLimitations": [
            "Too small for anything but evaluation, tutorials and method prototyping.",
            'Some texts contain factual slips ("Nigerian" for "Nigerien"); kept as data.',
        ],
        "rai:dataSocialImpact": (
            "Concerns an ongoing armed conflict and a military government; labels describe what "
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
) -> bytes:
    """croissant.json for the configs in ``published`` (config -> splits with a file)."""
    schemas = {
        c: next(iter(tables[c].values())).schema.remove_metadata()
        for c in tables
        if published.get(c)
    }
    doc = CroissantBuilder(settings, taxonomy, specs).document(
        schemas, class_labels, rai_fields(tables["documents"], tables["annotations_raw"], taxonomy)
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
