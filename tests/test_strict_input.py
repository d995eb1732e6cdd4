"""Bad dataset files, as a user meets them: `sheetsync push` stops with the file, the line and what to do
(exit 2, no traceback), and nothing is written — no workbook, no store."""

import json

import pytest
from click.testing import CliRunner

from sheetsync.cli import cli
from sheetsync.datafiles import MAX_DEPTH
from sheetsync.dataset import MAX_ID_CHARS, load_dataset
from tests.expert import Expert


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(cli, ["init", "--spreadsheet", "labels.xlsx"]).exit_code == 0
    return tmp_path


def push(workspace, name, content, *extra):
    path = workspace / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return CliRunner().invoke(cli, ["push", name, *extra])


def assert_stopped(result, *messages):
    """Bad input: exit 2 with each message on stderr, and no traceback."""
    output = result.output + result.stderr
    assert result.exit_code == 2, output
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    for message in messages:
        assert message in result.stderr, result.stderr


def assert_refused(workspace, result, *messages):
    """Stopped (``assert_stopped``) before the workbook or the store was written."""
    assert_stopped(result, *messages)
    assert not (workspace / "labels.xlsx").exists(), "the workbook was written"
    assert not (workspace / ".sheetsync").exists(), "the store was written"


def nested(depth: int) -> object:
    """A value that makes a record ``depth`` levels deep (the record itself is level 1)."""
    value: object = "leaf"
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    "name,content,messages",
    [
        # a quote left open swallowed every following row into one cell
        ("open.csv", 'id,input,output\n1,"never closed,b\n2,c,d\n3,e,f\n',
         ["open.csv: line 2: a quoted value opened on this row is never closed", 'write a quote as two ("")']),
        # a short row was padded with empty cells: its values were in the wrong columns
        ("short.csv", "id,input,output\n1,a,b\n2,only two\n3,e,f\n",
         ["short.csv: line 3: 2 fields but the header has 3 (id, input, output)", "an empty value is fine"]),
        ("long.tsv", "id\tinput\toutput\n1\ta\tb\n2\tc\td\textra\n", ["long.tsv: line 3: 4 fields but the header has 3"]),
        ("after.tsv", 'id\tinput\toutput\n1\t"quoted" then text\tb\n',
         ["after.tsv: line 2: text follows a closing quote", "two"]),
        # NaN arrived as an empty output; Infinity and overflowing numbers likewise
        ("nan.jsonl", '{"id": "1", "input": "a", "output": "b"}\n{"id": "2", "input": "a", "output": NaN}\n',
         ["nan.jsonl: line 2: `output` is NaN, which is not a JSON number", "Write null for a missing value"]),
        ("inf.json", '[{"id": "1", "input": "a", "output": "b", "meta": {"scores": [1, -Infinity]}}]',
         ["inf.json: record 1 (line 1): `meta.scores[1]` is -Infinity"]),
        ("big.jsonl", '{"id": "1", "input": "a", "output": 1e400}\n', ["line 1: `output` is 1e400, a number too large"]),
        # keys that collide once trimmed were a traceback; an exact repeat silently kept the last value
        ("trim.json", '[\n {"id": "1", "input": "a", "output": "b"},\n {"id": "2", " id": "3", "input": "a", "output": "b"}\n]',
         ["trim.json: record 2 (line 3): the keys 'id' and ' id' are the same column once spaces are trimmed"]),
        ("twice.jsonl", '{"id": "1", "input": "a", "output": "first", "output": "second"}\n',
         ["twice.jsonl: line 1: the key 'output' appears twice in one object"]),
        ("blank.jsonl", '{"id": "1", "input": "a", "output": "b", " ": "x"}\n', ["line 1: a key with no name"]),
        # deep nesting was a RecursionError traceback
        ("deep.json", '[{"id": "1", "input": "a", "output": ' + "[" * 100_000 + "]" * 100_000 + "}]",
         [f"deep.json: record 1 (line 1): nested more than {MAX_DEPTH} levels deep", "Flatten the value"]),
        ("deeper.jsonl", json.dumps({"id": "1", "input": "a", "output": "b", "meta": nested(MAX_DEPTH + 1)}) + "\n",
         [f"deeper.jsonl: line 1: nested more than {MAX_DEPTH} levels deep"]),
        ("half.jsonl", '{"id": "1", "input": "a \\ud83d b", "output": "b"}\n',
         ["half.jsonl: line 1: `input` holds half of a surrogate pair"]),
    ],
)
def test_bad_files_are_refused_before_anything_is_written(workspace, name, content, messages):
    assert_refused(workspace, push(workspace, name, content), *messages)


def test_valid_edge_cases_still_load(tmp_path):
    """Strictness must not cost a valid file: multi-line quoted cells, doubled quotes, blank lines, CRLF,
    a BOM, nesting up to the limit, U+2028 inside a JSON string (str.splitlines() used to cut it there)."""
    csv = tmp_path / "ok.csv"
    csv.write_bytes('\ufeffid,input,output\r\n1,"two\r\nlines","say ""hi"""\r\n\r\n2,,\r\n'.encode())
    ds = load_dataset(csv)
    assert ds.frame.to_dict(orient="records") == [
        {"id": "1", "input": "two\r\nlines", "output": 'say "hi"'}, {"id": "2", "input": "", "output": ""},
    ]
    jsonl = tmp_path / "ok.jsonl"
    rows = [{"id": "a", "input": "x\u2028y", "output": "o", "meta": nested(MAX_DEPTH)}, {"id": "b", "input": "i",
            "output": None, "score": 0.5}]
    jsonl.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    ds = load_dataset(jsonl)
    assert list(ds.frame["input"]) == ["x\u2028y", "i"] and list(ds.frame["output"]) == ["o", ""]
    assert ds.frame.loc[1, "score"] == "0.5"


def test_parquet_columns_that_collide_once_trimmed(workspace):
    import pandas as pd

    pd.DataFrame([{"id": "1", " id": "2", "input": "a", "output": "b"}]).to_parquet(workspace / "d.parquet")
    result = CliRunner().invoke(cli, ["push", "d.parquet"])
    assert_refused(workspace, result, "d.parquet: column(s) ' id', 'id' have no name or the same name once spaces")


@pytest.mark.parametrize(
    "rid,problem",
    [
        ("a\rb", "contains a carriage return (\\r)"),
        ("a\nb", "contains a line break (\\n)"),
        ("x\x07", "contains the control character U+0007"),
        (" 7", "starts with a space"),
        ("7\u00a0", "ends with whitespace U+00A0"),
        ("x" * (MAX_ID_CHARS + 1), f"is {MAX_ID_CHARS + 1:,} characters long"),
    ],
)
def test_ids_that_cannot_survive_the_trip(workspace, rid, problem):
    """An id the spreadsheet gives back changed (line endings converted, trimmed, cut) never matches again:
    every push would add the row anew. It is refused at load, naming the line and what to do."""
    text = 'id,input,output\nok,a,b\n"' + rid + '",c,d\n'
    result = push(workspace, "d.csv", text)
    assert_refused(workspace, result, "d.csv: id(s) in column `id` that would not come back", "line 3: ", problem,
                   'set `[columns] id` in sheetsync.toml to another column, or to "" for content-hash ids')


def test_empty_id_setting_gives_content_hash_ids(workspace):
    """The way out the message offers: `[columns] id = ""` ignores the data's ids and makes stable ones."""
    toml = workspace / "sheetsync.toml"
    toml.write_text(toml.read_text().replace('id = "id"', 'id = ""', 1))
    assert 'id = ""' in toml.read_text()
    result = push(workspace, "d.csv", 'input,output\nc,d\n')
    assert result.exit_code == 0, result.output + result.stderr
    (rid, row), = Expert(workspace / "labels.xlsx").rows().items()
    assert len(rid) == 12 and row["input"] == "c"
    again = CliRunner().invoke(cli, ["push", "d.csv"])
    assert again.exit_code == 0 and "0 new, 0 updated" in again.output  # the same id: nothing to write
    # the data's own (unusable) ids are left alone: the content-hash ids go in a column of their own
    assert push(workspace, "e.csv", 'id,input,output\n"a\rb",c,d\n', "-s", "other.xlsx").exit_code == 0
    import openpyxl

    ws = openpyxl.load_workbook(workspace / "other.xlsx")["Annotate"]
    assert [c.value for c in ws[1]][:2] == ["content_id", "input"] and ws.cell(2, 1).value == rid
