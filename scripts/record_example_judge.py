"""Write the replayed example judge's recordings (sheetsync/examples/support_assistant_judge.json).

    .venv/bin/python scripts/record_example_judge.py          # rewrite the file
    .venv/bin/python scripts/record_example_judge.py --check  # exit 1 if the file is not what the rules give

No model wrote these answers: rules did, from the example expert's own verdicts, critiques and root causes,
so that `sheetsync demo` can show the whole loop with no API key. The rules are meant to behave like a real
judge being improved, not like an oracle:

- Where the judge agrees with the expert, its critique restates the expert's reasoning (the expert's first
  two sentences, without the opening "Pass."/"Fail."): the reasoning a good judge gives, in the expert's words.
- Iteration 1 (the prompt `sheetsync init` writes) misses failures that need arithmetic on dates, times and
  fees (a policy misapplied on a deadline, a window, a threshold), misses most failures that hinge on who the
  customer is (an ignored tier or record, a missed identity check), and fails many passes over a minor flaw
  the expert named but did not fail them for. Its critique then praises what the reply got right (the
  expert's own concession, when there is one) or dwells on that minor flaw.
- Iteration 2 adds the first lesson (work out dates, times and amounts; judge the outcome, not the polish):
  the arithmetic failures are caught and the minor flaws no longer fail a reply.
- Iteration 3 adds the second lesson (read who the customer is): the tier and identity failures are caught,
  and, as with real prompt edits, the judge becomes a little stricter on passes about tiers and identity.
- In every iteration some rows stay wrong (a deterministic 10% of fails, 4% of passes): no judge is perfect.

Which rows fall in each case is decided by each id's hash, so the recordings are stable as the example grows.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from sheetsync.replay import RECORDINGS, REPLAY_MODEL, output_digest  # noqa: E402

EXAMPLE = ROOT / "sheetsync" / "examples" / "support_assistant.csv"
OUT = ROOT / "sheetsync" / "examples" / RECORDINGS

LESSONS = (
    "- Work out every date, time and amount before you judge: the hours since the booking (the 24-hour "
    "window), the business days since a refund was approved, the delay at arrival (not departure), the fee "
    "for this fare class and this many passengers. A reply that applies the wrong window, fee or threshold "
    "fails, however helpful it sounds.\n"
    "- Judge the outcome, not the polish: a reply with a small imperfection (a tip it could also have given, "
    "a slightly chatty close) still passes when the customer gets a correct and complete answer.",
    "- Read the booking facts for who the customer is before you judge: no booking detail may be disclosed or "
    "changed before identity_verified is yes (reference and last name), and the customer's tier benefits "
    "(Gold: free seat selection, an extra checked bag, priority rebooking) and choices on record (a voucher, "
    "a no-show) change the right answer. A reply that ignores them fails.",
)
WHAT = (  # what each iteration's prompt is, in a few words (the demo prints them)
    "the prompt `sheetsync init` writes",
    "+ work out dates, times and amounts; judge the outcome, not the polish",
    "+ read who the customer is: identity, tier, the record",
)
RESIDUAL_FAIL, RESIDUAL_PASS = 0.10, 0.04
CONTEXT_MISSED, FLAW_FAILED, STRICTER = 0.7, 0.6, 0.3

SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z'‘\"(])")
OPENER = re.compile(r"^(Pass|Fail)\b[^.]{0,30}\.\s*")
TIMING = re.compile(r"\b(hours?|UTC|business days?|deadline|window|arriv\w*|departure|per passenger|"
                    r"\d+ days)\b", re.I)
FLAW = re.compile(r"\b(could have|could also|could be|might have|would have been|doesn't mention|does not "
                  r"mention|a little|slightly|minor|reservation|not ideal|only flaw|small)\b", re.I)
CONCESSION = re.compile(r"\b(correct|correctly|right|accurate|fine|good|helpful)\b", re.I)
CRITICISM = re.compile(r"\b(should|instead|not|n't|no|wrong|invent\w*|fail\w*|ignor\w*|miss\w*|only|never|"
                       r"breaks?|against|however|yet|would|(a|the) (correct|right) (reply|answer|response))\b|n't",
                       re.I)
BUT = re.compile(r",? but |; but | — but |, though | though ")
LABEL = re.compile(r"^(Minor|Small gap|One quibble|A quibble|Nitpick)[^:]{0,20}:\s*", re.I)
IDENTITY_OR_TIER = re.compile(r"§1\.1|§7\.1|\bGold\b|\bSilver\b")

MISSED_FAIL = {  # the judge's pass critique when it misses this kind of failure
    "policy misapplied": "The reply explains the rule that applies and what it means for this booking, and "
                         "offers to go ahead.",
    "hallucinated fact": "The reply is specific and helpful: it gives the customer concrete details and a "
                         "clear next step.",
    "overpromised": "The assistant is reassuring and proactive, and takes care of the request for the customer.",
    "failed to escalate": "The assistant stays with the customer's problem and offers a concrete way forward.",
    "wrong tone": "The facts match the booking and the policy lines, and the reply is direct.",
    "incomplete answer": "The reply answers the customer's question correctly and concisely.",
    "ignored context": "The reply follows the policy for this kind of request and gives a clear next step.",
    "missed identity check": "The assistant gives the customer the booking details they asked about and "
                             "offers further help.",
}
PASS_CLOSERS = (
    "Nothing in it contradicts the context, so the customer gets what they needed.",
    "The customer's request is handled within policy and in a friendly tone.",
    "It does what the customer asked without breaking a policy line.",
)
STRICT_OPENERS = ("The reply gets the main point right, but it falls short.",
                  "Mostly correct, but not good enough.", "The answer is close, but not there.")
STRICT_CLOSERS = ("For this customer that is not good enough, so the reply fails.",
                  "That gap matters to the customer, so it fails.",
                  "A careful agent would not send it like this: fail.")


def u(rid: str, salt: str) -> float:
    digest = hashlib.sha256(f"replayed-judge:{salt}:{rid}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def sentences(critique: str) -> list[str]:
    return [s for s in SENTENCE.split(OPENER.sub("", critique.strip(), count=1)) if s]


POLICY = {  # a few words for each policy line, as a judge names what it checked
    "§1.1": "identity before details", "§2.1": "free cancellation within 24 hours",
    "§2.2": "cancellation fees by fare", "§2.3": "airline cancellations", "§2.4": "one direction of a return",
    "§3.1": "change fees by fare", "§3.2": "name corrections, no transfers", "§4.1": "refund route and timing",
    "§4.2": "replaced cards", "§4.3": "vouchers only on request", "§4.4": "company credit notes",
    "§4.5": "payment traces", "§4.6": "no card numbers in chat", "§4.7": "refund currency",
    "§5.1": "included baggage", "§5.2": "extra and overweight bags", "§5.3": "delayed and damaged bags",
    "§5.4": "sports equipment", "§5.5": "special items need approval", "§6.1": "hotel policies",
    "§6.2": "pay-at-hotel bookings", "§6.3": "special requests", "§6.4": "hotel cannot honour a booking",
    "§7.1": "tier benefits", "§8.1": "only facts from the record", "§9.1": "EU261 eligibility and amounts",
    "§9.2": "extraordinary circumstances", "§9.3": "no promised compensation", "§9.4": "disruption expenses",
    "§9.5": "compensation payment", "§10.1": "handover to a human", "§11.1": "tone",
    "§12.1": "out of scope", "§13.1": "goodwill is for humans",
}
CODE = re.compile(r"§\d+\.\d+")


def checked(row: dict[str, str]) -> str:
    """"Checked §2.1 (free cancellation within 24 hours) and §4.1 (…)": the policy lines the row comes with."""
    codes = list(dict.fromkeys(CODE.findall(row["policy_facts"])))
    named = [f"{c} ({POLICY[c]})" if c in POLICY else c for c in codes]
    return "Checked " + (", ".join(named[:-1]) + " and " + named[-1] if len(named) > 1 else named[0]) + "."


def agreeing(row: dict[str, str], crit: list[str], verdict: str, causes: list[str]) -> str:
    """The judge's own frame around the expert's main point: what it checked, the finding, the verdict."""
    finding = crit[0] if crit else ""
    if verdict == "fail":
        return f"{checked(row)} {finding} Fails on: {', '.join(causes) or 'policy'}."
    return f"{checked(row)} {finding} Passes."


def missed_fail(rid: str, crit: list[str], causes: list[str]) -> str:
    """A pass critique that praises what the reply got right (the expert's concession), missing the flaw."""
    parts = (BUT.split(s)[0].rstrip(".,;—– ") + "." for s in crit)
    concession = next((p for p in parts if CONCESSION.search(p) and not CRITICISM.search(p)
                       and len(p.split()) >= 5), None)
    closer = PASS_CLOSERS[int(u(rid, "closer") * len(PASS_CLOSERS))]
    if concession:
        return f"{concession} {closer} Passes."
    return f"{MISSED_FAIL.get(causes[0], MISSED_FAIL['policy misapplied'])} {closer} Passes."


def strict_fail(rid: str, crit: list[str], reason: str | None = None) -> str:
    """A fail critique that over-weights a minor flaw the expert named (or a rule applied too strictly)."""
    flaw = next((s for s in crit[1:] if FLAW.search(s)), None)
    opener = STRICT_OPENERS[int(u(rid, "opener") * len(STRICT_OPENERS))]
    if reason:
        return f"{opener} {reason}"
    if flaw:
        part = next(p for p in BUT.split(flaw) if FLAW.search(p))
        flaw = LABEL.sub("", part.strip().rstrip(".,;—– ")) + "."
        closer = STRICT_CLOSERS[int(u(rid, "closer") * len(STRICT_CLOSERS))]
        return f"{opener} {flaw[0].upper()}{flaw[1:]} {closer}"
    return (f"{opener} It does not quote the policy line it relies on, so the customer cannot check the answer; "
            "it should state the rule and its source.")


def answers_for(row: dict[str, str]) -> list[tuple[str, str]]:
    """(verdict, critique) for iterations 1, 2 and 3."""
    rid, verdict = row["id"], row["expert_verdict"]
    crit = sentences(row["expert_critique"])
    causes = [c.strip() for c in row["root_cause"].split(";") if c.strip()]
    agree = (verdict, agreeing(row, crit, verdict, causes))
    if verdict == "fail":
        missed = ("pass", f"{checked(row)} {missed_fail(rid, crit, causes)}")
        if u(rid, "residual") < RESIDUAL_FAIL:
            return [missed] * 3
        if "policy misapplied" in causes and TIMING.search(row["expert_critique"]):
            return [missed, agree, agree]
        if {"ignored context", "missed identity check"} & set(causes) and u(rid, "context") < CONTEXT_MISSED:
            return [missed, missed, agree]
        return [agree] * 3
    if u(rid, "residual") < RESIDUAL_PASS:
        return [("fail", f"{checked(row)} {strict_fail(rid, crit)}")] * 3
    first = ("fail", f"{checked(row)} {strict_fail(rid, crit)}") if FLAW.search(" ".join(crit[1:])) and u(rid, "flaw") < FLAW_FAILED \
        else agree
    third = agree
    if IDENTITY_OR_TIER.search(row["expert_critique"]) and u(rid, "stricter") < STRICTER:
        third = ("fail", checked(row) + " " + strict_fail(rid, crit, "It does not confirm the customer's identity and tier entitlements "
                                                "in so many words before answering, which the policy requires; "
                                                "the reply should say what was checked."))
    return [first, agree, third]


def build(example: Path = EXAMPLE) -> dict:
    df = pd.read_csv(example, dtype=str, keep_default_na=False)
    answers = []
    for row in df.to_dict(orient="records"):
        versions: list[dict[str, object]] = []
        for k, (verdict, critique) in enumerate(answers_for(row), start=1):
            if not versions or (versions[-1]["verdict"], versions[-1]["critique"]) != (verdict, critique):
                versions.append({"from": k, "verdict": verdict, "critique": critique})
        answers.append({"id": row["id"], "output_sha256": output_digest(row["output"]), "by_iteration": versions})
    return {
        "about": "EXAMPLE DATA. The recorded answers of the replayed example judge that `sheetsync demo` serves "
                 "when no LLM is configured. No model wrote them: rules did (scripts/record_example_judge.py, "
                 "which regenerates this file), from the example expert's own verdicts, critiques and root "
                 "causes — agreeing with the expert on most rows but not all, and improving over three prompt "
                 "iterations, as a real judge would. Set OPENAI_API_KEY or OPENAI_BASE_URL to judge with a "
                 "real model.",
        "model": REPLAY_MODEL,
        "dataset": EXAMPLE.name,
        "dataset_sha256": hashlib.sha256(example.read_bytes()).hexdigest(),
        "iterations": [{"iteration": k + 1, "lesson": None if k == 0 else LESSONS[k - 1], "what": WHAT[k]}
                       for k in range(len(WHAT))],
        "answers": answers,
    }


def render(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from what the rules give")
    args = parser.parse_args()
    text = render(build())
    if args.check:
        same = OUT.exists() and OUT.read_text(encoding="utf-8") == text
        print(f"{OUT.relative_to(ROOT)} is {'up to date' if same else 'out of date: run this script'}")
        return 0 if same else 1
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(json.loads(text)['answers'])} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
