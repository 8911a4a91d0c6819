"""Tests for geoapp.data.nass.read_quickstats on fake Quick Stats exports."""

from __future__ import annotations

import pandas as pd
import pytest

from geoapp.data.nass import read_quickstats
from geoapp.errors import DataFileError, InputError
from tests.fixtures.quickstats import CORN, SOY, quickstats_csv, realistic_export, realistic_rows, row


def write(tmp_path, text: str | bytes, name: str = "export.csv"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


EXPECTED = pd.DataFrame({"geoid": ["01007", "19001", "19001"], "year": [2020, 2020, 2021], "yield": [45.0, 52.3, 58.1]})


@pytest.mark.parametrize("api", [False, True], ids=["website", "api"])
def test_reads_soybean_county_yields(tmp_path, api):
    df = read_quickstats(write(tmp_path, realistic_export(api=api)))
    pd.testing.assert_frame_equal(df, EXPECTED, check_dtype=False)
    assert df["geoid"].str.len().eq(5).all()
    assert df["year"].dtype.kind == "i" and df["yield"].dtype.kind == "f"
    assert df.attrs["dropped"] == {
        "non_county": 1,
        "other_commodity": 1,
        "other_data_item": 0,
        "non_year_period": 1,
        "non_total_domain": 1,
        "other_counties": 2,
        "withheld": 1,
    }
    assert df.attrs["source"] == str(tmp_path / "export.csv")


def test_selects_other_commodity_case_insensitively(tmp_path):
    path = write(tmp_path, realistic_export())
    df = read_quickstats(path, commodity="corn", data_item=CORN.lower())
    assert df.to_dict("list") == {"geoid": ["19001"], "year": [2020], "yield": [180.2]}


def test_data_item_none_takes_any_bu_per_acre_yield(tmp_path):
    path = write(tmp_path, realistic_export())
    assert read_quickstats(path, commodity="CORN", data_item=None)["yield"].tolist() == [180.2]
    assert len(read_quickstats(path, data_item=None)) == 3


def test_withheld_codes_all_dropped(tmp_path):
    codes = [" (D)", " (Z)", " (NA)", " (X)", " (S)"]
    rows = [row(2020 + i, "IOWA", "19", "ADAIR", "001", c) for i, c in enumerate(codes)]
    rows.append(row(2030, "IOWA", "19", "ADAIR", "001", "60"))
    df = read_quickstats(write(tmp_path, quickstats_csv(rows)))
    assert df["year"].tolist() == [2030]
    assert df.attrs["dropped"]["withheld"] == 5


def test_bom_and_path_string(tmp_path):
    path = write(tmp_path, "\ufeff" + realistic_export())
    assert len(read_quickstats(str(path))) == 3


def test_state_level_only_is_refused(tmp_path):
    rows = [r for r in realistic_rows() if r["geo"] == "STATE"]
    with pytest.raises(DataFileError, match=r"not a county-level.*\['STATE'\].*expected COUNTY"):
        read_quickstats(write(tmp_path, quickstats_csv(rows)))


def test_missing_columns_are_named(tmp_path):
    text = quickstats_csv(realistic_rows(), drop=("County ANSI", "Value"))
    with pytest.raises(DataFileError, match=r"missing column\(s\) 'County ANSI' \(API: 'county_ansi'\), 'Value'"):
        read_quickstats(write(tmp_path, text))


def test_unrelated_csv_is_refused(tmp_path):
    with pytest.raises(DataFileError, match=r"not a Quick Stats CSV export: missing column.*'Year'"):
        read_quickstats(write(tmp_path, "a,b\n1,2\n"))


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(DataFileError, match=r"nope\.csv: file not found"):
        read_quickstats(path)


def test_garbage_binary_file(tmp_path):
    path = write(tmp_path, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, name="garbage.csv")
    with pytest.raises(DataFileError, match=r"garbage\.csv: cannot read as a Quick Stats CSV"):
        read_quickstats(path)


def test_empty_file(tmp_path):
    with pytest.raises(DataFileError, match=r"empty\.csv: file is empty"):
        read_quickstats(write(tmp_path, "", name="empty.csv"))


def test_header_only_file(tmp_path):
    with pytest.raises(DataFileError, match=r"header but no rows"):
        read_quickstats(write(tmp_path, quickstats_csv([])))


def test_unknown_commodity_lists_available(tmp_path):
    with pytest.raises(InputError, match=r"commodity 'WHEAT'.*\['CORN', 'SOYBEANS'\]"):
        read_quickstats(write(tmp_path, realistic_export()), commodity="WHEAT")


def test_unknown_data_item_lists_available(tmp_path):
    item = "SOYBEANS - YIELD, MEASURED IN BU / NET PLANTED ACRE"
    with pytest.raises(InputError, match=r"data item .*NET PLANTED ACRE.*holds \[.SOYBEANS - YIELD"):
        read_quickstats(write(tmp_path, realistic_export()), data_item=item)


def test_duplicates_are_named(tmp_path):
    other = "SOYBEANS, GRAIN - YIELD, MEASURED IN BU / ACRE"  # two totals of one crop: which is meant is not clear
    rows = [
        row(2020, "IOWA", "19", "ADAIR", "001", "52.3"),
        row(2020, "IOWA", "19", "ADAIR", "001", "61.0", item=other),
    ]
    with pytest.raises(InputError, match=r"\('19001', 2020\).*GRAIN.*several data items.*keep one data item"):
        read_quickstats(write(tmp_path, quickstats_csv(rows)), data_item=None)


def test_without_a_data_item_the_all_practices_total_is_read_not_its_irrigated_split(tmp_path):
    """Quick Stats publishes corn yields by practice beside the total in Nebraska or Kansas; the total is the one."""
    kw = {"commodity": "CORN"}
    rows = [
        row(2020, "NEBRASKA", "31", "ADAMS", "001", "190.0", item=CORN, **kw),
        row(2020, "NEBRASKA", "31", "ADAMS", "001", "215.0", item="CORN, GRAIN, IRRIGATED - YIELD, MEASURED IN BU / ACRE", **kw),
        row(
            2020,
            "NEBRASKA",
            "31",
            "ADAMS",
            "001",
            "150.0",
            item="CORN, GRAIN, NON-IRRIGATED - YIELD, MEASURED IN BU / ACRE",
            **kw,
        ),  # fmt: skip
    ]
    df = read_quickstats(write(tmp_path, quickstats_csv(rows)), commodity="CORN", data_item=None)
    assert df.to_dict("list") == {"geoid": ["31001"], "year": [2020], "yield": [190.0]}
    only_irrigated = read_quickstats(write(tmp_path, quickstats_csv(rows[1:2]), "irr.csv"), commodity="CORN", data_item=None)
    assert only_irrigated["yield"].tolist() == [215.0]  # a file of one practice only: that practice


def test_unparseable_value_names_line(tmp_path):
    rows = [row(2020, "IOWA", "19", "ADAIR", "001", "52.3"), row(2021, "IOWA", "19", "ADAIR", "001", "n/a")]
    with pytest.raises(InputError, match=r"Value is not a number; found 'n/a' \(line 3, county ADAIR, IOWA, year 2021\)"):
        read_quickstats(write(tmp_path, quickstats_csv(rows)))


def test_bad_ansi_is_refused(tmp_path):
    rows = [row(2020, "IOWA", "19", "ADAIR", "1001", "52.3")]
    with pytest.raises(InputError, match=r"County ANSI must be 1 to 3 digits; found '1001'"):
        read_quickstats(write(tmp_path, quickstats_csv(rows)))


def test_errors_are_builtin_subclasses(tmp_path):
    with pytest.raises(OSError):
        read_quickstats(tmp_path / "missing.csv")
    with pytest.raises(ValueError):
        read_quickstats(write(tmp_path, realistic_export()), commodity="RICE")


def test_default_data_item_is_the_soybean_yield(tmp_path):
    rows = [row(2020, "IOWA", "19", "ADAIR", "001", "52.3"), row(2020, "IOWA", "19", "ADAIR", "001", "9", item="X")]
    assert read_quickstats(write(tmp_path, quickstats_csv(rows))).attrs["dropped"]["other_data_item"] == 1
    assert SOY == "SOYBEANS - YIELD, MEASURED IN BU / ACRE"


def test_thousands_separators_with_a_range_for_the_units(tmp_path):
    item = "SOYBEANS - YIELD, MEASURED IN LB / ACRE"
    rows = [row(2020, "IOWA", "19", "ADAIR", "001", "3,138.0", item=item)]
    df = read_quickstats(write(tmp_path, quickstats_csv(rows)), data_item=item, plausible_range=(0, 9000))
    assert df["yield"].tolist() == [3138.0]


def test_line_numbers_follow_quoted_newlines(tmp_path):
    rows = [row(2020, "IOWA", "19", "ADAIR\nNORTH", "001", "52.3"), row(2021, "IOWA", "19", "ADAIR", "001", "x")]
    with pytest.raises(InputError, match=r"found 'x' \(line 4, county ADAIR, IOWA, year 2021\)"):
        read_quickstats(write(tmp_path, quickstats_csv(rows)))


@pytest.mark.parametrize("value", ["1,2", "12,34", "1,2345", ",123", "1,234,56"])
def test_a_comma_that_is_not_a_thousands_separator_is_refused(tmp_path, value):
    rows = [row(2020, "IOWA", "19", "ADAIR", "001", value)]
    with pytest.raises(InputError, match=r"Value is not a number; found '" + value + "'"):
        read_quickstats(write(tmp_path, quickstats_csv(rows)))


def test_thousands_separators_in_groups_of_three_are_read(tmp_path):
    item = "SOYBEANS - YIELD, MEASURED IN LB / ACRE"
    rows = [row(2020, "IOWA", "19", "ADAIR", "001", "1,234,567.5", item=item)]
    df = read_quickstats(write(tmp_path, quickstats_csv(rows)), data_item=item, plausible_range=(0, 1e7))
    assert df["yield"].tolist() == [1234567.5]
