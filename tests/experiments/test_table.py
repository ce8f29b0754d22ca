"""`tfp-flows-train-table`: a table of your own (CSV, TSV, Parquet), plain or conditional,
trained with any family and scored with `tfp-flows-score`; every bad table is one line."""

import numpy as np
import pandas as pd
import pytest

from tfp_flows import cli
from tfp_flows.cli import score as score_cli
from tfp_flows.cli import train_table
from tfp_flows.datasets.table import read_table
from tfp_flows.experiments.score import open_model, score


def _sine(n, seed):
    """x | c ~ Normal(sin 3c, (0.1 + c^2)^2), c ~ U(-1, 1): a conditional density known exactly."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(-1, 1, n)
    x = np.sin(3 * c) + (0.1 + c ** 2) * rng.normal(size=n)
    return pd.DataFrame({"c": c, "x": x, "note": ["row"] * n})


def _sine_truth(frame):
    sd = 0.1 + frame.c.to_numpy() ** 2
    return -0.5 * ((frame.x.to_numpy() - np.sin(3 * frame.c.to_numpy())) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi)


def _command(main, argv, capsys):
    status = cli.run(lambda a: main(a, log=lambda *_: None), argv, prog="t")
    return status, capsys.readouterr().err.strip().splitlines()


def test_a_conditional_density_learned_from_a_csv_is_close_to_its_truth_on_held_out_rows(tmp_path, capsys):
    """Trained through the command with --context-columns, scored through `tfp-flows-score`
    on rows it never saw (in raw units, the standardisation's Jacobian included): the
    average of log p_true - log q over them estimates E_c KL(p(.|c) || q(.|c)); under 0.05 nats."""
    _sine(10_000, 0).to_csv(tmp_path / "train.csv", index=False)
    held_out = _sine(5_000, 1)
    held_out[["c", "x"]].to_csv(tmp_path / "new.csv", index=False)
    status, err = _command(train_table.main, [
        "--data", str(tmp_path / "train.csv"), "--columns", "x", "--context-columns", "c", "--flow", "maf",
        "--layers", "2", "--hidden", "32", "32", "--no-batch-norm", "--batch-size", "256", "--learning-rate", "3e-3",
        "--epochs", "25", "--seed", "0", "--no-progress", "--out", str(tmp_path / "run")], capsys)
    assert status == 0, err
    scored = list(score(open_model(tmp_path / "run"), [tmp_path / "new.csv"]))
    assert len(scored) == 5_000 and not any(s.error for s in scored)
    kl = np.mean(_sine_truth(held_out) - np.array([s.log_density for s in scored]))
    assert 0 <= kl + 0.01 and kl < 0.05, f"KL {kl:.4f}"  # (a KL is >= 0 up to sampling noise)
    # The command prints the same densities as the library.
    status, _ = _command(score_cli.main, ["--model", str(tmp_path / "run"), str(tmp_path / "new.csv")], capsys)
    assert status == 0
    # The SavedModel's signatures take the context: log_prob(x, context) as the run scores
    # it, sample(context) one draw per context row, in the table's units.
    import tensorflow as tf

    from tfp_flows.experiments.export import export_run

    model = tf.saved_model.load(str(export_run(tmp_path / "run", tmp_path / "model")))
    x = held_out[["x"]].to_numpy(np.float32)[:500]
    c = held_out[["c"]].to_numpy(np.float32)[:500]
    got = model.signatures["log_prob"](x=tf.constant(x), context=tf.constant(c))["output_0"].numpy()
    np.testing.assert_allclose(got, [s.log_density for s in scored[:500]], rtol=1e-5, atol=1e-5)
    draws = model.signatures["sample"](context=tf.constant(np.full((4000, 1), 0.5, np.float32)))["output_0"].numpy()
    assert draws.shape == (4000, 1)
    assert abs(draws.mean() - np.sin(1.5)) < 0.05 and abs(draws.std() - 0.35) < 0.05  # x | c = 0.5


@pytest.mark.parametrize("family", ["nsf", "realnvp"])
def test_a_plain_table_trains_with_another_family_and_scores_tsv_rows(family, tmp_path, capsys):
    rng = np.random.default_rng(3)
    a = rng.normal(size=2000)
    frame = pd.DataFrame({"a": a, "b": a ** 2 + 0.2 * rng.normal(size=2000)})
    frame.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    status, err = _command(train_table.main, [
        "--data", str(tmp_path / "t.tsv"), "--flow", family, "--layers", "2", "--hidden", "16", "--bins", "4",
        "--epochs", "3", "--no-progress", "--out", str(tmp_path / "run")], capsys)
    assert status == 0, err
    model = open_model(tmp_path / "run")
    assert model.facts["kind"] == "table" and model.facts["columns"] == ["a", "b"]
    values = [s.log_density for s in score(model, [tmp_path / "t.tsv"])]
    assert len(values) == 2000 and np.all(np.isfinite(values))


def test_csv_tsv_and_parquet_give_the_same_table(tmp_path):
    frame = _sine(50, 2)
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    tables = [read_table(tmp_path / name, ["x"], ["c"]) for name in ("t.csv", "t.tsv", "t.parquet")]
    for t in tables:
        np.testing.assert_allclose(t.x[:, 0], frame.x.to_numpy(), rtol=1e-15)
        np.testing.assert_allclose(t.context[:, 0], frame.c.to_numpy(), rtol=1e-15)
    frame[["c", "x"]].to_csv(tmp_path / "numbers.csv", index=False)
    assert read_table(tmp_path / "numbers.csv", context_columns=["c"]).columns == ["x"]  # the default: the rest


def test_a_spreadsheet_csv_with_a_byte_order_mark_and_spaced_names_reads_as_the_plain_one(tmp_path):
    frame = _sine(40, 3)
    frame.to_csv(tmp_path / "plain.csv", index=False)
    text = (tmp_path / "plain.csv").read_text().replace("c,x,note", "c ,x , note", 1)
    assert text.startswith("c ,x , note")
    (tmp_path / "excel.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())  # "CSV UTF-8" as spreadsheets save it
    (tmp_path / "excel.txt").write_bytes(b"\xef\xbb\xbf" + text.replace(",", " ").encode())  # the sniffed reader
    plain = read_table(tmp_path / "plain.csv", ["x"], ["c"])
    for name in ("excel.csv", "excel.txt"):
        excel = read_table(tmp_path / name, ["x"], ["c"])
        assert excel.columns == ["x"] and excel.context_columns == ["c"]
        np.testing.assert_array_equal(excel.x, plain.x)
        np.testing.assert_array_equal(excel.context, plain.context)
    (tmp_path / "twice.csv").write_text("x,x \n" + "".join(f"{i},{i % 5}\n" for i in range(30)))
    with pytest.raises(ValueError, match="names column 'x' more than once"):
        read_table(tmp_path / "twice.csv")


def test_a_two_valued_column_is_refused_as_a_density_but_taken_as_a_context(tmp_path):
    path = tmp_path / "flag.csv"
    path.write_text("x,flag\n" + "".join(f"{np.sin(i)},{i % 2}\n" for i in range(40)))
    with pytest.raises(ValueError, match="column 'flag' takes only two values"):
        read_table(path)
    table = read_table(path, context_columns=["flag"])
    assert table.columns == ["x"] and sorted(set(table.context[:, 0])) == [0.0, 1.0]


def _bad(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    return tmp_path / name


ROWS = [f"{i},{i * 0.5 % 3},{i % 7}\n" for i in range(30)]
GOOD_ROWS = "".join(ROWS)


@pytest.mark.parametrize("name, text, argv, fragment", [
    ("missing.csv", "a,b,c\n" + "".join(ROWS[:6]) + "1,,3\n" + GOOD_ROWS, [], "data row 7 has no value in column 'b'"),
    ("words.csv", "a,b,c\n" + GOOD_ROWS + "1,two,3\n", [], "column 'b' is not numeric (data row 31: 'two')"),
    ("constant.csv", "a,b,c\n" + "".join(f"{i},5,{i % 3}\n" for i in range(30)), [], "column 'b' is constant"),
    ("fine.csv", "a,b,c\n" + GOOD_ROWS, ["--columns", "a", "z"], "no column 'z' (its columns: a, b, c)"),
    ("fine.csv", "a,b,c\n" + GOOD_ROWS, ["--columns", "a", "--context-columns", "a"], "named both"),
    ("short.csv", "a,b,c\n" + "".join(ROWS[:19]), [], "19 data rows; at least 20 are needed"),
    ("table.xlsx", "a,b\n1,2\n", [], "unknown table type '.xlsx'"),
    ("index.csv", ",a,b,c\n" + "".join(f"{i},{r}" for i, r in enumerate(ROWS)), [],
     "column 1 of the header has no name (read as 'Unnamed: 0'; a row index written by pandas' to_csv?)"),
    ("blank.csv", "a,,c\n" + GOOD_ROWS, ["--context-columns", "a"], "column 2 of the header has no name"),
    ("huge.csv", "a,b,c\n" + GOOD_ROWS + "1,2e300,3\n", [],
     "column 'b' holds 2e+300 at data row 31, too large to standardise"),
    ("table.parquet.gz", "a,b\n1,2\n", [], "unknown table type '.parquet.gz'"),
    ("empty.csv", "", [], "not a readable table"),
    ("inf.csv", "a,b,c\n" + GOOD_ROWS + "1,inf,3\n", [], "column 'b' holds inf at data row 31"),
    ("damaged.parquet", "PAR1 not a table PAR1", [], "not a readable table (Could not open Parquet"),
    ("semicolons.csv", "a;b;c\n" + GOOD_ROWS.replace(",", ";"), [],
     "the header reads as one column, 'a;b;c': a .csv table is separated by commas"),
    ("yes_no.csv", "a,b,c\n" + "".join(f"{i},{i % 2 == 0},{i % 7}\n" for i in range(30)), [],
     "column 'b' takes only two values (0 and 1)"),
])
def test_a_bad_table_is_one_line_naming_the_row_or_column_and_no_run_folder(name, text, argv, fragment, tmp_path,
                                                                             capsys):
    path = _bad(tmp_path, name, text)
    status, err = _command(train_table.main, ["--data", str(path), *argv, "--out", str(tmp_path / "run")], capsys)
    assert status == 1 and len(err) == 1, err
    assert fragment in err[0] and str(path) in err[0]
    assert not (tmp_path / "run").exists()


def test_missing_data_option_and_bad_fractions_are_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        train_table.main([])
    assert done.value.code == 2 and "--data" in capsys.readouterr().err
    path = _bad(tmp_path, "fine.csv", "a,b,c\n" + GOOD_ROWS)
    status, err = _command(train_table.main, ["--data", str(path), "--test-fraction", "0.7"], capsys)
    assert status == 2 and len(err) == 1 and "--test-fraction must be in (0, 0.5)" in err[0]


def test_the_table_command_starts_its_mades_from_fan_in_kernels_and_an_older_glorot_run_resumes_only_as_one(
        tmp_path, capsys):
    """The table command's default initial kernels are PyTorch's fan-in uniform ones (P2's
    commands keep Glorot): a default run records init fan_in and its first MADE layer
    reaches past Glorot's bound; a run trained with --init glorot (the default before)
    is refused on --resume without it, in one line naming the setting."""
    rng = np.random.default_rng(5)
    a = rng.normal(size=1500)
    pd.DataFrame({"a": a, "b": a + 0.3 * rng.normal(size=1500)}).to_csv(tmp_path / "t.csv", index=False)
    common = ["--data", str(tmp_path / "t.csv"), "--layers", "1", "--hidden", "64", "--epochs", "1", "--no-progress"]
    status, err = _command(train_table.main, [*common, "--out", str(tmp_path / "new")], capsys)
    assert status == 0, err
    import json

    assert json.loads((tmp_path / "new" / "config.json").read_text())["settings"]["model"]["init"] == "fan_in"
    model = open_model(tmp_path / "new")
    kernel = next(v for v in model.module.flow.trainable_variables if tuple(v.shape) == (2, 64)).numpy()  # layer 1
    fan_in_bound, glorot_bound = 1 / np.sqrt(2), np.sqrt(6 / (2 + 64))
    largest = np.abs(kernel).max()  # one epoch of Adam at 1e-3 moves an entry by well under 0.1
    assert glorot_bound + 0.1 < largest < fan_in_bound + 0.1, largest

    status, err = _command(train_table.main, [*common, "--init", "glorot", "--out", str(tmp_path / "old")], capsys)
    assert status == 0, err
    status, err = _command(train_table.main, [*common, "--resume", "--out", str(tmp_path / "old")], capsys)
    assert status == 2 and len(err) == 1 and "other settings (model.init)" in err[0], err
    status, err = _command(train_table.main, [*common, "--init", "glorot", "--resume", "--out", str(tmp_path / "old")],
                           capsys)
    assert status == 0, err


def test_a_compressed_text_table_reads_as_the_plain_one_and_a_blank_header_cell_can_be_left_out(tmp_path):
    import bz2
    import gzip
    import lzma

    text = "a,b,c\n" + GOOD_ROWS
    plain = read_table(_bad(tmp_path, "t.csv", text))
    for name, opener, body in (("t.csv.gz", gzip.open, text), ("t.tsv.bz2", bz2.open, text.replace(",", "\t")),
                               ("t.txt.xz", lzma.open, text.replace(",", " "))):
        with opener(tmp_path / name, "wt") as handle:
            handle.write(body)
        table = read_table(tmp_path / name)
        assert table.columns == ["a", "b", "c"]
        np.testing.assert_array_equal(table.x, plain.x)
    (tmp_path / "cut.csv.gz").write_bytes(gzip.compress(text.encode())[:-30])  # a download cut short
    with pytest.raises(ValueError, match="cut.csv.gz: not a readable table"):
        read_table(tmp_path / "cut.csv.gz")
    # A pandas row index (a blank header cell) is refused by default, read when the columns are chosen.
    index = _bad(tmp_path, "index.csv", ",a,b,c\n" + "".join(f"{i},{r}" for i, r in enumerate(ROWS)))
    np.testing.assert_array_equal(read_table(index, ["a", "b", "c"]).x, plain.x)
    # Scoring new rows takes a large value (the run's standardisation is fixed); training does not.
    huge = _bad(tmp_path, "huge.csv", text + "1,2e300,3\n")
    assert read_table(huge, check_spread=False).x[-1, 1] == 2e300
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(ValueError, match="folder.csv: a folder, not a table file"):
        read_table(tmp_path / "folder.csv")


def test_a_date_column_is_refused_in_one_line_naming_it(tmp_path):
    frame = pd.DataFrame({"a": np.sin(np.arange(30.0)), "when": pd.date_range("2024-01-01", periods=30)})
    frame.to_parquet(tmp_path / "dates.parquet")
    with pytest.raises(ValueError, match=r"column 'when' holds dates or times \(datetime64"):
        read_table(tmp_path / "dates.parquet")
    assert read_table(tmp_path / "dates.parquet", ["a"]).columns == ["a"]


@pytest.mark.parametrize("below", ["", "run"])
def test_an_out_folder_where_a_file_stands_is_one_line_naming_it(below, tmp_path, capsys):
    path = _bad(tmp_path, "fine.csv", "a,b,c\n" + GOOD_ROWS)
    blocker = tmp_path / "taken"
    blocker.write_text("a file the user keeps\n")
    out = blocker / below if below else blocker
    status, err = _command(train_table.main, ["--data", str(path), "--out", str(out), "--epochs", "1"], capsys)
    assert status == 1 and err == [f"t: error: {out}: a file stands in this path where a folder is needed"]
    assert blocker.read_text() == "a file the user keeps\n"
