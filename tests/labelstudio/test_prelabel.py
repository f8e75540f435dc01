"""The offline pre-annotation baseline: exact spans on corpus sentences, emoji, determinism."""

from __future__ import annotations

import polars as pl
import pytest

from helpers import ROOT, SOURCE_SHAPES
from sahelwire.annotations.tables import TableCollector
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio import prelabel
from sahelwire.labelstudio.worksheets import attribute_kinds
from sahelwire.raw.manifest import load_articles
from sahelwire.schema.registries import Registries, load_registries
from sahelwire.schema.taxonomy import Taxonomy, load_taxonomy

PATHS = ProjectPaths(ROOT)


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy(PATHS.taxonomy_file)


@pytest.fixture(scope="module")
def registries() -> Registries:
    return load_registries(PATHS)


def _registry(rows: list[dict[str, object]]) -> Registries:
    """A small registry in the loader's frame shape, independent of schemas/entities.yaml."""
    entities = pl.DataFrame(
        [{"wikidata": None, "description": None, **r} for r in rows],
        schema={
            "id": pl.Utf8,
            "name": pl.Utf8,
            "type": pl.Utf8,
            "aliases": pl.List(pl.Utf8),
            "wikidata": pl.Utf8,
            "description": pl.Utf8,
        },
    )
    events = pl.DataFrame(
        schema={k: pl.Utf8 for k in ("id", "type", "date_start", "date_end", "description")}
    )
    return Registries(entities, events)


SMALL: list[dict[str, object]] = [
    {"id": "ent_niger", "name": "Niger", "type": "GPE", "aliases": ["Niger"]},
    {"id": "ent_niamey", "name": "Niamey", "type": "GPE", "aliases": ["Niamey"]},
    {"id": "ent_us", "name": "United States", "type": "GPE", "aliases": ["US", "U.S."]},
    {"id": "ent_africom", "name": "US Africa Command", "type": "ORG", "aliases": []},
    {"id": "ent_junta", "name": "Niger's military junta", "type": "ORG", "aliases": ["junta"]},
]


def _spans(regions: list[prelabel.Region], layer: str) -> list[tuple[str, str]]:
    return [(r.label, r.text) for r in regions if r.layer == layer]


def _article(prefix: str) -> str:
    return next(a.text for a in load_articles(PATHS) if a.id.startswith(prefix))


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        # Sentences copied from the seed articles (000, 001, 002, 003, 004).
        (
            "a deadly attack on a military base in the country, that resulted in the death "
            "of over 70 soldiers.",
            # taxonomy 3.0.0: "over" is a bound, not an estimate
            [("FATALITIES", "over 70 soldiers", 70.0, "soldiers", False, "MORE_THAN")],
        ),
        (
            "an orderly and responsible exit of approximately 1,000 U.S. military personnel "
            "from the West African nation.",
            [("PERSONNEL", "approximately 1,000", 1000.0, "people", True, "POINT")],
        ),
        (
            "the United States had around 650 troops in Niger",
            [("TROOPS", "around 650 troops", 650.0, "troops", True, "POINT")],
        ),
        ("$100 million in aid", [("MONEY", "$100 million", 1e8, "USD", False, "POINT")]),
        ("for nearly a decade", [("DURATION", "nearly a decade", 10.0, "years", True, "POINT")]),
        (
            "at least 3,500 soldiers from five countries",
            [
                ("TROOPS", "at least 3,500 soldiers", 3500.0, "soldiers", False, "AT_LEAST"),
                ("OTHER", "five countries", 5.0, "countries", False, "POINT"),
            ],
        ),
        (
            "thousands of people",
            [("OTHER", "thousands of people", 1000.0, "people", True, "POINT")],
        ),
        (
            "a thousand troops",
            [("TROOPS", "a thousand troops", 1000.0, "troops", False, "POINT")],
        ),
        # Ages are not durations, a year is no count, and "two years ago" is an offset.
        (
            "a man 70 years old said in 2023 that two years ago",
            [("TIME_OFFSET", "two years", 2.0, "years", False, "POINT")],
        ),
    ],
)
def test_quantities_on_corpus_sentences(
    sentence: str, expected: list[tuple[str, str, float, str, bool, str]]
) -> None:
    got = [
        (
            r.label,
            r.text,
            r.attributes["value"],
            r.attributes["unit"],
            r.attributes["approximate"],
            r.attributes["bound"],
        )
        for r in prelabel.quantity_regions(sentence)
    ]
    assert got == expected
    for r in prelabel.quantity_regions(sentence):
        assert sentence[r.start : r.end] == r.text


def test_gazetteer_longest_match_word_boundaries_and_case() -> None:
    reg = _registry(SMALL)
    tax = load_taxonomy(PATHS.taxonomy_file)
    text = "US Africa Command told us the Junta in Nigeria and the junta in Niger’s capital."
    regions = prelabel.entity_regions(text, reg, tax)
    got = sorted((r.start, r.label, r.text, r.attributes["entity_id"]) for r in regions)
    assert got == [
        (0, "GPE", "US", "ent_us"),  # nested inside the ORG, as taxonomy nesting allows
        (0, "ORG", "US Africa Command", "ent_africom"),
        (30, "ORG", "Junta", "ent_junta"),  # common-noun alias: sentence case too
        (55, "ORG", "junta", "ent_junta"),
        (64, "GPE", "Niger", "ent_niger"),  # "Nigeria" is not "Niger"; "Niger’s" is
    ]  # and "us" (lower case) is not the US


def test_real_article_entities_are_exact(registries: Registries, taxonomy: Taxonomy) -> None:
    text = _article("000")
    regions = prelabel.predict_regions(text, registries, taxonomy)
    assert regions, "the registry names appear in article 000"
    for r in regions:
        assert text[r.start : r.end] == r.text
    assert ("PERSON", "Matthew Miller") in _spans(regions, "entities")
    assert ("FATALITIES", "over 70 soldiers") in _spans(regions, "quantities")


def test_emoji_and_non_ascii_offsets_are_code_points(taxonomy: Taxonomy) -> None:
    reg = _registry(SMALL)
    text = "🇳🇪😀 Über Niamey: “Niger” — about 1,000 troops 👍🏽 left Niger."
    regions = prelabel.predict_regions(text, reg, taxonomy)
    got = [(r.layer, text[r.start : r.end]) for r in regions]
    assert ("entities", "Niamey") in got
    assert got.count(("entities", "Niger")) == 2
    assert ("quantities", "about 1,000 troops") in got
    for r in regions:
        assert text[r.start : r.end] == r.text


def test_results_parse_through_the_export_parser(
    registries: Registries, taxonomy: Taxonomy
) -> None:
    """Predictions on article 001 (emoji in its comments) are valid contract results."""
    article = next(a for a in load_articles(PATHS) if a.id.startswith("001"))
    results = prelabel.predict_results(article.text, registries, taxonomy)
    regions = prelabel.predict_regions(article.text, registries, taxonomy)
    task = {
        "id": 1,
        "data": {"text": article.text, "article_id": article.id, "text_sha256": article.sha256},
        "annotations": [
            {
                "id": 1,
                "unique_id": "3f0c9a52-6b7e-4d1f-8a2c-5e9b0d4f7a16",
                "completed_by": {"email": "a@example.org"},
                "result": results,
                "was_cancelled": False,
                "ground_truth": False,
                "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z",
                "lead_time": 1.0,
            }
        ],
    }
    collector = TableCollector(
        {article.id: (article.text, article.sha256)},
        taxonomy,
        {"a@example.org"},
        SOURCE_SHAPES,
    )
    collector.add_task(task, "predictions")
    tables = collector.tables()
    assert tables.problems == []
    names = ("entity_id", "realis", "value", "approximate", "bound")
    parsed = sorted(
        (r["layer"], r["label"], r["start"], r["end"], *(r[n] for n in names))
        for r in tables.regions.iter_rows(named=True)
    )
    expected = sorted(
        (r.layer, r.label, r.start, r.end, *(r.attributes.get(n) for n in names)) for r in regions
    )
    assert parsed == expected
    assert any(r[1] == "TROOPS" for r in parsed)
    # every predicted quantity carries a bound, and it survives the parser
    assert all(r[-1] is not None for r in parsed if r[0] == "quantities")


@pytest.mark.parametrize(
    ("phrase", "approximate", "bound"),
    [
        ("650 troops", False, "POINT"),
        ("about 650 troops", True, "POINT"),
        ("around 650 troops", True, "POINT"),
        ("nearly 650 troops", True, "POINT"),
        ("some 650 troops", True, "POINT"),
        ("thousands of troops", True, "POINT"),
        ("over 650 troops", False, "MORE_THAN"),
        ("more than 650 troops", False, "MORE_THAN"),
        ("above 650 troops", False, "MORE_THAN"),
        ("at least 650 troops", False, "AT_LEAST"),
        ("no fewer than 650 troops", False, "AT_LEAST"),
        ("under 650 troops", False, "LESS_THAN"),
        ("fewer than 650 troops", False, "LESS_THAN"),
        ("less than 650 troops", False, "LESS_THAN"),
        ("up to 650 troops", False, "AT_MOST"),
        ("at most 650 troops", False, "AT_MOST"),
        ("no more than 650 troops", False, "AT_MOST"),
    ],
)
def test_bound_comes_from_the_hedge_word_and_approximate_from_estimates_only(
    phrase: str, approximate: bool, bound: str, taxonomy: Taxonomy
) -> None:
    [region] = prelabel.quantity_regions(f"The US had {phrase} in Niger.")
    assert region.text == phrase  # the hedge word is part of the span
    assert (region.attributes["approximate"], region.attributes["bound"]) == (approximate, bound)
    assert bound in (taxonomy.layer("quantities").attribute("bound").values or ())  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("sentence", "label", "text"),
    [
        ("Blinken visited two years ago.", "TIME_OFFSET", "two years"),
        ("Four months later, Bazoum was deposed.", "TIME_OFFSET", "Four months"),
        ("They had left three weeks earlier.", "TIME_OFFSET", "three weeks"),
        ("They stayed for three weeks.", "DURATION", "three weeks"),
    ],
)
def test_an_offset_from_a_reference_time_is_time_offset(
    sentence: str, label: str, text: str
) -> None:
    [region] = prelabel.quantity_regions(sentence)
    assert (region.label, region.text) == (label, text)


def test_attribute_result_types_follow_the_labeling_config(taxonomy: Taxonomy) -> None:
    # prelabel writes attributes in the typed controls' form, as the config has them
    kinds = attribute_kinds(taxonomy)
    assert {n: kinds[n] for n in prelabel._ATTRIBUTE_KINDS} == prelabel._ATTRIBUTE_KINDS
    predicted = {"approximate", "bound", "value", "unit", "realis", "entity_id", "event_id"}
    assert predicted <= set(prelabel._ATTRIBUTE_KINDS)


def test_deterministic_and_versioned(registries: Registries, taxonomy: Taxonomy) -> None:
    text = _article("002")
    first = prelabel.predict_results(text, registries, taxonomy)
    assert first == prelabel.predict_results(text, registries, taxonomy)
    ids = [r["id"] for r in first if r["type"] == "labels"]
    assert len(ids) == len(set(ids)) and all(i.startswith("p") for i in ids)
    version = prelabel.model_version(registries, taxonomy)
    assert version.startswith(f"sahelwire-gazetteer-{taxonomy.version}-")
    assert version == prelabel.model_version(registries, taxonomy)
    changed = _registry(SMALL)
    assert prelabel.model_version(changed, taxonomy) != version


def test_module_model_version_follows_the_project(
    monkeypatch: pytest.MonkeyPatch, registries: Registries, taxonomy: Taxonomy
) -> None:
    # push reads prelabel.MODEL_VERSION; it is computed from the discovered project.
    monkeypatch.setenv("SAHELWIRE_ROOT", str(ROOT))
    assert prelabel.model_version(registries, taxonomy) == prelabel.MODEL_VERSION


def test_candidate_nesting_is_multi_level_and_never_repeats_the_same_entity(
    taxonomy: Taxonomy,
) -> None:
    reg = _registry(
        [
            *SMALL,
            {
                "id": "ent_langley",
                "name": "Michael Langley",
                "type": "PERSON",
                "aliases": ["the commander of US Africa Command"],
            },
            {
                "id": "ent_junta",
                "name": "junta",
                "type": "ORG",
                "aliases": ["ruling military junta", "military junta"],
            },
        ]
    )
    text = "the commander of US Africa Command met the ruling military junta"
    got = sorted((r.start, r.end, r.label) for r in prelabel.entity_regions(text, reg, taxonomy))
    assert got == [
        (0, 34, "PERSON"),
        (17, 19, "GPE"),  # a candidate under its direct parent ORG (PERSON > ORG > GPE)
        (17, 34, "ORG"),
        (43, 64, "ORG"),  # no nested "military junta"/"junta": same entity as its outer span
    ]


def test_model_version_follows_the_rules_not_the_layout() -> None:
    """Moving a module prelabel imports keeps the version; changing a rule changes it."""
    import inspect

    source = inspect.getsource(prelabel)
    assert prelabel.rules_fingerprint(source) == prelabel.rules_fingerprint()
    moved = source.replace(
        "from sahelwire.labelstudio.offsets import", "from sahelwire.elsewhere.offsets import"
    )
    assert moved != source
    assert prelabel.rules_fingerprint(moved + "\n# a comment\n") == prelabel.rules_fingerprint()
    first_rule = next(line for line in source.splitlines() if line.startswith("_") and "=" in line)
    changed = source.replace(first_rule, first_rule + "  # noqa\nEXTRA_RULE = 1", 1)
    assert prelabel.rules_fingerprint(changed) != prelabel.rules_fingerprint()


LANGLEY: list[dict[str, object]] = [
    *SMALL,
    {
        "id": "ent_langley",
        "name": "Michael Langley",
        "type": "PERSON",
        "aliases": ["the commander of US Africa Command"],
    },
]


def test_a_prediction_never_nests_what_the_span_rules_forbid(taxonomy: Taxonomy) -> None:
    """GPE inside ORG inside PERSON: (PERSON, GPE) is not an allowed pair, so the GPE goes,
    and the prediction says which region went and why."""
    reg = _registry(LANGLEY)
    text = "the commander of US Africa Command met the junta"
    got = prelabel.predict(text, reg, taxonomy)
    assert [(r.start, r.end, r.label) for r in got.regions] == [
        (0, 34, "PERSON"),
        (17, 34, "ORG"),
        (35, 38, "MEETING"),
        (43, 48, "ORG"),
    ]
    assert [(d.region.label, d.region.text, d.kept.label) for d in got.dropped] == [
        ("GPE", "US", "PERSON")
    ]
    assert "mentions nest only as the taxonomy allows" in got.dropped[0].describe()
    assert prelabel.predict_regions(text, reg, taxonomy) == got.regions
    assert prelabel.check_predictions({"a": text}, {"a": got.regions}, taxonomy, reg) == []
    # The candidates alone do break the rule: the check is not vacuous.
    candidates = prelabel.candidate_regions(text, reg, taxonomy)
    problems = prelabel.check_predictions({"a": text}, {"a": candidates}, taxonomy, reg)
    assert [p.rule for p in problems] == ["mentions nest only as the taxonomy allows"]


def test_span_rule_selection_is_deterministic_whatever_the_input_order(
    taxonomy: Taxonomy,
) -> None:
    reg = _registry(LANGLEY)
    text = "the commander of US Africa Command met the junta in Niamey, Niger."
    candidates = prelabel.candidate_regions(text, reg, taxonomy)
    kept, dropped = prelabel.apply_span_rules(candidates, taxonomy)
    again = prelabel.apply_span_rules(list(reversed(candidates)), taxonomy)
    assert (kept, dropped) == again
    assert len(kept) + len(dropped) == len(candidates)


def test_every_corpus_prediction_passes_the_span_rules(
    registries: Registries, taxonomy: Taxonomy
) -> None:
    articles = load_articles(PATHS)
    predictions = {a.id: prelabel.predict(a.text, registries, taxonomy) for a in articles}
    problems = prelabel.check_predictions(
        {a.id: a.text for a in articles},
        {aid: p.regions for aid, p in predictions.items()},
        taxonomy,
        registries,
    )
    assert problems == []
    # Article 002 names "the commander of US Africa Command" (issue 15's invalid nesting).
    dropped = [d for p in predictions.values() for d in p.dropped]
    assert [(d.region.label, d.kept.label) for d in dropped] == [("GPE", "PERSON")]


@pytest.mark.parametrize(
    ("sentence", "realis"),
    [
        ("The junta did not attack the base.", "NEGATED"),
        ("They didn’t attack.", "NEGATED"),
        ("No agreement was reached.", "NEGATED"),
        ("The two sides never met.", "NEGATED"),
        ("The talks are no longer planned.", None),  # the negation is not before the trigger
        # The negation scopes over "demanded": gold calls this withdrawal HYPOTHETICAL.
        ("Niger has not demanded the withdrawal of US forces.", None),
        ("The attack killed 20.", None),
        ("The US will withdraw its troops.", None),  # future: no rule, the annotator decides
    ],
)
def test_realis_only_on_a_negation_directly_before_the_trigger(
    sentence: str, realis: str | None
) -> None:
    events = prelabel.event_regions(sentence)
    assert len(events) == 1
    assert events[0].attributes.get("realis") == realis
    if realis is None:
        assert "realis" not in events[0].attributes  # no realis result is sent at all


def test_results_carry_no_realis_without_evidence(
    registries: Registries, taxonomy: Taxonomy
) -> None:
    text = "The junta did not attack the base. Later, a coup ousted the president."
    results = prelabel.predict_results(text, registries, taxonomy)
    events = {r["id"]: r for r in results if r["from_name"] == "events"}
    realis = {r["id"]: r["value"]["choices"] for r in results if r["from_name"] == "realis"}
    assert sorted(e["value"]["text"] for e in events.values()) == ["attack", "coup", "ousted"]
    assert [events[i]["value"]["text"] for i in realis] == ["attack"]
    assert list(realis.values()) == [["NEGATED"]]


def test_score_is_the_share_of_verbatim_registry_matches(taxonomy: Taxonomy) -> None:
    reg = _registry(SMALL)
    # Regions: "Junta" (case-relaxed alias), "Niger" (verbatim), "about 1,000 troops"
    # (quantity pattern), "attack" (event cue): 1 verbatim of 4.
    text = "Junta troops in Niger: about 1,000 troops after the attack."
    got = prelabel.predict(text, reg, taxonomy)
    sources = sorted(r.source for r in got.regions)
    assert sources == sorted([prelabel.REGISTRY_CASE, prelabel.REGISTRY, "pattern", "pattern"]), [
        (r.text, r.source) for r in got.regions
    ]
    assert got.score == 0.25
    assert prelabel.prediction_score([]) == 0.0
    only_names = prelabel.predict("Niamey and Niger", reg, taxonomy)
    assert only_names.score == 1.0


def test_push_refuses_predictions_that_still_break_a_span_rule(
    registries: Registries, taxonomy: Taxonomy
) -> None:
    """The last guard before anything is sent: a prediction whose regions skipped the span
    rules' selection (a defect) stops the push, naming article, region, rule and value."""
    from sahelwire.labelstudio.push import (
        PredictionsInvalid,
        Predictor,
        PushSummary,
        _checked_predictions,
    )

    def unselected(text: str) -> prelabel.Prediction:
        regions = prelabel.candidate_regions(text, registries, taxonomy)
        return prelabel.Prediction(regions, [], prelabel.region_results(text, regions))

    articles = load_articles(PATHS)
    defect = Predictor(
        "defect",
        unselected,
        lambda texts, regions: prelabel.check_predictions(texts, regions, taxonomy, registries),
    )
    with pytest.raises(PredictionsInvalid) as err:
        _checked_predictions(defect, articles, PushSummary())
    (problem,) = err.value.problems
    assert "002_4eb8b75709aad65d" in problem and "mentions nest only" in problem
    assert "GPE overlaps PERSON" in problem
    assert "nothing pushed" in str(err.value)
    # The real predictor passes the same articles and reports what it dropped.
    real = Predictor(
        "real",
        lambda text: prelabel.predict(text, registries, taxonomy),
        defect.check,
    )
    summary = PushSummary()
    assert set(_checked_predictions(real, articles, summary)) == {a.id for a in articles}
    assert len(summary.dropped) == 1 and summary.dropped[0].startswith(
        "article 002_4eb8b75709aad65d: entities GPE 'US'"
    )
