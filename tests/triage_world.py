"""A labelled workspace with three failure modes, and a fake LLM that plays every part of steps 6 and 7: the
judge (perfect), the triage (a scripted taxonomy), the classifier and a specialized judge (each wrong on
known rows, so their measured figures are worth checking). Shared by the triage, classify and judges tests."""

import re

from sheetsync.config import load_config
from sheetsync.judge.splits import split_of
from sheetsync.pull import pull
from sheetsync.push import push
from sheetsync.workspace import init_workspace
from tests.expert import Expert
from tests.test_judge import write_csv

N, LABELLED = 96, 72
MODES = {0: "FEE-ERROR", 1: "INVENTED", 2: "RUDE"}
EXPERT_CAUSE = {"FEE-ERROR": "policy misapplied", "INVENTED": "hallucinated fact", "RUDE": "rude reply"}
CRITIQUE = {
    "FEE-ERROR": "The assistant quoted a change fee that the Flex fare waives; it should have confirmed the change "
                 "is free.",
    "INVENTED": "The assistant promised a lounge voucher that exists nowhere in the context, an invented benefit the "
                "customer will ask for.",
    "RUDE": "The assistant told the customer to read the manual instead of helping, which is dismissive and "
            "unkind to a worried traveller.",
    None: "The assistant answered correctly from the policy in the context and offered the right next step.",
}


def rid(i):
    return f"r{i:03d}"


def mode(i):
    return MODES.get(i % 6)


def tier(i):
    return "Gold" if i % 4 < 2 else "Basic"


def dataset():
    out = []
    for i in range(N):
        m = mode(i)
        out.append({"id": rid(i), "tier": tier(i), "input": f"Question {i}: can I change my flight to Friday?",
                    "output": f"{m + ': ' if m else ''}Answer {i} about the change."})
    return out


def build(root, *, extra_toml=""):
    """init → push → the expert labels the first LABELLED rows → pull."""
    init_workspace(root, spreadsheet="labels.xlsx")
    toml = root / "sheetsync.toml"
    text = toml.read_text().replace("dimensions = []", 'dimensions = ["tier"]')
    toml.write_text(text + extra_toml)
    write_csv(root / "data.csv", dataset())
    cfg = load_config(toml)
    push(cfg, root / "data.csv")
    labels = {}
    for i in range(LABELLED):
        m = mode(i)
        labels[rid(i)] = ("Fail" if m else "Pass", CRITIQUE[m], EXPERT_CAUSE.get(m, ""))
    Expert(root / "labels.xlsx").label(labels)
    pull(cfg)
    return cfg


def number(text):
    return int(re.search(r"Question (\d+):", text).group(1))


# -- the fake LLM's parts ----------------------------------------------------------------------------------

TRIAGE_NAMES = {"FEE-ERROR": "Wrong fee quoted", "INVENTED": "Hallucinated fact", "RUDE": "Rude reply"}


def triage_answer(user):
    refs = {}
    for ref, text in re.findall(r"(C\d+):\n<data-\w+ name=\"critique\">\n(.*?)\n</data-", user, re.S):
        m = next((k for k, v in CRITIQUE.items() if k and v == text), None)
        refs.setdefault(m, []).append(ref)
    cats = [{"name": TRIAGE_NAMES[m], "definition": f"Failures like: {CRITIQUE[m][:40]}", "critique_ids": refs[m]}
            for m in ("FEE-ERROR", "INVENTED", "RUDE") if refs.get(m)]
    cats.append({"name": "Formatting, layout", "definition": "Badly laid out answers.",
                 "critique_ids": [refs["RUDE"][0], "C999"]})  # a separator in the name, a ref never sent
    return {"categories": cats}


def classifier_causes(i):
    """What the fake classifier answers for row i: right on fees, over-eager on inventions, blind to some rudeness."""
    m = mode(i)
    if m == "FEE-ERROR":
        return ["policy misapplied"]
    if m == "INVENTED":
        return ["hallucinated fact", "policy misapplied"] if i % 4 == 1 else ["hallucinated fact"]
    if m == "RUDE":
        return [] if i % 4 == 2 else ["Rude reply"]  # the alias: counts as "dismissive tone"
    return ["wrong tone"] if i % 5 == 0 else []


def tone_judge_fails(i):
    """The specialized LLM judge for dismissive tone: catches rudeness, with false alarms on some rows."""
    return mode(i) == "RUDE" or i % 10 == 3


def responder(request):
    system, user = request["messages"][0]["content"], request["messages"][-1]["content"]
    if "axial coding" in system:
        return triage_answer(user)
    if "You assign root causes" in system:
        return {"reason": "By the rule.", "root_causes": classifier_causes(number(user))}
    if "one failure mode" in system:
        fails = tone_judge_fails(number(user))
        return {"critique": "Dismissive." if fails else "Courteous.", "verdict": "fail" if fails else "pass"}
    bad = any(marker + ":" in user for marker in MODES.values())
    return {"critique": "Fails by the rule." if bad else "Fine.", "verdict": "fail" if bad else "pass"}


def split(i):
    return split_of(rid(i)) if i < LABELLED else "unlabeled"
