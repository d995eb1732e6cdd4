"""Synthetic inputs over dimensions, end to end against the local fake LLM server: coverage of every value,
duplicates dropped, cache (zero calls on re-run), dry run, per-tuple errors, stable ids, atomic CSV."""

import csv
import itertools
import json
import random
import sys
import time
import types
import warnings
from collections import Counter
from dataclasses import replace

import pytest

from sheetsync.config import load_config
from sheetsync.errors import UserInputError
from sheetsync.generate import (
    CoverageWarning,
    Deduper,
    Dimension,
    Dimensions,
    Value,
    enumerate_tuples,
    generate,
    is_near_duplicate,
    load_dimensions,
    normalise,
    parse_tuples,
)
from sheetsync.testing.fake_profiles import PROFILES
from sheetsync.workspace import template_text
from tests.fake_llm import fake_llm

DIMS_TOML = """
about = "A support assistant for a train-ticket app."

[dimensions.feature]
description = "What the user wants"
values = ["refund", "seat change", { name = "lost ticket", description = "the ticket cannot be found" }, "delay"]

[dimensions]
persona = ["student", "retiree", "commuter"]

[dimensions.scenario.values]
clear = "everything needed is given"
vague = "key facts are missing"
"""
N_TUPLES = 4 * 3 * 2

VOCAB = ["apple", "bridge", "candle", "dragon", "engine", "forest", "garden", "harbor", "island", "jacket", "kettle", "ladder", "magnet", "needle", "orange", "pencil", "quartz", "rocket", "saddle", "tunnel", "umbrella", "valley", "wallet", "yogurt", "zipper", "anchor", "basket", "cactus", "dolphin", "eagle", "falcon", "glacier", "hammer", "igloo", "jungle", "koala", "lantern", "meadow", "nectar", "oyster", "parrot", "quiver", "rabbit", "salmon", "tiger", "unicorn", "violin", "walrus", "xylophone", "yacht", "zebra", "acorn", "blossom", "canyon", "desert", "ember", "fossil", "geyser", "horizon", "ivory", "jasmine", "kayak", "lemon", "marble", "nutmeg", "orchid", "pepper", "quilt", "ribbon", "spruce", "thistle", "urchin", "velvet", "willow"]


def words(seed: object, n: int = 16) -> str:
    return " ".join(random.Random(str(seed)).sample(VOCAB, n))


def tuple_of(request: dict) -> dict[str, str]:
    """The dimension values the generator asked for, read back from the user message."""
    lines = request["messages"][-1]["content"].splitlines()
    pairs = [line[2:].split(": ", 1) for line in lines if line.startswith("- ")]
    return {k: v.split(" (", 1)[0] for k, v in pairs}


def noisy_generator(request: dict) -> dict:
    """Three good inputs per tuple, interleaved with an exact duplicate and two near-duplicates of the first."""
    t = tuple_of(request)
    a, b, c, d = (f"As a {t['persona']} ({t['scenario']}), {t['feature']}: {words((sorted(t.items()), i))}"
                  for i in range(4))
    return {"inputs": [a, a.upper() + " !!", b, " ".join(reversed(a.split())), a + " please", c, d]}


@pytest.fixture(params=PROFILES)
def fake(monkeypatch, request):
    """The fake server in each profile of the servers people run (sheetsync.testing.fake_profiles)."""
    with fake_llm(monkeypatch, responder=noisy_generator, profile=request.param) as server:
        yield server


@pytest.fixture
def ws(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dims.toml").write_text(DIMS_TOML)
    cfg = load_config(cwd=tmp_path)
    return replace(cfg, judge=replace(cfg.judge, max_retries=0))  # failures fail fast in tests


def read_csv(path):
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def dims_of(sizes: list[int]) -> Dimensions:
    return Dimensions(tuple(Dimension(f"d{i}", tuple(Value(f"v{j}") for j in range(s))) for i, s in enumerate(sizes)))


# -- dimensions file ----------------------------------------------------------------------------------------


def test_dimensions_file_shapes(ws, tmp_path):
    dims = load_dimensions(tmp_path / "dims.toml")
    assert dims.names == ["feature", "persona", "scenario"]
    assert dims.about.startswith("A support assistant")
    assert dims["feature"].description == "What the user wants"
    assert dims["feature"].value("lost ticket").description == "the ticket cannot be found"
    assert [v.name for v in dims["scenario"].values] == ["clear", "vague"]
    assert dims["scenario"].value("vague").description == "key facts are missing"
    assert dims.combinations == N_TUPLES


def test_shipped_example_is_valid(tmp_path):
    path = tmp_path / "dimensions.toml"
    path.write_text(template_text("dimensions.toml"))
    dims = load_dimensions(path)
    assert dims.names == ["feature", "scenario", "persona"] and dims.about


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[dimensions]\npersona = []", "dimensions.persona: no values"),
        ('[dimensions]\npersona = ["a", "A"]', r"dimensions.persona\[1\]: duplicate value 'A'"),
        ('[dimensions]\ninput = ["a"]', "dimensions.input: `input` is a column generate writes"),
        ('[dimensions.persona]\ndescription = "x"', "dimensions.persona: missing `values`"),
        ('[dimensions.persona]\nvalues = ["a", { label = "b" }]', r"dimensions.persona.values\[1\]: unknown key"),
        ('[dimensions]\npersona = ["a", true]', r"dimensions.persona\[1\]: expected a value name"),
        ("[dimensions]\npersona = 3", "dimensions.persona: expected a list of values"),
        ('persona = ["a"]', "unknown top-level key"),
        ("about = 'x'", "dimensions: expected a table with at least one dimension"),
        ("[dimensions\n", "not valid TOML"),
    ],
)
def test_dimension_errors_name_file_and_key(tmp_path, text, message):
    path = tmp_path / "dims.toml"
    path.write_text(text)
    with pytest.raises(UserInputError, match=message) as err:
        load_dimensions(path)
    assert str(path) in str(err.value)


def test_yaml_needs_pyyaml_or_suggests_toml(tmp_path, monkeypatch):
    path = tmp_path / "dims.yaml"
    path.write_text('{"dimensions": {"persona": ["novice", {"name": "expert", "description": "pro"}]}}')
    monkeypatch.setitem(sys.modules, "yaml", None)  # as if PyYAML were not installed
    with pytest.raises(UserInputError, match=r"needs PyYAML.*TOML"):
        load_dimensions(path)
    stub = types.SimpleNamespace(safe_load=json.loads, YAMLError=ValueError)  # JSON is YAML
    monkeypatch.setitem(sys.modules, "yaml", stub)
    dims = load_dimensions(path)
    assert dims["persona"].value("expert").description == "pro"


# -- tuples ------------------------------------------------------------------------------------------------


def test_all_tuples_are_every_combination_in_file_order(ws, tmp_path):
    dims = load_dimensions(tmp_path / "dims.toml")
    tuples = enumerate_tuples(dims, tuples="all")
    assert len(tuples) == N_TUPLES and len({tuple(t.items()) for t in tuples}) == N_TUPLES
    assert tuples[0] == {"feature": "refund", "persona": "student", "scenario": "clear"}
    assert tuples[1] == {"feature": "refund", "persona": "student", "scenario": "vague"}


@pytest.mark.parametrize("sizes", [[4, 3, 2], [5, 5], [7, 1, 3, 2], [2, 2, 2, 2, 2], [6]])
def test_sampled_tuples_cover_every_value_whenever_n_reaches_the_widest_dimension(sizes):
    dims = dims_of(sizes)
    total, widest = dims.combinations, max(sizes)
    for seed in range(60):
        for n in range(widest, min(total, widest + 12) + 1):
            with warnings.catch_warnings():
                warnings.simplefilter("error", CoverageWarning)  # no warning when coverage is possible
                tuples = enumerate_tuples(dims, tuples=n, seed=seed)
            assert len(tuples) == n and len({tuple(t.items()) for t in tuples}) == n
            for d in dims.dimensions:
                assert {t[d.name] for t in tuples} == {v.name for v in d.values}, (sizes, seed, n, d.name)


def test_sampling_is_balanced_seeded_and_warns_when_too_small():
    dims = dims_of([4, 3, 2])
    tuples = enumerate_tuples(dims, tuples=12, seed=7)
    counts = Counter(t["d0"] for t in tuples)
    assert max(counts.values()) - min(counts.values()) <= 1  # balanced, not just covered
    assert enumerate_tuples(dims, tuples=12, seed=7) == tuples
    assert enumerate_tuples(dims, tuples=12, seed=8) != tuples
    with pytest.warns(CoverageWarning, match=r"cannot show every value of d0 \(4 values\).*--tuples 4"):
        few = enumerate_tuples(dims, tuples=3, seed=0)
    assert len(few) == 3
    with pytest.warns(CoverageWarning, match="only 24 combinations"):
        assert len(enumerate_tuples(dims, tuples=100)) == 24


def test_parse_tuples():
    assert parse_tuples("all") == "all" and parse_tuples("12") == 12 and parse_tuples(3) == 3
    for bad in ("0", "-1", "some", 0):
        with pytest.raises(UserInputError):
            parse_tuples(bad)


# -- duplicates --------------------------------------------------------------------------------------------


def test_near_duplicate_rule():
    near = [
        ("How do I reset my password?", "how do I reset my password"),  # exact once normalised
        ("How do I reset my password?", "How can I reset my password?"),  # small edit: difflib ratio
        ("I want a refund for my train ticket from Paris to Lyon yesterday",
         "Yesterday, my train ticket from Paris to Lyon: I want a refund for it"),  # reordered: Jaccard
        ("Cancel order 12345 please", "Cancel order 12346 please"),  # one changed digit
    ]
    different = [
        ("How do I reset my password?", "How do I cancel my subscription?"),
        ("Refund my ticket", "Change my seat"),
        ("As a student, refund: apple bridge candle", "As a retiree, refund: dragon engine forest"),
    ]
    for a, b in near:
        assert is_near_duplicate(normalise(a), normalise(b)), (a, b)
        assert is_near_duplicate(normalise(b), normalise(a))
    for a, b in different:
        assert not is_near_duplicate(normalise(a), normalise(b)), (a, b)


def test_deduper_is_fast_enough_for_thousands():
    d = Deduper()
    started = time.perf_counter()
    kept = sum(d.check(words(i, 12)) is None for i in range(1500))
    assert kept >= 1490 and time.perf_counter() - started < 10


# -- generate, end to end ------------------------------------------------------------------------------------


def test_generate_covers_every_value_drops_duplicates_and_asks_only_for_inputs(ws, fake, tmp_path):
    out = generate(ws, "dims.toml", per_tuple=3, out="inputs.csv", progress=False)
    assert fake.answered == N_TUPLES and out.calls_made == N_TUPLES and not out.errors
    rows = read_csv(tmp_path / "inputs.csv")
    assert list(rows[0]) == ["id", "feature", "persona", "scenario", "input"]
    assert len(rows) == out.rows == N_TUPLES * 3
    assert out.exact_duplicates == N_TUPLES and out.near_duplicates == 2 * N_TUPLES
    assert len({normalise(r["input"]) for r in rows}) == len(rows)
    dims = load_dimensions(tmp_path / "dims.toml")
    for d in dims.dimensions:
        assert {r[d.name] for r in rows} == {v.name for v in d.values}
    for r in rows:  # each input was written for its own tuple
        assert r["input"].startswith(f"As a {r['persona']} ({r['scenario']}), {r['feature']}:")
    assert len({r["id"] for r in rows}) == len(rows) and not out.uncovered

    request = fake.chat_requests[0]
    system, user = request["messages"][0]["content"], request["messages"][1]["content"]
    assert "Never write the AI's reply" in system and "train-ticket app" in system
    assert user.startswith("Write 3 different user inputs")
    assert "- feature: lost ticket (the ticket cannot be found)" in "\n".join(
        r["messages"][1]["content"] for r in fake.chat_requests)
    assert request["response_format"]["json_schema"]["schema"]["required"] == ["inputs"]
    assert request["temperature"] == 1.0 and request["seed"] == 0


def test_rerun_makes_zero_calls_and_ids_are_stable(ws, fake, tmp_path):
    generate(ws, "dims.toml", per_tuple=2, progress=False)
    first = (tmp_path / "inputs.csv").read_text()
    again = generate(ws, "dims.toml", per_tuple=2, progress=False)
    assert fake.answered == N_TUPLES and again.calls_made == 0 and again.cache_hits == N_TUPLES
    assert (tmp_path / "inputs.csv").read_text() == first
    # A sample of tuples reuses the cached answers of those tuples: same ids for the same inputs.
    generate(ws, "dims.toml", per_tuple=2, tuples=5, seed=0, out="sample.csv", progress=False)
    assert fake.answered == N_TUPLES
    full = {r["id"]: r for r in read_csv(tmp_path / "inputs.csv")}
    sample = read_csv(tmp_path / "sample.csv")
    assert len(sample) == 10 and all(full[r["id"]] == r for r in sample)
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temporary file


def test_workspace_prompt_overrides_the_default(ws, fake, tmp_path):
    generate(ws, "dims.toml", per_tuple=1, tuples=4, progress=False)
    calls = fake.answered
    prompt = tmp_path / "prompts" / "synthetic_inputs.md"
    prompt.parent.mkdir()
    prompt.write_text(template_text("synthetic_inputs.md").replace("You write realistic", "CUSTOM. You write realistic"))
    out = generate(ws, "dims.toml", per_tuple=1, tuples=4, progress=False)
    assert out.template == str(prompt) and out.calls_made == 4 and fake.answered == calls + 4
    assert fake.chat_requests[-1]["messages"][0]["content"].startswith("CUSTOM.")
    prompt.write_text("no separator here")
    with pytest.raises(UserInputError, match="=== user ==="):
        generate(ws, "dims.toml", progress=False)


def test_dry_run_counts_calls_tokens_and_cost_and_calls_nothing(ws, fake, tmp_path):
    dry = generate(ws, "dims.toml", per_tuple=3, dry_run=True, progress=False)
    assert fake.answered == 0 and not (tmp_path / "inputs.csv").exists()
    assert dry.calls_needed == N_TUPLES and dry.estimated_prompt_tokens > N_TUPLES * 100
    assert dry.estimated_completion_tokens > 0 and dry.estimated_cost is not None and dry.estimated_cost > 0
    generate(ws, "dims.toml", per_tuple=3, tuples=6, progress=False)
    after = generate(ws, "dims.toml", per_tuple=3, dry_run=True, progress=False)
    assert after.calls_needed == N_TUPLES - 6 and fake.answered == 6


def test_failed_tuples_are_reported_not_fatal(ws, fake, tmp_path):
    fake.fail_next("500", count=1000, match="- persona: retiree")
    out = generate(ws, "dims.toml", per_tuple=2, progress=False)
    assert len(out.errors) == 8 and all("persona=retiree" in e and "500" in e for e in out.errors)
    rows = read_csv(tmp_path / "inputs.csv")
    assert len(rows) == (N_TUPLES - 8) * 2 and {r["persona"] for r in rows} == {"student", "commuter"}
    assert out.uncovered == {"persona": ["retiree"]}


def test_inputs_repeated_across_tuples_are_dropped_and_reported(ws, fake, tmp_path):
    fake.script("- feature: delay", {"inputs": ["Where is my train?"]})
    out = generate(ws, "dims.toml", per_tuple=2, progress=False)
    rows = read_csv(tmp_path / "inputs.csv")
    assert sum(r["input"] == "Where is my train?" for r in rows) == 1
    assert sum("no new input for feature=delay" in w for w in out.warnings) == 5


def test_too_few_tuples_warn_in_the_result(ws, fake):
    out = generate(ws, "dims.toml", per_tuple=1, tuples=2, progress=False)
    assert out.n_tuples == 2 and any("--tuples 4" in w for w in out.warnings)


def test_bad_arguments(ws):
    with pytest.raises(UserInputError, match="per-tuple"):
        generate(ws, "dims.toml", per_tuple=0, progress=False)
    with pytest.raises(UserInputError, match="CSV"):
        generate(ws, "dims.toml", out="inputs.json", progress=False)
    with pytest.raises(UserInputError, match="not found"):
        generate(ws, "missing.toml", progress=False)


def test_combinations_helper_matches_itertools():
    dims = dims_of([3, 2, 2])
    got = [tuple(t.values()) for t in enumerate_tuples(dims)]
    assert got == [tuple(f"v{i}" for i in c) for c in itertools.product(range(3), range(2), range(2))]
