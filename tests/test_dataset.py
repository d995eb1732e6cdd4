"""Loading datasets: every format, column roles, stable ids, and a clear message for each bad input."""

import json

import pytest

from sheetsync.config import Columns
from sheetsync.dataset import load_dataset
from sheetsync.errors import UserInputError


def write(tmp_path, name, text, mode="w"):
    path = tmp_path / name
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_csv_keeps_text_exactly(tmp_path):
    path = write(tmp_path, "d.csv", 'id,input,output\n007,"=IMPORTXML(""x"")",+1\n008,@x,TRUE\n')
    ds = load_dataset(path)
    assert list(ds.frame["id"]) == ["007", "008"]
    assert list(ds.frame["input"]) == ['=IMPORTXML("x")', "@x"]
    assert list(ds.frame["output"]) == ["+1", "TRUE"]


@pytest.mark.parametrize("name,sep", [("d.tsv", "\t"), ("d.csv", ",")])
def test_delimited_with_guessed_roles(tmp_path, name, sep):
    path = write(tmp_path, name, sep.join(["id", "question", "answer"]) + "\n" + sep.join(["1", "q", "a"]) + "\n")
    ds = load_dataset(path)
    assert (ds.input, ds.output) == ("question", "answer")


def test_jsonl_renders_messages_readably(tmp_path):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    line = {"id": 1, "messages": messages, "response": "Hello", "score": 1.5}
    ds = load_dataset(write(tmp_path, "d.jsonl", json.dumps(line) + "\n"))
    assert ds.frame.loc[0, "messages"] == "system: Be brief.\n\nuser: Hi"
    assert ds.frame.loc[0, "id"] == "1"
    assert ds.frame.loc[0, "score"] == "1.5"


def test_json_array_and_parquet(tmp_path):
    rows = [{"id": "a", "input": "i", "output": "o", "feature": "x"}]
    assert len(load_dataset(write(tmp_path, "d.json", json.dumps(rows)))) == 1
    import pandas as pd

    pd.DataFrame(rows).to_parquet(tmp_path / "d.parquet")
    ds = load_dataset(tmp_path / "d.parquet", Columns(dimensions=("feature",)))
    assert ds.dimensions == ["feature"] and ds.frame.loc[0, "feature"] == "x"


def test_missing_id_column_gets_stable_hash_ids(tmp_path):
    a = load_dataset(write(tmp_path, "a.csv", "input,output\nhello,world\nbye,now\nhello,world\n"))
    b = load_dataset(write(tmp_path, "b.csv", "input,output\nnew,row\nhello,CHANGED\nbye,now\nhello,x\n"))
    assert a.generated_ids
    ids_a, ids_b = list(a.frame["id"]), list(b.frame["id"])
    assert ids_a[0] != ids_a[2] and ids_a[2] == ids_a[0] + "-2"
    # the id ignores the output, so a changed output is the same row (to be marked stale)
    assert ids_b[1] == ids_a[0] and ids_b[2] == ids_a[1]


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("e.csv", "", "the file is empty"),
        ("h.csv", "id,input,output\n", "has a header but no rows"),
        ("d.csv", "id,input,output\n1,a,b\n2,c,d\n1,e,f\n", "duplicate ids in column `id`: 1 on rows 2, 4"),
        ("m.csv", "id,text\n1,a\n", "cannot tell which column is the input"),
        ("b.csv", "id,input,output\n1,a,b\n ,c,d\n", "column `id` is empty on row(s) 3"),
        ("j.jsonl", '{"id": 1}\nnot json\n', "line 2: not valid JSON"),
        ("x.txt", "a", "unsupported file type .txt"),
        ("r.csv", "id,input,output\n1,a,b,c\n", "line 2: 4 fields but the header has 3"),
    ],
)
def test_bad_input_names_file_and_rows(tmp_path, name, content, message):
    path = write(tmp_path, name, content)
    with pytest.raises(UserInputError) as err:
        load_dataset(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_undecodable_bytes(tmp_path):
    path = write(tmp_path, "l.csv", b"id,input,output\n1,caf\xe9,ok\n", mode="wb")
    with pytest.raises(UserInputError, match=r"line 2: byte 0xe9 .* is not UTF-8"):
        load_dataset(path)


def test_configured_columns_must_exist(tmp_path):
    path = write(tmp_path, "d.csv", "id,input,output\n1,a,b\n")
    with pytest.raises(UserInputError, match="context column.s. tier not found"):
        load_dataset(path, Columns(context=("tier",)))
    with pytest.raises(UserInputError, match="no `prompt` column for the input"):
        load_dataset(path, Columns(input="prompt"))
