"""LangSmith run exports (JSON/JSONL): runs as the SDK's ``langsmith.schemas.Run`` serialises them.

A run has ``id``, ``trace_id``, ``parent_run_id``, ``run_type`` (``chain``, ``llm``, ``tool``,
``retriever``…), ``inputs``, ``outputs``, ``error``, ``tags``, ``extra.metadata`` and ``app_path`` (its
page in the LangSmith app, relative to the host). Runs may be nested (``child_runs``) or one per line in any
order; they are grouped by ``trace_id`` and one trace — its root run — is one interaction, with the root's
id as the row's id and ``host + app_path`` as its link.

The conversation comes from the trace's last ``llm`` run (``inputs.messages``, ``outputs.generations`` or
an OpenAI-shaped ``outputs.choices``), falling back to the root run's own inputs and outputs; retriever runs
give the documents (``outputs.documents[].page_content``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sheetsync.importers.assemble import Assembler
from sheetsync.importers.rows import RecordError, Trace, as_list, chat_messages, get, located

HOST = "https://smith.langchain.com"
_TEXT_KEYS = ("messages", "input", "question", "query", "prompt", "output", "answer", "text", "content", "result")


def traces(records: Iterator[tuple[str, dict[str, Any]]], link: str, host: str = HOST,
           assembler: Assembler | None = None) -> Iterator[tuple[str, Trace]]:
    asm = assembler or Assembler()
    for where, rec in records:
        for run in _flatten(rec):
            trace_id = str(run.get("trace_id") or run.get("id"))
            for group in asm.add(trace_id, run, root=not run.get("parent_run_id"), where=where):
                yield group.where, located(group.where, trace_of, group.root, group.parts, link, host)
    for group in asm.finish():
        yield group.where, located(group.where, trace_of, group.root, group.parts, link, host)


def _flatten(run: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if not run.get("id") or "run_type" not in run:
        raise RecordError("no `id` or `run_type`: not a LangSmith run")
    yield run
    for child in as_list(run.get("child_runs")):
        if isinstance(child, dict):
            yield from _flatten({"trace_id": run.get("trace_id") or run["id"], "parent_run_id": run["id"], **child})


def trace_of(root: dict[str, Any], runs: list[dict[str, Any]], link: str, host: str) -> Trace:
    ordered = sorted(runs, key=lambda r: (str(r.get("dotted_order") or ""), str(r.get("end_time") or "")))
    llms = [r for r in ordered if r.get("run_type") == "llm" and _llm_messages(r)]
    if llms:
        messages, output = _llm_messages(llms[-1]), _llm_output(llms[-1])
    else:
        messages = _side(root.get("inputs"), "user")
        output = _side(root.get("outputs"), "assistant") if root.get("outputs") else []
        if output[: len(messages)] == messages:  # a graph's state: the outputs repeat the conversation
            output = output[len(messages):]
    if not messages:
        raise RecordError(f"run {root['id']}: no messages or text in `inputs` (nor in an llm child run)")
    metadata = {k: v for k, v in (get(root, "extra", "metadata") or {}).items() if not str(k).startswith("ls_")}
    if root.get("name"):
        metadata = {"run_name": root["name"], **metadata}
    model = next((str(get(r, "extra", "metadata", "ls_model_name") or get(r, "extra", "invocation_params", "model") or "")
                  for r in reversed(llms)), "")
    rid = str(root["id"])
    url = link.format(id=rid, trace_id=rid) if link else (host.rstrip("/") + root["app_path"] if root.get("app_path") else "")
    docs = [{"id": get(d, "metadata", "source") or d.get("id"), "text": d.get("page_content")}
            for r in ordered if r.get("run_type") == "retriever"
            for d in as_list(get(r, "outputs", "documents")) if isinstance(d, dict)]
    return Trace(id=rid, messages=messages, output=output, documents=docs, metadata=metadata,
                 tags=[str(t) for t in as_list(root.get("tags"))], model=model, url=url,
                 error=str(root.get("error") or ""))


def _llm_messages(run: dict[str, Any]) -> list[dict[str, Any]]:
    inputs = run.get("inputs") or {}
    if "messages" in inputs:
        return chat_messages(inputs["messages"])
    prompts = as_list(inputs.get("prompts"))
    return [{"role": "user", "content": str(prompts[-1])}] if prompts else []


def _llm_output(run: dict[str, Any]) -> list[dict[str, Any]]:
    outputs = run.get("outputs") or {}
    generation = get(outputs, "generations", 0, 0) or get(outputs, "generations", 0)
    if isinstance(generation, dict):
        message = generation.get("message")
        if isinstance(message, dict):
            return [{**m, "role": "assistant"} if m.get("role") == "?" else m for m in chat_messages([message])]
        return [{"role": "assistant", "content": generation.get("text", "")}]
    message = get(outputs, "choices", 0, "message")
    if isinstance(message, dict):
        return chat_messages([{"role": "assistant", **message}])
    return _side(outputs, "assistant")


def _side(value: Any, role: str) -> list[dict[str, Any]]:
    """A chain's inputs or outputs as messages: its messages, or its first text under a usual key."""
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    if not isinstance(value, dict):
        return []
    for key in _TEXT_KEYS:
        if key in value:
            inner = value[key]
            if isinstance(inner, list) and inner and isinstance(inner[0], dict | list):
                return chat_messages(inner)
            if isinstance(inner, dict):
                return _side(inner, role)
            return [{"role": role, "content": "" if inner is None else str(inner)}]
    return [{"role": role, "content": chat_text(value)}] if value else []


def chat_text(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, default=str)
