"""The expert answers the judge, end to end, on .xlsx and on Google Sheets (the emulator, through the real
gspread client), with the judge on the real openai client against the local fake: judge → Review tab →
the expert answers some rows, relabels one in Annotate, marks one Unclear, sorts the tab → pull records
the revision and the question → the next judge run and the report reflect them, the history splitting the
change into the prompt's part and the labels' part. No answer is ever overwritten or moved off its id."""

from __future__ import annotations

import contextlib
import re

import openpyxl
import pytest

from sheetsync.config import load_config
from sheetsync.judge import judge, split_of
from sheetsync.pull import pull
from sheetsync.push import push
from sheetsync.report import report
from sheetsync.store import Store
from sheetsync.workspace import init_workspace
from tests.expert import Expert
from tests.fake_llm import fake_llm
from tests.review_expert import GoogleTabExpert, XlsxTabExpert
from tests.test_judge import rows, write_csv
from tests.test_roundtrip_google import GoogleExpert

TITLE = "Review cycle"


def flight(text: str) -> int:
    return int(re.search(r"flight (\d+)", text).group(1))


class Judge:
    """The fake judge: right about every row except flights n ≡ 1 (mod 4) in version 1; version 2 (a better
    prompt) is wrong only on n ≡ 1 (mod 8)."""

    def __init__(self) -> None:
        self.version = 1

    def wrong(self, n: int) -> bool:
        return n % 4 == 1 if self.version == 1 else n % 8 == 1

    def __call__(self, request):
        user = request["messages"][-1]["content"]
        n = flight(user)
        bad = ("BAD:" in user) != self.wrong(n)
        return {"critique": f"Judge v{self.version} on flight {n}: {'the fee is wrong' if bad else 'all correct'}.",
                "verdict": "fail" if bad else "pass"}


def expert_label(rid: str) -> tuple[str, str, str]:
    n = int(rid[1:])
    bad = n % 3 == 0
    return ("Fail" if bad else "Pass", f"Expert critique for {rid}: the answer is {'wrong on the fee' if bad else 'right'} "
            "because policy says so clearly.", "policy misapplied" if bad else "")


class World:
    """A labelled workspace on one backend, with the expert's hands on its tabs."""

    def __init__(self, backend, tmp_path, monkeypatch, client=None, emulator=None):
        self.backend, self.tmp = backend, tmp_path
        spreadsheet = "labels.xlsx" if backend == "xlsx" else TITLE
        if backend == "google":
            monkeypatch.setenv("SHEETS_EMULATOR_HOST", emulator.address)
        monkeypatch.chdir(tmp_path)
        init_workspace(tmp_path, spreadsheet=spreadsheet)
        toml = tmp_path / "sheetsync.toml"
        toml.write_text(toml.read_text().replace("context = []", 'context = ["tier"]')
                        .replace("timeout = 30", "timeout = 3"))
        write_csv(tmp_path / "data.csv", rows())
        self.cfg = load_config(toml)
        self.client = client
        push(self.cfg, tmp_path / "data.csv")
        self.relabel({r["id"]: expert_label(r["id"]) for r in rows()})
        pull(self.cfg)

    def reload(self, **settings):
        toml = self.tmp / "sheetsync.toml"
        body = toml.read_text()
        for key, value in settings.items():
            body = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", body, count=1)
        toml.write_text(body)
        self.cfg = load_config(toml)

    def relabel(self, labels):
        if self.backend == "xlsx":
            Expert(self.tmp / "labels.xlsx").label(labels)
        else:
            GoogleExpert(self.client, TITLE).label(labels)

    def tab(self, title="Review"):
        if self.backend == "xlsx":
            return XlsxTabExpert(self.tmp / "labels.xlsx", title)
        return GoogleTabExpert(self.client, TITLE, title)

    def tab_titles(self):
        if self.backend == "xlsx":
            return openpyxl.load_workbook(self.tmp / "labels.xlsx").sheetnames
        return [w.title for w in self.client.open(TITLE).worksheets()]

    def text(self, title) -> str:
        return "\n".join(" | ".join(str(c) for c in row if c) for row in self.tab(title).grid())


@pytest.fixture(params=["xlsx", "google"])
def world(request, tmp_path, monkeypatch, sheets_emulator, gspread_client):
    return World(request.param, tmp_path, monkeypatch, gspread_client, sheets_emulator)


@contextlib.contextmanager
def judge_server(monkeypatch):
    """The fake OpenAI-compatible server answering as :class:`Judge` (``server.judge`` switches versions)."""
    responder = Judge()
    with fake_llm(monkeypatch, responder=responder) as server:
        server.judge = responder
        yield server


@pytest.fixture
def fake_judge(monkeypatch):
    with judge_server(monkeypatch) as server:
        yield server


def scored(rid: str) -> bool:
    return split_of(rid) in ("dev", "test")


def pick(ids, *, mod8, split=None, skip=()):
    found = [i for i in ids if int(i[1:]) % 8 == mod8 and (split is None or split_of(i) == split) and i not in skip]
    assert found, f"the dataset has no disagreement with n ≡ {mod8} (mod 8) in {split or 'dev/test'}"
    return found[0]


def test_the_whole_review_cycle(world, fake_judge):
    cfg = world.cfg
    judge(cfg, split="all", progress=False)
    review = world.tab()
    shown = review.rows()
    expected = {r["id"] for r in rows() if flight(r["input"]) % 4 == 1 and scored(r["id"])}
    assert set(shown) == expected  # every disagreement on dev/test, nothing from train or unlabelled rows
    assert all(r["Status"] == "open" and r["judge critique"].startswith("Judge v1") for r in shown.values())

    a = pick(shown, mod8=1, split="dev")  # the judge is right: the expert relabels it
    b = pick(shown, mod8=5, split="dev")  # the expert's label stands (the better prompt agrees)
    c = pick(shown, mod8=1, skip={a})  # unclear: a criteria question
    e = pick(shown, mod8=5, skip={b})  # "judge is right", but the label is left as it was
    answers = {
        a: ("Judge is right", "I missed that the fee rule does not apply here."),
        b: ("My label stands", "  The policy quoted is the old one — a fail.\nSee §4. "),
        c: ("Unclear", "Is a Flex fare always free to change, even within 24 hours?"),
        e: ("Judge is right", "=1+1 looks like a formula; it is my reason"),
    }
    review.answer(answers)
    old_verdict = expert_label(a)[0]
    world.relabel({a: ("Pass" if old_verdict == "Fail" else "Fail", "On reflection the answer is acceptable: the fee "
                       "rule does not apply to this fare at all.", "")})
    review.sort_by("Resolution")
    review.insert_blank_row(3)

    s = pull(cfg)
    assert s.review["answers"] == {"Review": 4}
    assert s.review["revisions"] == [f"{a}: {old_verdict.lower()} → {'pass' if old_verdict == 'Fail' else 'fail'} "
                                     f"({answers[a][1]})"]
    assert [r.split(":")[0] for r in s.review["relabel_reminders"]] == [e]
    assert s.review["open_questions"] == [f"{c}: {answers[c][1]}"]
    store = Store.for_workspace(cfg.state_dir)
    (rev,) = store.revisions()
    assert (rev.id, rev.source, rev.reason) == (a, "review", answers[a][1])
    assert rev.critique_before == expert_label(a)[1] and rev.at

    rep = report(cfg)
    after = world.tab().rows()
    for rid, (resolution, why) in answers.items():  # every answer beside its id, byte for byte
        assert (after[rid]["Resolution"], after[rid]["Why"]) == (resolution, why)
    assert after[a]["Status"].startswith("answered: your label now agrees")
    assert after[b]["Status"].startswith("answered: your label stands")
    assert after[c]["Status"].startswith("answered: unclear")
    assert after[e]["Status"].startswith("answered: Judge is right — now change your label")
    assert all(after[i]["Status"] == "open" for i in expected - set(answers))
    assert answers[c][1] in world.text("Instructions") and answers[c][1] in world.text("Summary")
    assert rep.figures["questions"]["open"][0]["id"] == c

    # A better prompt: the next run agrees on b's flights; a's relabel now agrees with the judge.
    fake_judge.judge.version = 2
    prompt = world.tmp / "prompts" / "judge.md"
    prompt.write_text(prompt.read_text().replace("You are an expert evaluator", "You are a careful evaluator"))
    second = judge(cfg, split="all", progress=False)
    after = world.tab().rows()
    for rid, (resolution, why) in answers.items():
        assert (after[rid]["Resolution"], after[rid]["Why"]) == (resolution, why)
    assert after[a]["Status"].startswith("closed: the judge agrees with your label since run #2")
    assert after[b]["Status"].startswith("closed: the judge agrees")
    assert after[c]["Status"].startswith("reopened: the judge was run again (run #2)")
    assert after[c]["judge critique"].startswith("Judge v2")
    # agreement is against today's labels (a's relabel included)
    assert second.agreement["n"] == len([r for r in rows() if scored(r["id"])])

    rep = report(cfg)
    hist = rep.figures["agreement"]["history"]
    change = hist[-1]["change"]
    n = change["n_b"]
    assert change["from_run"] == 1 and (change["revised"], change["toward_judge"]) == (1, 1)
    fixed = len([i for i in expected if int(i[1:]) % 8 == 5])  # the prompt fixed these
    assert change["accuracy"]["labels"] == pytest.approx(1 / n)  # a's relabel alone
    assert change["accuracy"]["prompt"] == pytest.approx(fixed / n)
    assert change["accuracy"]["total"] == pytest.approx((fixed + 1) / n)
    assert hist[0]["tpr_then"] is not None and hist[-1]["change"]["tnr"]["labels"] is not None
    agreement_tab = world.text("Agreement")
    assert "TPR: prompt" in agreement_tab and "labels revised (toward the judge)" in agreement_tab

    # The expert settles the question; the Instructions tab stops asking it.
    world.tab().answer({c: ("My label stands", "Flex fares are free to change at any time: a fail.")})
    s = pull(cfg)
    assert s.review["settled_questions"] == [f"{c}: My label stands — Flex fares are free to change at any time: a fail."]
    assert s.review["open_questions"] == []
    report(cfg)
    assert answers[c][1] not in world.text("Instructions")
    assert world.tab().rows()[c]["Status"].startswith("answered: your label stands")
    assert world.tab_titles().count("Review") == 1


def test_a_deleted_answered_row_stays_gone_and_an_open_one_comes_back(world, fake_judge):
    """The expert may delete rows: one answered for the verdict it shows is done and stays gone (its answer
    is in the store); an unanswered one is still a disagreement and comes back at the bottom."""
    cfg = world.cfg
    judge(cfg, split="all", progress=False)
    review = world.tab()
    ids = sorted(review.rows())
    done, undone = ids[0], ids[1]
    review.answer({done: ("My label stands", "Checked twice: the fee quoted does not exist for this fare.")})
    pull(cfg)
    _delete_rows(world, {done, undone})
    report(cfg)
    after = world.tab().rows()
    assert done not in after and after[undone]["Status"] == "open"
    store = Store.for_workspace(cfg.state_dir)
    assert store.latest_answers("review")[done].why.startswith("Checked twice")


def _delete_rows(world, ids):
    if world.backend == "xlsx":
        wb = openpyxl.load_workbook(world.tmp / "labels.xlsx")
        ws = wb["Review"]
        h = [c.value for c in ws[1]]
        for r in range(ws.max_row, 1, -1):
            if ws.cell(r, h.index("id") + 1).value in ids:
                ws.delete_rows(r)
        wb.save(world.tmp / "labels.xlsx")
        return
    t = world.tab()
    for rid in ids:
        at = next(i for i, line in enumerate(t.grid()) if line and line[0] == rid)
        t.sh.batch_update({"requests": [{"deleteDimension": {"range": {
            "sheetId": t.ws.id, "dimension": "ROWS", "startIndex": at, "endIndex": at + 1}}}]})


def test_a_refresh_writes_only_what_changed(world, fake_judge, monkeypatch):
    """The Instructions tab is rewritten when its open questions change, not on every report; the Review tab
    only where a row's cells change."""
    from sheetsync.backends.google_workbook import GoogleWorkbook
    from sheetsync.backends.xlsx import XlsxWorkbook

    cls = XlsxWorkbook if world.backend == "xlsx" else GoogleWorkbook
    written: list[list[str]] = []
    original = cls.write

    def write(self, specs):
        written.append([s.title for s in specs if s.blocks])
        return original(self, specs)

    monkeypatch.setattr(cls, "write", write)
    judge(world.cfg, split="all", progress=False)
    report(world.cfg)
    written.clear()
    report(world.cfg)
    assert written and not {"Instructions", "Review"} & set(written[0])
    rid = sorted(world.tab().rows())[0]
    world.tab().answer({rid: ("Unclear", "Does a refund offer count as resolving the complaint?")})
    pull(world.cfg)
    written.clear()
    report(world.cfg)
    assert {"Instructions", "Review"} <= set(written[0])
