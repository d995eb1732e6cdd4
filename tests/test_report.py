"""The report tabs, end to end: push → the expert labels → pull → four judge runs against the fake OpenAI
server (a naive judge, then a careful one with scripted mistakes and one error) → report to an .xlsx.

Every expected figure is computed here from the scenario itself and checked against scikit-learn,
statsmodels and the Rogan–Gladen formula, never taken from the code under test.
"""

import json
import os
import re
import shutil

import openpyxl
import pytest
from sklearn.metrics import cohen_kappa_score, confusion_matrix
from statsmodels.stats.proportion import proportion_confint

from sheetsync.config import load_config
from sheetsync.judge import judge, split_of
from sheetsync.layout import FAIL_RED, PASS_GREEN, WARN_AMBER
from sheetsync.pull import pull
from sheetsync.push import push
from sheetsync.report import NotMeasurable, build_report, report
from sheetsync.store import Store
from sheetsync.testing.fake_openai import FakeOpenAI
from sheetsync.workspace import SPREADSHEET_KEY, init_workspace
from tests.expert import Expert
from tests.fake_llm import fake_llm
from tests.test_judge import write_csv

N = 72
N_LABELLED = 54  # rows 0..53 are labelled by the expert; the rest are unlabeled
CAUSES = ["policy misapplied", "Wrong tone; policy misapplied", "hallucinated fact", "wrong tone", ""]
REPORT_TABS = ["Summary", "Agreement", "Disagreements", "Root causes", "Error analysis"]


def rid(i: int) -> str:
    return f"c{i:03d}"


def is_bad(i: int) -> bool:
    return i % 3 == 0


def tier(i: int) -> str:
    return "Gold" if i % 2 else "Basic"


def channel(i: int) -> str:
    return "chat" if (i // 2) % 2 else "email"


def truth(i: int) -> str:
    return "fail" if is_bad(i) else "pass"


def split(i: int) -> str:
    return split_of(rid(i)) if i < N_LABELLED else "unlabeled"


def pick(where: str, verdict: str, k: int) -> list[int]:
    return [i for i in range(N) if split(i) == where and truth(i) == verdict][:k]


# The careful judge's mistakes (flipped verdicts) and the row whose call always fails.
FLIPS = set(pick("test", "pass", 2) + pick("test", "fail", 1) + pick("dev", "pass", 1) + pick("dev", "fail", 2)
            + pick("unlabeled", "pass", 1) + pick("unlabeled", "fail", 1))
ERROR_ROW = pick("test", "pass", 3)[-1]


def careful(i: int) -> str:
    v = truth(i)
    return ({"pass": "fail", "fail": "pass"}[v]) if i in FLIPS else v


def responder(request):
    """Naive judge (passes everything) until the prompt says "careful"; then right except on FLIPS."""
    system, user = request["messages"][0]["content"], request["messages"][-1]["content"]
    i = int(re.search(r"answer number (\d+)", user).group(1))
    if "careful evaluator" not in system:
        return {"critique": "Looks fine to me.", "verdict": "pass"}
    return {"critique": f"Judge critique of {rid(i)}.", "verdict": careful(i)}


def dataset():
    return [{"id": rid(i), "tier": tier(i), "channel": channel(i), "input": f"Question {i}?",
             "output": f"{'BAD' if is_bad(i) else 'Sure'}: answer number {i}"} for i in range(N)]


def cause(i: int) -> str:
    return CAUSES[(i // 3) % len(CAUSES)] if is_bad(i) else ""


def build_labelled(root):
    """Push the dataset to labels.xlsx, label rows 0..N_LABELLED-1 as the expert, pull."""
    init_workspace(root, spreadsheet="labels.xlsx")
    toml = root / "sheetsync.toml"
    toml.write_text(toml.read_text().replace("dimensions = []", 'dimensions = ["tier", "channel"]'))
    write_csv(root / "data.csv", dataset())
    cfg = load_config(toml)
    push(cfg, root / "data.csv")
    Expert(root / "labels.xlsx").label({
        rid(i): (truth(i).title(), f"Expert critique for {rid(i)}: the answer is "
                 f"{'wrong on the fee' if is_bad(i) else 'right'} because policy says so clearly.", cause(i))
        for i in range(N_LABELLED)
    })
    pull(cfg)
    return cfg


def make_careful(cfg):
    prompt = cfg.path(cfg.judge.prompt)
    prompt.write_text(prompt.read_text().replace("You are an expert evaluator", "You are a careful evaluator"))


def run_judges(cfg, server):
    """Runs: #1 dev (naive), #2 dev (careful), #3 test (careful, one error), #4 unlabeled (careful)."""
    judge(cfg, split="dev", progress=False)
    make_careful(cfg)
    judge(cfg, split="dev", progress=False)
    server.fail_next("500", count=100, match=f"Question {ERROR_ROW}?")
    judge(cfg, split="test", progress=False)
    judge(cfg, split="unlabeled", progress=False)


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    """Both workspaces built once per module (a few seconds); each test works on its own copy."""
    base = tmp_path_factory.mktemp("report-templates")
    with pytest.MonkeyPatch.context() as mp:
        for var in [v for v in os.environ if v.startswith("SHEETSYNC_") or v.startswith("OPENAI_")]:
            mp.delenv(var)
        mp.setenv("SHEETSYNC_JUDGE_MAX_RETRIES", "0")  # the scripted error row fails at once
        build_labelled(base / "labelled")
        copy_workspace(base / "labelled", base / "judged")
        with FakeOpenAI(responder=responder) as server:
            mp.setenv("OPENAI_BASE_URL", server.base_url)
            mp.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
            run_judges(load_config(base / "judged" / "sheetsync.toml"), server)
    return base


def copy_workspace(src, root):
    """A copy whose store points at its own workbook (the store remembers the absolute path it pushed to)."""
    shutil.copytree(src, root)
    store = Store.for_workspace(root / ".sheetsync")
    store.set_meta(SPREADSHEET_KEY, str(root / "labels.xlsx"))
    store.close()


def copy_of(templates, name, tmp_path, monkeypatch):
    root = tmp_path / name
    copy_workspace(templates / name, root)
    monkeypatch.chdir(root)
    return load_config(root / "sheetsync.toml")


@pytest.fixture
def labelled(templates, tmp_path, monkeypatch):
    """A pushed and labelled workspace, no judge run yet."""
    return copy_of(templates, "labelled", tmp_path, monkeypatch)


@pytest.fixture
def judged(templates, tmp_path, monkeypatch):
    """The labelled workspace after the four judge runs of run_judges."""
    return copy_of(templates, "judged", tmp_path, monkeypatch)


@pytest.fixture
def fake(monkeypatch):
    with fake_llm(monkeypatch, responder=responder) as server:
        yield server


# ------------------------------------------------------------------------------------------ expectations


def ids_in(*splits):
    return [i for i in range(N) if split(i) in splits]


def expected(splits, judge_of=careful, skip=(ERROR_ROW,)):
    """(expert, judge) lists for the scored rows of these splits, the error row left out."""
    rows = [i for i in ids_in(*splits) if i not in skip]
    return [truth(i) for i in rows], [judge_of(i) for i in rows]


def reference(expert, judge_verdicts):
    (tp, fn), (fp, tn) = confusion_matrix(expert, judge_verdicts, labels=["pass", "fail"])
    return {
        "tp": tp, "fn": fn, "fp": fp, "tn": tn, "n": len(expert),
        "tpr": tp / (tp + fn), "tnr": tn / (tn + fp), "accuracy": (tp + tn) / len(expert),
        "kappa": cohen_kappa_score(expert, judge_verdicts),
        "tpr_ci": proportion_confint(tp, tp + fn, method="wilson"),
        "tnr_ci": proportion_confint(tn, tn + fp, method="wilson"),
    }


# ------------------------------------------------------------------------------------------ sheet helpers


def book(cfg):
    return openpyxl.load_workbook(cfg.path("labels.xlsx"))


def values(ws):
    return [[c.value for c in row] for row in ws.iter_rows()]


def row_of(ws, label, start=0):
    """The values of the first row (from `start`) whose column A is `label`, and its 1-based number."""
    for n, row in enumerate(values(ws), start=1):
        if n > start and row and row[0] == label:
            return row, n
    raise AssertionError(f"no row {label!r} on {ws.title}")


def table_after(ws, heading):
    """The header and rows of the table below the line `heading` (column A), up to the next row with nothing
    beyond column A (a blank line or a note)."""
    grid = values(ws)
    at = next(n for n, r in enumerate(grid) if r and isinstance(r[0], str) and r[0].startswith(heading))
    at += 1
    while all(v is None for v in grid[at]):
        at += 1
    header, rows = grid[at], []
    for r in grid[at + 1:]:
        if all(v is None for v in r[1:]):
            break
        rows.append(r)
    return header, rows


def approx(x):
    return pytest.approx(x, abs=1e-9)


# ------------------------------------------------------------------------------------------ tests


def test_headline_agreement_matches_sklearn_and_statsmodels(judged):
    rep = report(judged)
    ref = reference(*expected(["test"]))
    ws = book(judged)["Agreement"]
    tpr, r_tpr = row_of(ws, "TPR (pass recall)")
    tnr, _ = row_of(ws, "TNR (fail recall)")
    assert tpr[1:4] == [approx(ref["tpr"]), approx(ref["tpr_ci"][0]), approx(ref["tpr_ci"][1])]
    assert tnr[1:4] == [approx(ref["tnr"]), approx(ref["tnr_ci"][0]), approx(ref["tnr_ci"][1])]
    assert row_of(ws, "Accuracy")[0][1] == approx(ref["accuracy"])
    assert row_of(ws, "Cohen's κ")[0][1] == approx(ref["kappa"])
    assert row_of(ws, "n (rows with both verdicts)")[0][1] == ref["n"]
    assert row_of(ws, "n excluded (judge errors)")[0][1] == 1
    assert ws.cell(r_tpr, 2).number_format == "0.0%"
    # confusion matrix: expert rows × judge columns
    header, rows = table_after(ws, "Confusion matrix")
    assert header[1:4] == ["judge pass", "judge fail", "total"]
    assert rows[0][:3] == ["expert pass", ref["tp"], ref["fn"]]
    assert rows[1][:3] == ["expert fail", ref["fp"], ref["tn"]]
    # the figures in to_dict are the same ones
    head = rep.to_dict()["agreement"]["headline"]
    assert rep.basis == "test" and head["tpr"] == approx(ref["tpr"]) and head["n_excluded"] == 1
    # fail-class view, by hand: FAIL as the positive class
    tn, fn, fp = ref["tn"], ref["fn"], ref["fp"]
    assert row_of(ws, "Fail precision")[0][1] == approx(tn / (tn + fn))
    assert row_of(ws, "Fail F1")[0][1] == approx(2 * tn / (2 * tn + fn + fp))


def test_headline_colours_follow_the_targets(judged):
    report(judged)
    ws = book(judged)["Agreement"]
    ref = reference(*expected(["test"]))
    for label, rate in (("TPR (pass recall)", ref["tpr"]), ("TNR (fail recall)", ref["tnr"])):
        _, r = row_of(ws, label)
        colour = PASS_GREEN if rate >= 0.9 else WARN_AMBER if rate >= 0.8 else FAIL_RED
        assert ws.cell(r, 2).fill.fgColor.rgb == "FF" + colour.lstrip("#")
        assert ws.cell(r, 5).value == ("on target" if rate >= 0.9 else "below target" if rate >= 0.8
                                       else "below floor")


def test_by_split_and_by_dimension(judged):
    report(judged)
    ws = book(judged)["Agreement"]
    header, rows = table_after(ws, "By split")
    by = {r[0]: dict(zip(header, r, strict=False)) for r in rows}
    for name, splits in (("dev", ["dev"]), ("test", ["test"]), ("dev+test", ["dev", "test"])):
        ref = reference(*expected(splits))
        assert by[name]["n"] == ref["n"]
        assert by[name]["TPR"] == approx(ref["tpr"]) and by[name]["TNR"] == approx(ref["tnr"])
        assert by[name]["κ"] == approx(ref["kappa"])
    for dim, of in (("tier", tier), ("channel", channel)):
        header, rows = table_after(ws, f"By {dim} ")
        assert header[0] == dim
        got = {r[0]: dict(zip(header, r, strict=False)) for r in rows}
        assert set(got) == {of(i) for i in range(N)}
        for value, cell in got.items():
            rows_here = [i for i in ids_in("dev", "test") if of(i) == value and i != ERROR_ROW]
            ref = reference([truth(i) for i in rows_here], [careful(i) for i in rows_here])
            assert cell["n"] == ref["n"] and cell["TPR"] == approx(ref["tpr"]) and cell["TNR"] == approx(ref["tnr"])
    assert len(ws.conditional_formatting) > 0


def test_history_has_one_line_per_run_and_a_line_chart(judged):
    rep = report(judged)
    ws = book(judged)["Agreement"]
    header, rows = table_after(ws, "History of judge runs")
    assert [r[0] for r in rows] == ["#1 dev", "#2 dev", "#3 test", "#4 unlabeled"]
    h = dict(zip(header, zip(*rows, strict=True), strict=False))
    naive = reference(*expected(["dev"], judge_of=lambda i: "pass", skip=()))
    dev = reference(*expected(["dev"]))
    test = reference(*expected(["test"]))
    assert h["n"] == (naive["n"], dev["n"], test["n"], 0)
    assert h["TPR"][:3] == (approx(naive["tpr"]), approx(dev["tpr"]), approx(test["tpr"]))
    assert h["TNR"][:3] == (0, approx(dev["tnr"]), approx(test["tnr"]))
    assert h["TPR"][3] == "n/a" and h["excluded"] == (0, 0, 1, 0)
    assert len(set(h["prompt"][:2])) == 2  # the prompt changed between run 1 and run 2
    charts = ws._charts
    # one line per split and figure: TPR and TNR on dev, and on test (never a line joining the two splits)
    assert len(charts) == 1 and charts[0].tagname == "lineChart" and len(charts[0].series) == 4
    assert len(rep.to_dict()["agreement"]["history"]) == 4


def test_disagreements_list_every_mismatch_worst_cells_first(judged):
    report(judged)
    ws = book(judged)["Disagreements"]
    grid = values(ws)
    header = grid[0]
    assert header == ["id", "split", "tier", "channel", "weakest cell", "expert verdict", "judge verdict",
                      "expert critique", "judge critique", "input", "output"]
    rows = [dict(zip(header, r, strict=True)) for r in grid[1:]]
    want = {rid(i) for i in FLIPS if split(i) in ("dev", "test")}
    assert {r["id"] for r in rows} == want
    for r in rows:
        i = int(r["id"][1:])
        assert r["expert verdict"] == truth(i) and r["judge verdict"] == careful(i)
        assert r["judge critique"] == f"Judge critique of {r['id']}." and r["output"].endswith(f"number {i}")
        assert r["expert critique"].startswith(f"Expert critique for {r['id']}")

    # worst dimension value first: the agreement of each row's weakest cell never decreases down the tab
    def acc(value, of):
        here = [i for i in ids_in("dev", "test") if of(i) == value and i != ERROR_ROW]
        return sum(truth(i) == careful(i) for i in here) / len(here)

    weakest = [min(acc(tier(int(r["id"][1:])), tier), acc(channel(int(r["id"][1:])), channel)) for r in rows]
    assert weakest == sorted(weakest)
    assert ws.freeze_panes == "B2" and ws.column_dimensions["H"].width > 20
    assert ws.cell(2, 8).alignment.wrap_text


def test_root_causes_tally_chart_and_dimension_table(judged):
    rep = report(judged)
    ws = book(judged)["Root causes"]
    failed = [i for i in range(N_LABELLED) if is_bad(i)]
    counts = {"policy misapplied": 0, "wrong tone": 0, "hallucinated fact": 0, "(none given)": 0}
    for i in failed:
        c = cause(i)
        if not c:
            counts["(none given)"] += 1
        for part in filter(None, (p.strip().lower() for p in c.split(";"))):
            counts[part] += 1
    header, rows = table_after(ws, "Over the")
    assert header[:3] == ["root cause", "count", "% of failed rows"]
    got = {r[0].lower(): (r[1], r[2]) for r in rows}
    assert got == {k: (v, approx(v / len(failed))) for k, v in counts.items()}
    assert sum(v for v, _ in got.values()) > len(failed)  # multi-label rows
    assert any("more than 100%" in (r[0] or "") for r in values(ws))
    assert len(ws._charts) == 1 and ws._charts[0].tagname == "barChart" and len(ws._charts[0].series) == 1
    header, rows = table_after(ws, "By tier")
    assert header[:2] == ["tier", "failed rows"]
    by = {r[0]: dict(zip(header, r, strict=False)) for r in rows}
    for value in ("Gold", "Basic"):
        here = [i for i in failed if tier(i) == value]
        assert by[value]["failed rows"] == len(here)
        want = sum("policy misapplied" in cause(i).lower() for i in here)
        assert by[value]["policy misapplied"] == want
    assert rep.to_dict()["root_causes"]["n_failed"] == len(failed)


def lee_reference(p, q0, q1, n, m0, m1, z=1.959963984540054):
    """Lee et al. (arXiv 2511.21140, Appendix C), written out here from the paper's formulas."""
    p, q0, q1 = (n * p + z * z / 2) / (n + z * z), (m0 * q0 + 1) / (m0 + 2), (m1 * q1 + 1) / (m1 + 2)
    n, m0, m1 = n + z * z, m0 + 2, m1 + 2
    th = (p + q0 - 1) / (q0 + q1 - 1)
    shift = 2 * z * z * (-(1 - th) * q0 * (1 - q0) / m0 + th * q1 * (1 - q1) / m1)
    se = (p * (1 - p) / n + (1 - th) ** 2 * q0 * (1 - q0) / m0 + th ** 2 * q1 * (1 - q1) / m1) ** 0.5 / (q0 + q1 - 1)
    return max(0.0, th + shift - z * se), min(1.0, th + shift + z * se)


def rogan_gladen(p_obs, tpr, tnr):
    return min(1.0, max(0.0, (p_obs + tnr - 1) / (tpr + tnr - 1)))


def test_error_analysis_corrects_unlabeled_failure_rates(judged):
    rep = report(judged)
    ws = book(judged)["Error analysis"]
    ref = reference(*expected(["test"]))
    unl = ids_in("unlabeled")
    p_obs = sum(careful(i) == "pass" for i in unl) / len(unl)
    header, rows = table_after(ws, "Grey rows")
    assert header[:5] == ["dimension", "value", "unlabeled rows", "judge fail rate (observed)", "corrected fail rate"]
    first = dict(zip(header, rows[0], strict=False))
    assert first["unlabeled rows"] == len(unl) and first["judge fail rate (observed)"] == approx(1 - p_obs)
    theta = rogan_gladen(p_obs, ref["tpr"], ref["tnr"])
    assert first["corrected fail rate"] == approx(1 - theta)
    pos, neg = sum(e == "pass" for e in expected(["test"])[0]), sum(e == "fail" for e in expected(["test"])[0])
    low, high = lee_reference(p_obs, ref["tnr"], ref["tpr"], len(unl), neg, pos)
    assert (first["95% low"], first["95% high"]) == (approx(1 - high), approx(1 - low))
    for r in rows[1:]:
        cell = dict(zip(header, r, strict=False))
        of = {"tier": tier, "channel": channel}[cell["dimension"]]
        here = [i for i in unl if of(i) == cell["value"]]
        p = sum(careful(i) == "pass" for i in here) / len(here)
        assert cell["unlabeled rows"] == len(here)
        assert cell["corrected fail rate"] == approx(1 - rogan_gladen(p, ref["tpr"], ref["tnr"]))
        grey = ws.cell(rows.index(r) + 1 + next(n for n, g in enumerate(values(ws), 1) if g == header), 1)
        assert (grey.font.color is not None and grey.font.color.rgb == "FF8A8A8A") == (len(here) < 10)
    summary = rep.to_dict()["summary"]["corrected_pass_rate"]
    assert summary["theta"] == approx(theta) and summary["method"] == "lee"


def test_summary_one_screen_for_stakeholders(judged):
    rep = report(judged)
    ws = book(judged)["Summary"]
    text = "\n".join(str(v) for row in values(ws) for v in row if v is not None)
    ref = reference(*expected(["test"]))
    unl = ids_in("unlabeled")
    theta = rogan_gladen(sum(careful(i) == "pass" for i in unl) / len(unl), ref["tpr"], ref["tnr"])
    assert row_of(ws, "Estimated pass rate (corrected)")[0][1] == approx(theta)
    assert row_of(ws, "TPR (pass recall)")[0][1] == approx(ref["tpr"])
    assert f"on {ref['n']} test labels" in text
    assert "policy misapplied" in text and "Corrected pass rate =" in text and "TNR (fail recall) =" in text
    header, rows = table_after(ws, "Trend across judge runs")
    assert [r[0] for r in rows] == ["#1 dev", "#2 dev", "#3 test"]  # runs with labelled rows only
    assert len(ws._charts) == 1 and ws._charts[0].tagname == "lineChart"
    status = rep.figures["trust"]["status"]
    worst = min(ref["tpr"], ref["tnr"])
    assert status == ("trusted" if worst >= 0.9 else "borderline" if worst >= 0.8 else "not trusted")


def test_rerun_replaces_tabs_and_charts(judged):
    report(judged)
    first = book(judged).sheetnames
    report(judged)
    wb = book(judged)
    assert wb.sheetnames == first
    assert first[:3] == ["Instructions", "Annotate", "Judge"] or first.index("Annotate") < first.index("Summary")
    assert [t for t in wb.sheetnames if t in REPORT_TABS] == REPORT_TABS
    assert len(wb.sheetnames) == len(set(wb.sheetnames))
    assert [len(wb[t]._charts) for t in REPORT_TABS] == [1, 1, 0, 1, 0]
    assert len(wb["Agreement"].conditional_formatting) == len(book(judged)["Agreement"].conditional_formatting)


def test_one_write_for_all_tabs(judged, monkeypatch):
    from sheetsync.backends.xlsx import XlsxWorkbook

    writes = []
    original = XlsxWorkbook.write
    monkeypatch.setattr(XlsxWorkbook, "write", lambda self, specs: (writes.append([s.title for s in specs]),
                                                                     original(self, specs)))
    rep = report(judged)
    assert writes == [REPORT_TABS] and all(s.replace for s in rep.specs)


def test_build_report_is_pure_and_write_false_touches_nothing(judged):
    path = judged.path("labels.xlsx")
    before = path.read_bytes()
    store = Store.for_workspace(judged.state_dir)
    rep = build_report(judged, store)
    again = report(judged, store=store, write=False)
    assert path.read_bytes() == before and rep.url is None and again.url is None
    assert [s.title for s in rep.specs] == REPORT_TABS


def test_to_dict_is_json_with_reasons_for_undefined(judged):
    d = report(judged).to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text)["tabs"] == REPORT_TABS
    run4 = d["agreement"]["history"][3]
    assert run4["tpr"] is None and "no rows with both" in run4["undefined"]["tpr"]
    assert d["counts"]["judge_errors"] == 1 and d["counts"]["by_split"]["unlabeled"] == N - N_LABELLED


def test_report_before_any_judge_run_says_what_to_do(labelled):
    rep = report(labelled)
    wb = book(labelled)
    assert [t for t in wb.sheetnames if t in REPORT_TABS] == REPORT_TABS
    summary = "\n".join(str(v) for row in values(wb["Summary"]) for v in row if v is not None)
    assert "sheetsync judge --split dev" in summary and "unknown" in summary.lower()
    agreement_text = "\n".join(str(v) for row in values(wb["Agreement"]) for v in row if v is not None)
    assert "No agreement figures yet" in agreement_text and "sheetsync judge --split dev" in agreement_text
    assert "Not available" in values(wb["Error analysis"])[1][0]
    assert "Nothing to compare yet" in values(wb["Disagreements"])[1][0]
    d = rep.to_dict()
    assert d["agreement"]["headline"] is None and d["summary"]["corrected_pass_rate"] is None
    assert d["trust"]["status"] == "unknown" and d["next_steps"]
    json.dumps(d, allow_nan=False)
    # the root causes are the expert's: already there without a judge
    assert d["root_causes"]["n_failed"] == sum(is_bad(i) for i in range(N_LABELLED))
    with pytest.raises(NotMeasurable, match="no judge run yet"):
        rep.gate(0.8)


def test_gate_uses_test_else_dev(judged):
    rep = report(judged, write=False)
    ref = reference(*expected(["test"]))
    worst = min(ref["tpr"], ref["tnr"])
    assert rep.gate(worst - 0.01) == []
    failing = rep.gate(worst + 0.01)
    assert failing and all("on test" in f for f in failing)
    assert len(rep.gate(1.0)) == sum(x < 1.0 for x in (ref["tpr"], ref["tnr"]))
    lines = rep.lines()  # what the CLI prints
    assert lines[0].startswith("Judge") and lines[1].startswith("Estimated pass rate")


def test_dev_only_basis_and_chance_level_judge(labelled, fake):
    judge(labelled, split="dev", progress=False)  # the naive judge: passes everything
    judge(labelled, split="unlabeled", progress=False)
    rep = report(labelled)
    d = rep.to_dict()
    assert rep.basis == "dev" and "dev split" in d["agreement"]["reason"]
    assert d["agreement"]["headline"]["tnr"] == 0 and d["trust"]["status"] == "not trusted"
    assert d["summary"]["corrected_pass_rate"] is None and "no better than chance" in d["summary"]["reason"]
    assert any("--split test" in s for s in d["next_steps"])
    summary = "\n".join(str(v) for row in values(book(labelled)["Summary"]) for v in row if v is not None)
    assert "no better than chance" in summary and "n/a" in summary
    assert rep.gate(0.5) == [f"TNR 0.0% on dev (n={d['agreement']['headline']['n']}) is below 50.0%"]


def test_train_rows_never_count_even_with_a_verdict(judged):
    """A verdict on a train row (say from a run before the split ratios changed) is never scored."""
    train = [i for i in range(N_LABELLED) if split(i) == "train"][:2]
    store = Store.for_workspace(judged.state_dir)
    store.start_run("old-run", model="m", params={}, template="t", template_hash="h", split="dev", n_rows=2)
    for i in train:
        wrong = "pass" if truth(i) == "fail" else "fail"
        store.save_verdict("old-run", rid(i), verdict=wrong, critique="old", error=None, latency=0.0,
                           prompt_tokens=0, completion_tokens=0, cached=False)
    store.finish_run("old-run", "done")
    d = report(judged, store=store, write=False).to_dict()
    assert d["agreement"]["by_split"]["dev+test"]["n"] == reference(*expected(["dev", "test"]))["n"]
    assert not {rid(i) for i in train} & {x["id"] for x in d["disagreements"]}
    assert d["agreement"]["history"][-1]["n"] == 0


def test_stale_labels_are_left_out_and_reported(labelled, fake):
    data = dataset()
    data[1]["output"] = "Sure: answer number 1, now with more words"
    write_csv(labelled.path("data.csv"), data)
    push(labelled, labelled.path("data.csv"))
    d = report(labelled, write=False).to_dict()
    assert d["counts"]["stale_labels"] == 1
    assert d["counts"]["labelled"] == N_LABELLED - 1 and d["counts"]["by_split"]["unlabeled"] == N - N_LABELLED + 1
    assert any("stale" in s for s in d["next_steps"])


# ------------------------------------------------------------------------------------------ issue 15: what next


def wilson_half(p, n, z=1.959963984540054):
    """Half the width of Wilson's interval at rate p on n rows (written out; n need not be whole)."""
    return z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5 / (1 + z * z / n)


def test_how_many_more_labels_matches_the_formulas(judged):
    """Summary tab and report --json: ± now, ± after k more, labels to the target, the best split, the stop rule."""
    from click.testing import CliRunner

    from sheetsync.cli import cli

    rep = report(judged)
    ref = reference(*expected(["test"]))
    n1, n0 = ref["tp"] + ref["fn"], ref["tn"] + ref["fp"]
    plan = rep.to_dict()["planning"]
    for key, rate, n in (("tpr", ref["tpr"], n1), ("tnr", ref["tnr"], n0)):
        lo, hi = proportion_confint(round(rate * n), n, method="wilson")
        assert plan[key]["half_width"] == approx((hi - lo) / 2)
        assert plan[key]["after"] == {"20": approx(wilson_half(rate, n + 20)), "100": approx(wilson_half(rate, n + 100))}
        assert plan[key]["labels_needed"] == next(k for k in range(10_000) if wilson_half(rate, n + k) <= 0.05)
    unl = ids_in("unlabeled")
    p_obs = sum(careful(i) == "pass" for i in unl) / len(unl)
    lee = lambda k0, k1: lee_reference(p_obs, ref["tnr"], ref["tpr"], len(unl), n0 + k0, n1 + k1)  # noqa: E731
    half = lambda ci: (ci[1] - ci[0]) / 2  # noqa: E731
    c = plan["corrected"]
    assert c["half_width"] == approx(half(lee(0, 0)))
    widths = {k1: half(lee(100 - k1, k1)) for k1 in range(101)}
    best = min(widths, key=widths.get)
    assert c["best_split"]["100"]["half_width"] == approx(widths[best])
    assert c["best_split"]["100"]["half_width_even_split"] == approx(widths[50])
    assert widths[c["best_split"]["100"]["passes"]] == approx(widths[best])
    # 18 unlabelled rows alone keep it wider than ±5% whatever the expert labels: "cannot", not a number
    assert c["labels_needed"] is None and half(lee(10**6, 10**6)) > 0.05
    # 8 expert fails: the report does not promise Wilson's 95% there (docs/coverage.md measured 89–92% on 10)
    assert "On 8 expert fails, Wilson's 95% interval can hold the true rate less often" in \
        rep.to_dict()["trust"]["sentence"]
    assert not plan["stop"] and plan["sentence"].startswith("Keep labelling:")
    assert f"TPR needs about {plan['tpr']['labels_needed']} more expert passes" in plan["sentence"]
    ws = book(judged)["Summary"]
    row_of(ws, plan["sentence"])
    header, rows = table_after(ws, plan["sentence"])
    assert header[:5] == ["figure", "± now", "± after 20 more", "± after 100 more", "labels to reach the target"]
    assert rows[0][:5] == ["TPR", approx(plan["tpr"]["half_width"]), approx(plan["tpr"]["after"]["20"]),
                       approx(plan["tpr"]["after"]["100"]), f"{plan['tpr']['labels_needed']} more expert passes"]
    assert rows[1][0] == "TNR" and rows[1][4] == f"{plan['tnr']['labels_needed']} more expert fails"
    assert rows[2][:4] == ["Corrected pass rate", approx(c["half_width"]), approx(c["best_split"]["20"]["half_width"]),
                           approx(c["best_split"]["100"]["half_width"])]
    out = CliRunner().invoke(cli, ["report", "--json", "--no-tabs"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["planning"]["tpr"]["labels_needed"] == plan["tpr"]["labels_needed"]
    # the stop rule follows [report] half_width
    toml = judged.path("sheetsync.toml")
    toml.write_text(toml.read_text().replace("half_width = 0.05", "half_width = 0.4"))
    loose = report(load_config(toml)).to_dict()["planning"]
    assert loose["stop"] and loose["sentence"].startswith("Stop labelling: every interval is under ±40%.")
    assert loose["corrected"]["labels_needed"]["budget"] == 0


def test_label_next_lists_unlabelled_judge_fails(judged):
    rep = report(judged).to_dict()
    fails = sorted(rid(i) for i in ids_in("unlabeled") if careful(i) == "fail")
    assert [r["id"] for r in rep["label_next"]] == fails
    assert all(r["reasons"] == ["the judge failed it"] for r in rep["label_next"])
    header, rows = table_after(book(judged)["Summary"], "Label next")
    assert header[:3] == ["id", "why", "dimensions"] and [r[0] for r in rows] == fails
    i = int(fails[0][1:])
    assert rows[0][2] == f"tier={tier(i)}, channel={channel(i)}"


def strict(request):
    """The careful judge, but it also fails the first four test passes: TPR falls, TNR stays."""
    out = responder(request)
    i = int(re.search(r"answer number (\d+)", request["messages"][-1]["content"]).group(1))
    return {**out, "verdict": "fail"} if i in pick("test", "pass", 4) else out


def test_latest_run_against_the_one_before_and_the_validation_warning(judged, monkeypatch):
    """A new prompt judged on test: the paired change in TPR/TNR (Bonett–Price, McNemar from statsmodels) on
    the Agreement tab; the unlabelled rows were judged with the old prompt, so every tab warns."""
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    prompt = judged.path(judged.judge.prompt)
    prompt.write_text(prompt.read_text() + "\nBe strict about fees.\n")
    with fake_llm(monkeypatch, responder=strict):
        judge(judged, split="test", progress=False)
    rep = report(judged).to_dict()
    rc = rep["run_comparison"]
    pair = rc["pair"]
    shared = [i for i in ids_in("test") if i != ERROR_ROW]
    assert pair["n"] == len(shared) and pair["a"]["split"] == pair["b"]["split"] == "test"
    passes = [i for i in shared if truth(i) == "pass"]
    a_right = [careful(i) == "pass" for i in passes]
    b_right = [careful(i) == "pass" and i not in pick("test", "pass", 4) for i in passes]
    only_a = sum(x and not y for x, y in zip(a_right, b_right, strict=True))
    only_b = sum(y and not x for x, y in zip(a_right, b_right, strict=True))
    n, z = len(passes), 1.959963984540054
    p12, p21 = (only_a + 1) / (n + 2), (only_b + 1) / (n + 2)
    half = z * ((p12 + p21 - (p21 - p12) ** 2) / (n + 2)) ** 0.5
    t = pair["tpr"]
    assert (t["only_a"], t["only_b"]) == (only_a, only_b) and only_a > 0
    assert t["difference"] == approx((sum(b_right) - sum(a_right)) / n)
    assert t["ci"] == [approx(p21 - p12 - half), approx(p21 - p12 + half)]
    both = sum(x and y for x, y in zip(a_right, b_right, strict=True))
    table = [[both, only_a], [only_b, n - both - only_a - only_b]]
    assert t["mcnemar"]["p_value"] == approx(sm_mcnemar(table, exact=True).pvalue)
    assert pair["tnr"]["difference"] == 0 and pair["tnr"]["ci"][1] - pair["tnr"]["ci"][0] > 0.1
    header, rows = table_after(book(judged)["Agreement"], "A = gpt-4.1-mini prompt")
    assert header[:5] == ["figure", "rows", "A", "B", "B − A"]
    assert rows[0][:7] == ["TPR", n, approx(t["rate_a"]), approx(t["rate_b"]), approx(t["difference"]),
                           approx(t["ci"][0]), approx(t["ci"][1])]
    assert rows[0][9] == approx(t["mcnemar"]["p_value"])
    warning = rc["validation_warning"]
    assert "another prompt" in warning and "sheetsync judge --split test" in warning
    for tab in ("Summary", "Agreement"):
        row_of(book(judged)[tab], f"Warning: {warning}")
