"""The store's side of the Review tab, on both engines: answers (every change kept, the latest per row),
criteria questions opened, re-worded and settled, label revisions, verdicts shown, labels' judge_seen, and a
second rater's store beside the workspace's."""

from __future__ import annotations

from sheetsync.raters import rater_location, rater_store
from sheetsync.store import Answer, Label, Question, Revision
from tests.store.conftest import workspace_config


def test_answers_questions_and_revisions(make_store):
    store = make_store()
    first = Answer("review", "r1", "run-1", "Unclear", "Is a Flex fare free?", "sig1")
    store.save_review(answers=[first, Answer("review", "r2", "run-1", "My label stands", "  ünï\ncode ", "sig2")],
                      asked=[Question("review", "r1", "2026-01-01T00:00:00+00:00", "Is a Flex fare free?")])
    store.save_review(asked=[Question("review", "r1", "2026-01-01T00:00:00+00:00", "Is a Flex fare free to change?")])
    assert [q.question for q in store.questions(open_only=True)] == ["Is a Flex fare free to change?"]
    later = Answer("review", "r1", "run-2", "My label stands", "Flex fares are free.", "sig3")
    settled = Question("review", "r1", "2026-01-01T00:00:00+00:00", "", settled_as="My label stands",
                       decision="Flex fares are free.")
    revision = Revision("r1", "fail", "pass", "old", "new", "", "", "the judge was right", "review", 7)
    store.save_review(answers=[later], settled=[settled], revisions=[revision])

    again = make_store()  # another connection sees all of it
    latest = again.latest_answers("review")
    assert latest["r1"].instance == "run-2" and latest["r2"].why == "  ünï\ncode "
    assert [a.sig for a in again.answers()] == ["sig1", "sig2", "sig3"]  # every change kept, in order
    assert again.latest_answers("calibration") == {}
    assert again.questions(open_only=True) == []
    (q,) = again.questions()
    assert (q.question, q.settled_as, q.decision) == ("Is a Flex fare free to change?", "My label stands",
                                                      "Flex fares are free.") and q.settled_at
    (r,) = again.revisions()
    assert (r.id, r.verdict_before, r.verdict_after, r.reason, r.source, r.pull_id) == (
        "r1", "fail", "pass", "the judge was right", "review", 7) and r.at


def test_verdicts_shown_and_judge_seen(make_store):
    store = make_store()
    store.record_verdicts_shown(["r1", "r2"])
    store.save_pull("labels.xlsx", [Label("r1", "pass", "Pass", "c", "", "", "h", judge_seen=True),
                                    Label("r2", None, "", "", "", "", "", judge_seen=None),
                                    Label("r3", "fail", "Fail", "c", "", "", "h", judge_seen=False)])
    store.record_verdicts_shown(["r2", "r3"])  # r2 again: the first time is kept
    assert store.verdicts_shown() == {"r1": 0, "r2": 0, "r3": 1}
    labels = make_store().labels()
    assert (labels["r1"].judge_seen, labels["r2"].judge_seen, labels["r3"].judge_seen) == (True, None, False)
    assert [p["pull_id"] for p in store.pulls()] == [1]


def test_a_second_raters_store_is_its_own(store_url, tmp_path):
    cfg = workspace_config(tmp_path / "ws", store_url)
    principal = rater_store(cfg, "Sam", create=False)
    assert principal is None  # nothing made by looking
    sam = rater_store(cfg, "Sam", create=True)
    other = rater_store(cfg, "Kim", create=True)
    try:
        sam.set_meta("spreadsheet", "sams.xlsx")
        assert other.get_meta("spreadsheet") is None
        loc = rater_location(cfg, "Sam")
        if loc.engine == "postgresql":
            assert loc.workspace == "support-bot rater Sam"
        else:
            assert loc.path.parent.parent == tmp_path / "team" / "raters" and loc.path.parent.name.startswith("Sam-")
    finally:
        sam.close()
        other.close()
