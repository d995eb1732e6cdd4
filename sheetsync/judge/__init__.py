"""The LLM judge: data splits, the few-shot prompt taught by the expert's critiques, and the runner."""

from sheetsync.judge.prompt import JudgePrompt, build_examples
from sheetsync.judge.runner import JudgeOutcome, judge, show_prompt
from sheetsync.judge.splits import SPLITS, split_of

__all__ = ["SPLITS", "JudgeOutcome", "JudgePrompt", "build_examples", "judge", "show_prompt", "split_of"]
