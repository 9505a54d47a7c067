"""Option values no command can use are refused while the command line is parsed, in one
line naming the option, by the one type each kind of value has (``fairhep.cli._values``):
before any work, any file or any progress bar (issue 21, items 6 and 7)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from fairhep.cli import build_parser, main
from fairhep.cli._values import OptionValueError, int_list, positive_float, positive_int

# Every option of these names, in every command, takes that kind of value.
COUNTS = {"--batch-size", "--max-jets", "--epochs", "--patience", "--fold-files", "--files",
          "--jets-per-file", "--repeats", "--validation-jets", "--opset", "--batches",
          "--max-array-size"}
RATES = {"--lr", "--repeat-seconds", "--tolerance"}
SIZE_LISTS = {"--batch-sizes"}


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _parsers(sub)


def test_every_command_takes_each_kind_of_value_through_its_one_type():
    seen = set()
    for parser in _parsers(build_parser()):
        for action in parser._actions:
            for option in action.option_strings:
                for names, kind in ((COUNTS, positive_int), (RATES, positive_float),
                                    (SIZE_LISTS, int_list)):
                    if option in names:
                        assert action.type is kind, f"{parser.prog} {option}"
                        seen.add(option)
    assert seen == COUNTS | RATES | SIZE_LISTS  # the names above are real options


@pytest.mark.parametrize(("text", "value"), [("1", 1), (" 42 ", 42), ("+7", 7)])
def test_positive_int_takes_whole_numbers_from_1(text, value):
    assert positive_int(text) == value


@pytest.mark.parametrize(("text", "message"), [
    ("0", "must be at least 1, got 0"), ("-1", "must be at least 1, got -1"),
    ("1.5", "'1.5' is not a whole number"), ("", "'' is not a whole number"),
])
def test_positive_int_refuses_what_is_not_a_count(text, message):
    with pytest.raises(OptionValueError, match=message):
        positive_int(text)


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "1e400", "0", "-1e-4", "x"])
def test_positive_float_refuses_what_is_not_a_finite_positive_number(text):
    with pytest.raises(OptionValueError):
        positive_float(text)


def test_positive_float_takes_any_finite_positive_number():
    assert positive_float("1e-4") == 1e-4 and positive_float("1e300") == 1e300


def test_int_list_keeps_the_order_and_expands_ranges():
    assert int_list("100,300:500:100,50") == (100, 300, 400, 500, 50)


@pytest.mark.parametrize(("text", "message"), [
    ("128,,256", "has an empty entry"), ("128,256,", "has an empty entry"),
    (",128", "has an empty entry"), ("", "has an empty entry"),
    ("128,256,128", "names 128 more than once"),
    ("100:300:100,300", "names 300 more than once"),
    ("0,8", "sizes must be at least 1"), ("-8", "sizes must be at least 1"),
    ("8,x", "'x' is not an integer"), ("100:10:10", "'100:10:10' is empty"),
])
def test_int_list_refuses_empty_repeated_and_non_positive_entries(text, message):
    with pytest.raises(OptionValueError, match=message):
        int_list(text)


@pytest.mark.parametrize(("argv", "line"), [
    (["train", "--data", "d", "--out", "o", "--lr", "nan"],
     "fairhep train: error: --lr: must be a finite number above 0, got 'nan'"),
    (["train", "--data", "d", "--out", "o", "--lr", "inf"],
     "fairhep train: error: --lr: must be a finite number above 0, got 'inf'"),
    (["evaluate", "--run", "r", "--data", "d", "--batch-size", "0"],
     "fairhep evaluate: error: --batch-size: must be at least 1, got 0"),
    (["export", "--run", "r", "--opset", "0"],
     "fairhep export: error: --opset: must be at least 1, got 0"),
    (["bench", "--batch-sweep", "--batch-sizes", "128,,256"],
     ("fairhep bench: error: --batch-sizes: '128,,256' has an empty entry; separate sizes by "
      "single commas, e.g. 128,256")),
    (["xai", "rna", "--batches", "0"],
     "fairhep xai rna: error: --batches: must be at least 1, got 0"),
])
def test_a_refused_value_is_one_line_naming_the_option(argv, line, capsys, tmp_path,
                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert err.strip() == line and out == ""
    assert not list(tmp_path.iterdir())  # nothing made: the command never started


def test_data_synth_refuses_a_negative_file_count_before_any_progress_bar(tmp_path, capsys):
    assert main(["data", "synth", "--out", str(tmp_path / "d"), "--files", "-1"]) == 1
    out, err = capsys.readouterr()
    assert out == ""  # no "0/-10000 jets" bar
    assert err.strip() == "fairhep data synth: error: --files: must be at least 1, got -1"
    assert not (tmp_path / "d").exists()


def test_data_synth_draws_no_bar_for_a_dataset_it_refuses(tmp_path, capsys):
    # A refusal of the library (not of an option type): the bar appears with the first jets.
    assert main(["data", "synth", "--out", str(tmp_path / "d"), "--difficulty", "5"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "difficulty 5.0 is outside" in err


def test_argparse_s_own_errors_still_show_the_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--data", "d"])  # --out missing
    assert exc.value.code == 2
    assert capsys.readouterr().err.startswith("usage: fairhep train ")
