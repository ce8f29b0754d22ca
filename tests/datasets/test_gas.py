"""GAS reading, recipes and pipelines, on files the tests generate."""

import numpy as np
import pytest

import tfp_flows.datasets.gas.reader as gas
from tfp_flows.datasets.gas import (GAS_HEADER, SYNTHETIC_GROUPS, find_correlation_exact, gas_dataset,
                           maf_split_sizes, prepare_gas, read_gas, write_synthetic_gas)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    path = tmp_path_factory.mktemp("gas") / "ethylene_CO.txt"
    write_synthetic_gas(path, 6000, seed=11)
    return path


def test_synthetic_file_has_the_gas_layout(synthetic):
    lines = synthetic.read_text().splitlines()
    assert lines[0] == GAS_HEADER
    assert len(lines) == 6001 and all(len(ln.split()) == 19 for ln in lines[1:50])
    v = read_gas(synthetic)
    assert v.shape == (6000, 19) and v.dtype == np.float64
    np.testing.assert_allclose(v[:3, 0], [0.0, 0.01, 0.02])
    corr = np.corrcoef(v[:, 3:], rowvar=False)
    assert corr[1, 2] > 0.985  # X5 ~ X6, a designed near-duplicate pair
    assert abs(corr[0, 1]) < 0.9


def test_max_rows_and_cache(synthetic, tmp_path, monkeypatch):
    head = read_gas(synthetic, max_rows=100)
    assert head.shape == (100, 19)
    first = read_gas(synthetic, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("gas-*-all.npy"))) == 1

    def no_parsing(*a, **k):
        raise AssertionError("parsed the text again")

    monkeypatch.setattr(gas, "_parse", no_parsing)
    np.testing.assert_array_equal(read_gas(synthetic, cache_dir=tmp_path), first)


def _write(tmp_path, text, name="bad.txt"):
    p = tmp_path / name
    p.write_text(text)
    return p


ROW = " ".join(["1.00"] * 19)


@pytest.mark.parametrize("body, fragment", [
    ("", "empty"),
    (GAS_HEADER + "\n", "no data rows"),
    (ROW + "\n" + ROW + "\n", ":1: expected a header"),
    (GAS_HEADER + "\n" + ROW + "\n" + " ".join(["1"] * 18) + "\n", ":3: wrong number of columns"),
    (GAS_HEADER + "\n" + ROW + "\n" + ROW.replace("1.00", "abc", 1) + "\n", ":3: column X1: 'abc'"),
    (GAS_HEADER + "\n" + ROW + "\n" + "1 " * 5 + "nan " + "1 " * 13 + "\n", ":3: column X6: non-finite"),
    (GAS_HEADER + "\n" + ROW + "\n" + ROW + "\n" + "1 " * 18 + "inf\n", ":4: column X19: non-finite"),
    (GAS_HEADER + "\n" + ROW + "\n" + "1.0 2.0 3.0", ":3: truncated last line"),
    # non-empty files without a line end (the header check once read the memory map itself)
    ("\0" * 3000, ":1: expected a header"),
    (GAS_HEADER, "no data rows"),
    ("0.00 1 2 3", ":1: expected a header"),
])
def test_bad_files_give_one_clear_message(tmp_path, body, fragment):
    path = _write(tmp_path, body)
    with pytest.raises(ValueError) as err:
        read_gas(path)
    message = str(err.value)
    assert fragment in message and str(path) in message and "\n" not in message


@pytest.mark.parametrize("body, fragment", [
    (GAS_HEADER + "\n" + ROW + "\n" + " ".join(["1"] * 18) + "\n", ":3: wrong number of columns"),
    (GAS_HEADER + "\n" + ROW + "\n" + ROW.replace("1.00", "abc", 1) + "\n", ":3: column X1: 'abc'"),
    (GAS_HEADER + "\n" + ROW + "\n" + "1.0 2.0 3.0", ":3: truncated last line"),
])
def test_bad_files_give_the_same_message_without_the_c_reader(tmp_path, monkeypatch, body, fragment):
    path = _write(tmp_path, body)
    messages = []
    for reader in (gas._gasparse, None):
        monkeypatch.setattr(gas, "_gasparse", reader)
        with pytest.raises(ValueError) as err:
            read_gas(path)
        messages.append(str(err.value))
    assert messages[0] == messages[1] and fragment in messages[0]


def _messy_table(rng, rows):
    """Rows of 19 plain decimals with the separators real files have: runs of spaces,
    tabs, CRLF line ends, leading spaces, blank lines, signs, negative zero."""
    values = np.round(rng.normal(0, 1, size=(rows, 19)) * 10.0 ** rng.integers(-3, 6, size=(rows, 19)),
                      rng.integers(0, 7))
    lines = [GAS_HEADER]
    for r, row in enumerate(values):
        fields = [f"{v:.{rng.integers(0, 8)}f}" for v in row]
        fields[0] = "-0.00" if r % 7 == 0 else fields[0]
        fields[1] = "+" + fields[1].lstrip("-") if r % 5 == 0 else fields[1]
        seps = rng.choice([" ", "  ", "\t", " \t  "], size=18)
        line = fields[0] + "".join(sep + f for sep, f in zip(seps, fields[1:]))
        lines.append((" " if r % 3 == 0 else "") + line + ("\r" if r % 4 == 0 else ""))
        if r % 50 == 0:
            lines.append("")
    return "\n".join(lines) + "\n"


@pytest.mark.skipif(gas._gasparse is None, reason="the C reader was not built")
@pytest.mark.parametrize("threads", [1, 3])
def test_c_reader_gives_exactly_the_general_parsers_doubles(tmp_path, rng, threads):
    text = _messy_table(rng, 3000)
    path = _write(tmp_path, text, "messy.txt")
    raw = path.read_bytes()
    start = raw.find(b"\n") + 1
    ours = gas._parse_fast(raw, start, len(raw), threads=threads)
    assert ours is not None, "the C reader gave up on plain decimals"
    reference = np.array([[float(f) for f in ln.split()] for ln in text.splitlines()[1:] if ln.strip()])
    assert ours.shape == reference.shape == (3000, 19)
    assert np.array_equal(ours.view(np.int64), reference.view(np.int64))  # bit for bit, -0.0 too
    np.testing.assert_array_equal(read_gas(path, threads=threads), reference)


@pytest.mark.skipif(gas._gasparse is None, reason="the C reader was not built")
def test_c_reader_splits_big_files_into_pieces_that_join_exactly(synthetic):
    raw = synthetic.read_bytes()  # 6000 rows, under 1 MB: one piece
    start = raw.find(b"\n") + 1
    one = gas._parse_fast(raw, start, len(raw), threads=1)
    big = raw[:start] + raw[start:] * 12  # about 9 MB: pieces of 4 MB or more, cut at line ends
    many = gas._parse_fast(big, start, len(big), threads=4)
    assert many.shape == (72000, 19) and np.array_equal(many, np.tile(one, (12, 1)))
    # max_rows stops at a line end inside a piece
    np.testing.assert_array_equal(gas._parse(synthetic, big, 61_234, threads=4), many[:61_234])


@pytest.mark.skipif(gas._gasparse is None, reason="the C reader was not built")
@pytest.mark.parametrize("token", ["1e3", "nan", "0.1234567890123456789", "12345678901234567"])
def test_c_reader_leaves_unusual_numbers_to_the_general_parser(tmp_path, token):
    row = ["1.5"] * 19
    row[4] = token
    path = _write(tmp_path, GAS_HEADER + "\n" + " ".join(row) + "\n", "unusual.txt")
    raw = path.read_bytes()
    assert gas._parse_fast(raw, raw.find(b"\n") + 1, len(raw)) is None
    if token != "nan":
        assert read_gas(path)[0, 4] == float(token)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        read_gas(tmp_path / "nope.txt")


def test_caret_documented_example():
    """caret's own example R1: findCorrelation(R1, cutoff = .6, exact = TRUE) removes x1, x5, x4."""
    r1 = np.array([[1, 0.86, 0.56, 0.32, 0.85], [0.86, 1, 0.01, 0.74, 0.32],
                   [0.56, 0.01, 1, 0.65, 0.91], [0.32, 0.74, 0.65, 1, 0.36],
                   [0.85, 0.32, 0.91, 0.36, 1]])
    assert [f"x{i + 1}" for i in find_correlation_exact(r1, 0.6)] == ["x1", "x5", "x4"]
    assert find_correlation_exact(r1, 0.95) == []
    with pytest.raises(ValueError, match="symmetric"):
        find_correlation_exact(np.triu(r1), 0.6)


@pytest.mark.parametrize("recipe", ["blog", "maf"])
def test_recipes_keep_one_channel_per_near_duplicate_group(synthetic, recipe):
    splits = prepare_gas(read_gas(synthetic), recipe, seed=3)
    kept = splits.columns_kept
    assert len(kept) == len(SYNTHETIC_GROUPS) == splits.dims
    for group in SYNTHETIC_GROUPS:
        assert sum(c in kept for c in group) == 1, (group, kept)
    if recipe == "maf":  # the greedy rule drops the first of each pair, so keeps the last
        assert kept == [g[-1] for g in SYNTHETIC_GROUPS]


def test_blog_split_and_standardisation(synthetic):
    values = read_gas(synthetic)
    s = prepare_gas(values, "blog", seed=3)
    assert s.sizes() == {"n_train": 3000, "n_val": 0, "n_test": 3000}
    both = np.concatenate([s.train, s.test]).astype(np.float64)
    np.testing.assert_allclose(both.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(both.std(axis=0, ddof=1), 1, atol=1e-5)
    assert s.train.dtype == np.float32
    # Seeded: same seed, same split; another seed, another split.
    np.testing.assert_array_equal(prepare_gas(values, "blog", seed=3).train, s.train)
    assert not np.array_equal(prepare_gas(values, "blog", seed=4).train, s.train)


def test_maf_split_is_sequential_with_the_papers_sizes(synthetic):
    # The MAF paper's reported sizes follow from 1,052,065 rows.
    assert maf_split_sizes(1_052_065) == (852_174, 94_685, 105_206)
    values = read_gas(synthetic)
    s = prepare_gas(values, "maf")
    assert s.sizes() == {"n_train": 4860, "n_val": 540, "n_test": 600}
    cols = [int(c[1:]) - 1 for c in s.columns_kept]
    z_last = (values[-1, cols] - s.mean) / s.std
    np.testing.assert_allclose(s.test[-1], z_last, rtol=1e-5, atol=1e-5)


def test_too_few_rows_and_bad_recipe(synthetic):
    values = read_gas(synthetic)
    with pytest.raises(ValueError, match="too few"):
        prepare_gas(values[:50], "maf")
    with pytest.raises(ValueError, match="recipe"):
        prepare_gas(values, "paper")
    with pytest.raises(ValueError, match="constant"):
        v = values.copy()
        v[:, 5] = 1.0
        prepare_gas(v, "blog")


def test_pipeline_shapes_and_dtypes(synthetic):
    s = prepare_gas(read_gas(synthetic), "blog")
    ds = gas_dataset(s.train, batch_size=128, seed=1)
    batches = list(ds)
    assert batches[0].shape == (128, 8) and batches[0].dtype.name == "float32"
    assert sum(len(b) for b in batches) == 3000
    assert batches[-1].shape[0] == 3000 % 128


def test_gas_dataset_gives_the_batches_the_trainer_trains_on(synthetic):
    from tfp_flows.training import MaximumLikelihood

    s = prepare_gas(read_gas(synthetic), "blog")
    objective = MaximumLikelihood(s.train, batch_size=128, seed=7)
    batches = list(gas_dataset(s.train, batch_size=128, seed=7, repeat=True).take(2 * objective.steps_per_epoch))
    for epoch in (0, 1):
        mine = batches[epoch * objective.steps_per_epoch:(epoch + 1) * objective.steps_per_epoch]
        for step, batch in enumerate(mine):
            rows, n, full = objective.inputs(epoch, step, 1, 1)
            np.testing.assert_array_equal(batch.numpy(), s.train[rows[0][:len(batch)]])
    first, second = (np.concatenate(batches[e * objective.steps_per_epoch:(e + 1) * objective.steps_per_epoch])
                     for e in (0, 1))
    assert not np.array_equal(first, second)  # reshuffled each epoch
    np.testing.assert_array_equal(np.sort(first, 0), np.sort(s.train, 0))  # every row once


def test_cache_is_not_served_for_a_file_edited_in_place(tmp_path):
    """The parsed-array cache is keyed by the file's sha256, remembered only while the file
    is unchanged: an edit that keeps the size and restores the mtime is still seen."""
    import os

    path = _write(tmp_path, GAS_HEADER + "\n" + ROW + "\n" + ROW + "\n", name="g.txt")
    first = read_gas(path, cache_dir=tmp_path / "cache")
    st = path.stat()
    path.write_text(GAS_HEADER + "\n" + ROW + "\n" + ROW.replace("1.00", "2.00", 1) + "\n")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    again = read_gas(path, cache_dir=tmp_path / "cache")
    assert first[1, 0] == 1.0 and again[1, 0] == 2.0
