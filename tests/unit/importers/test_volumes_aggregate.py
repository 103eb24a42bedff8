"""Code volumes streamed into counts (importers/volumes.py): exact counts on generated files,
no patient value anywhere in the result, bad rows counted and explained, bad files refused.

Every code is a fictional T-code; files use prefix "T" for bare numbers.
"""

from __future__ import annotations

import codecs
import io
import json
from datetime import date, datetime

import pytest
from openpyxl import Workbook

from campaigns.fees.importers import ColumnsNotFound, UnreadableFile
from campaigns.fees.importers import volumes as volumes_module
from campaigns.fees.importers.volumes import VolumeAggregate, aggregate_volumes

from .builders import xlsx_bytes

JAN, FEB, MAR, APR = (date(2025, month, 1) for month in (1, 2, 3, 4))
PATIENTS = ["Zelda Quartzfield", "Ygritte Vollmer", "Xaver Ostrowski"]
PATNUMS = ["PN-771204", "PN-880315", "PN-990426"]
BIRTHS = ["1961-07-04", "1975-11-23", "1988-02-29"]
SSNS = ["512-34-9876", "623-45-0987", "734-56-1098"]


def aggregate(text: str | bytes, filename: str = "export.csv", **options) -> VolumeAggregate:
    data = text.encode() if isinstance(text, str) else text
    options.setdefault("prefix", "T")
    return aggregate_volumes(data, filename, **options)


def procedure_export() -> tuple[str, dict]:
    """A procedure-level export with four patient columns; returns (text, expected counts)."""
    lines = ["PatNum,Patient Name,ProcDate,ProcCode,Carrier,Birthdate,SSN"]
    expected: dict = {}
    plan = [  # (carrier, code, month, how many)
        ("Acme Dental PPO", "T0120", JAN, 5),
        ("Acme Dental PPO", "T0120", FEB, 3),
        ("Acme Dental PPO", "T1110", JAN, 4),
        ("Blue Tooth Mutual", "T0120", JAN, 2),
        ("Blue Tooth Mutual", "T2740", MAR, 1),
    ]
    for carrier, code, month, times in plan:
        for index in range(times):
            patient = index % 3
            day = month.replace(day=1 + index * 5)
            lines.append(
                f"{PATNUMS[patient]},{PATIENTS[patient]},{day.month:02d}/{day.day:02d}/"
                f"{day.year},{code},{carrier},{BIRTHS[patient]},{SSNS[patient]}"
            )
        expected[(carrier, code, month)] = times
    return "\n".join(lines) + "\n", expected


def patient_values_in(aggregate_result: VolumeAggregate) -> list[str]:
    shown = repr(aggregate_result) + json.dumps(aggregate_result.as_json())
    return [value for value in PATIENTS + PATNUMS + BIRTHS + SSNS if value in shown]


# ---- procedure-level exports --------------------------------------------------------------


def test_procedure_export_is_counted_per_carrier_code_and_month_without_patient_values():
    text, expected = procedure_export()
    result = aggregate(text)
    assert result.per_procedure
    assert result.counts == expected
    assert result.rows_read == 15
    assert result.rejected_count == 0
    assert result.columns == {"code": 3, "carrier": 4, "date": 2}
    assert result.ignored_columns == ["PatNum", "Patient Name", "Birthdate", "SSN"]
    assert result.carriers == {"Acme Dental PPO": 12, "Blue Tooth Mutual": 3}
    assert result.months == [JAN, FEB, MAR]
    assert result.procedures == 15
    assert result.by_code() == {"T0120": 10, "T1110": 4, "T2740": 1}
    assert result.descriptions == {}
    assert patient_values_in(result) == []


def test_rejected_rows_show_only_the_mapped_columns_and_say_why():
    text, _expected = procedure_export()
    text += (
        f"{PATNUMS[0]},{PATIENTS[0]},02/30/2025,T0120,Acme Dental PPO,{BIRTHS[0]},{SSNS[0]}\n"
        f"{PATNUMS[1]},{PATIENTS[1]},02/03/2025,ZZ9,Acme Dental PPO,{BIRTHS[1]},{SSNS[1]}\n"
        f"{PATNUMS[2]},{PATIENTS[2]},,T0120,Acme Dental PPO,{BIRTHS[2]},{SSNS[2]}\n"
    )
    result = aggregate(text)
    assert result.rejected_count == 3
    assert result.rows_read == 18
    assert [(row.line_no, row.where, row.reason) for row in result.rejected] == [
        (17, "line 17", "'02/30/2025' is not a date"),
        (18, "line 18", "'ZZ9' is not a procedure code"),
        (19, "line 19", "no date"),
    ]
    assert result.rejected[0].cells == (
        "[hidden]", "[hidden]", "02/30/2025", "T0120", "Acme Dental PPO", "[hidden]", "[hidden]",
    )  # fmt: skip
    assert patient_values_in(result) == []


def test_bad_rows_are_all_counted_and_the_first_200_sampled():
    lines = ["Date,Code,Carrier"]
    lines += [f"2025-01-{1 + i % 28:02d},T0120,Acme" for i in range(100)]
    lines += [f"2025-01-05,BAD{i},Acme" for i in range(250)]
    lines += ["2025-02-01,T0120,Acme", "2025-13-01,T0120,Acme", "2025-02-02,T0120,Acme"]
    result = aggregate("\n".join(lines))
    assert result.rejected_count == 251
    assert len(result.rejected) == 200
    assert result.rejected[0].line_no == 102
    assert result.rejected[0].reason == "'BAD0' is not a procedure code"
    assert result.rejected[199].line_no == 301
    assert result.counts == {("Acme", "T0120", JAN): 100, ("Acme", "T0120", FEB): 2}
    assert result.rows_read == 353


def test_totals_lines_repeated_headers_and_blank_lines_are_skipped_not_rejected():
    text = (
        "Procedures 2025\n"
        "\n"
        "Date,Code,Carrier,Chart\n"
        "2025-01-03,T0120,Acme,C-1\n"
        "\n"
        "Date,Code,Carrier,Chart\n"
        "2025-01-04,t0120 ,  Acme ,C-2\n"
        "Total,,,2\n"
    )
    result = aggregate(text)
    assert result.counts == {("Acme", "T0120", JAN): 2}
    assert result.skipped_count == 2
    assert result.rejected_count == 0
    assert result.blank_lines == 1
    assert result.header_row == 2
    assert result.rows_read == 4


def test_day_first_dates_are_recognised_from_a_row_far_below_the_first_ones():
    lines = ["Date,Code,Carrier"]
    lines += ["03/04/2025,T0120,Acme"] * 500  # 3 April or 4 March: not known yet
    lines += ["25/04/2025,T0120,Acme"]  # only day/month: the file is day-first
    result = aggregate("\n".join(lines))
    assert result.day_first
    assert result.counts == {("Acme", "T0120", APR): 501}
    assert "Dates are read as day/month/year." in result.warnings


def test_mixed_date_orders_reject_the_minority_with_their_line():
    lines = ["Date,Code,Carrier", "01/15/2025,T0120,Acme", "02/10/2025,T0120,Acme"]
    lines += ["25/02/2025,T0120,Acme"]
    result = aggregate("\n".join(lines))
    assert not result.day_first
    assert result.counts == {("Acme", "T0120", JAN): 1, ("Acme", "T0120", FEB): 1}
    assert result.rejected_count == 1
    assert [(r.line_no, r.reason) for r in result.rejected] == [(4, "'25/02/2025' is not a date")]
    assert any("mix month/day/year and day/month/year" in w for w in result.warnings)


def test_timestamps_no_carrier_column_and_lost_leading_zeros():
    lines = ["Service Date,Proc Code,Guarantor"]
    lines += [f"2025-01-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:07,120,G{i}" for i in range(60)]
    lines += ["2025-02-01T09:30:00,1110,G-x"]
    result = aggregate("\n".join(lines))
    assert result.counts == {(None, "T0120", JAN): 60, (None, "T1110", FEB): 1}
    assert result.carriers == {None: 61}
    assert result.ignored_columns == ["Guarantor"]
    assert any("lost a leading zero (e.g. '120' read as T0120)" in w for w in result.warnings)


def test_a_blank_carrier_is_kept_apart_and_mentioned():
    text = "Date,Code,Carrier\n2025-01-02,T0120,Acme\n2025-01-03,T0120,\n2025-01-04,T0120,  \n"
    result = aggregate(text)
    assert result.counts == {("Acme", "T0120", JAN): 1, ("", "T0120", JAN): 2}
    assert "2 procedure(s) name no carrier." in result.warnings


def test_counts_stay_exact_when_the_caches_are_cleared(monkeypatch):
    monkeypatch.setattr(volumes_module, "CACHE_LIMIT", 3)
    lines = ["Date,Code,Carrier"]
    expected: dict = {}
    for i in range(2000):
        code, carrier, month = f"T{100 + i % 13:04d}", f"Carrier {i % 7}", 1 + i % 12
        lines.append(f"2025-{month:02d}-{1 + i % 28:02d},{code},{carrier}")
        key = (carrier, code, date(2025, month, 1))
        expected[key] = expected.get(key, 0) + 1
    result = aggregate("\n".join(lines))
    assert result.counts == expected
    assert len(result.months) == 12


# ---- code-mix reports -----------------------------------------------------------------------


UTILIZATION = (
    "Utilization Report,,,,\n"
    "Date range: 01/01/2024 - 12/31/2024,,,,\n"
    "Code,Description,Carrier,Count,Amount\n"
    'T0120,Recall exam,Acme Dental PPO,212,"$11,024.00"\n'
    'T0120,Recall exam,Blue Tooth Mutual,87,"$4,524.00"\n'
    'T1110,Adult cleaning,Acme Dental PPO,"1,045","$99,275.00"\n'
    "T2392,Filling 2 surfaces,Blue Tooth Mutual,-3,($735.00)\n"
    'T1110,Adult cleaning,Acme Dental PPO,5,"$475.00"\n'
    'Total,,,"1,346","$114,563.00"\n'
)


def test_code_mix_report_by_carrier_adds_counts():
    result = aggregate(UTILIZATION)
    assert not result.per_procedure
    assert result.columns == {"code": 0, "count": 3, "carrier": 2}
    assert result.counts == {
        ("Acme Dental PPO", "T0120", None): 212,
        ("Blue Tooth Mutual", "T0120", None): 87,
        ("Acme Dental PPO", "T1110", None): 1050,
    }
    assert result.carriers == {"Acme Dental PPO": 1262, "Blue Tooth Mutual": 87}
    assert result.months == []
    assert result.rows_read == 6  # 4 counted + 1 rejected + 1 totals line
    assert [(r.line_no, r.reason) for r in result.rejected] == [(7, "negative count '-3'")]
    assert result.rejected[0].cells == ("T2392", "[hidden]", "Blue Tooth Mutual", "-3", "[hidden]")
    assert result.skipped_count == 1
    # descriptions of counted codes only, for the organisation's code table
    assert result.descriptions == {"T0120": "Recall exam", "T1110": "Adult cleaning"}
    assert result.ignored_columns == ["Description", "Amount"]


def test_semicolon_windows_1252_report_with_decimal_commas_and_a_preamble():
    text = (
        "Praxis Müller – Leistungsstatistik\n"
        "Code;Beschreibung;Carrier;Count;Amount\n"
        "T0120;Untersuchung;Acme Café;1.212;1.234,50\n"
        "T1110;Reinigung;Acme Café;7;99,00\n"
    )
    result = aggregate(text.encode("cp1252"))
    assert result.encoding == "Windows-1252"
    assert result.delimiter == "semicolon"
    assert result.counts == {("Acme Café", "T0120", None): 1212, ("Acme Café", "T1110", None): 7}


def test_utf16_export_with_bom_and_tabs():
    text = "ProcCode\tCarrier\tQty\nT0120\tAcme\t3\nT0120\tAcme\t4\n"
    result = aggregate(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    assert result.encoding == "UTF-16"
    assert result.delimiter == "tab"
    assert result.counts == {("Acme", "T0120", None): 7}


def test_a_file_that_leaves_utf8_after_the_first_chunk_is_read_again_as_windows_1252():
    lines = ["Code,Carrier,Count"] + ["T0120,Acme,1"] * 30_000 + ["T0120,Café Dental,2"]
    data = "\n".join(lines).encode("cp1252")
    assert len(data) > volumes_module.HEAD_BYTES
    for source in (data, io.BytesIO(data)):
        result = aggregate_volumes(source, "mix.csv", prefix="T")
        assert result.encoding == "Windows-1252"
        assert result.counts == {("Acme", "T0120", None): 30_000, ("Café Dental", "T0120", None): 2}
        assert result.warnings[0].startswith("The file is not UTF-8 throughout")


# ---- mapping and options --------------------------------------------------------------------


def test_a_users_mapping_reads_a_file_without_a_header():
    text = "2025-01-03|T0120|Acme|Pat One\n2025-01-04|T0120|Acme|Pat Two\n"
    with pytest.raises(ColumnsNotFound):
        aggregate(text)
    result = aggregate(text, mapping={"date": 0, "code": 1, "carrier": 2})
    assert result.header == []
    assert result.counts == {("Acme", "T0120", JAN): 2}
    assert "Pat One" not in repr(result)


def test_a_mapping_onto_a_patient_column_is_refused():
    text, _expected = procedure_export()
    with pytest.raises(UnreadableFile, match=r"Column 2 \('Patient Name'\) holds patient data"):
        aggregate(text, mapping={"code": 3, "carrier": 1})


def test_a_carrier_column_with_too_many_values_is_refused():
    lines = ["Date,Code,Plan"] + [f"2025-01-02,T0120,Person {i}" for i in range(1100)]
    with pytest.raises(UnreadableFile, match="has over 1,000 different values"):
        aggregate("\n".join(lines))


def test_header_row_option_and_roles_from_the_mapping_only():
    text = "Count,Code\nnotes,here\n3,T0120\n4,T1110\n"
    result = aggregate(text, header_row=0, mapping={"code": 1, "count": 0, "amount": 5})
    assert result.counts == {(None, "T0120", None): 3, (None, "T1110", None): 4}
    assert result.columns == {"code": 1, "count": 0}
    assert result.rejected_count == 1  # "notes,here"


# ---- sources, progress, XLSX ----------------------------------------------------------------


def test_bytes_path_and_unseekable_stream_give_the_same_result(tmp_path):
    text, expected = procedure_export()
    path = tmp_path / "export.csv"
    path.write_text(text)

    class Unseekable(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def readinto(self, buffer) -> int:
            chunk = self.inner.read(min(len(buffer), 7))  # small reads, like a socket
            buffer[: len(chunk)] = chunk
            return len(chunk)

    for source in (text.encode(), path, str(path), Unseekable(text.encode())):
        assert aggregate_volumes(source, "export.csv", prefix="T").counts == expected


def test_progress_is_reported_every_50000_rows_up_to_the_file_size():
    lines = ["Date,Code,Carrier"] + ["2025-01-02,T0120,Acme"] * 120_000
    data = "\n".join(lines).encode()
    calls: list[tuple[int, int]] = []
    result = aggregate_volumes(
        data, "big.csv", prefix="T", progress=lambda d, t: calls.append((d, t))
    )
    assert result.counts == {("Acme", "T0120", JAN): 120_000}
    assert len(calls) == 3
    assert all(total == len(data) for _done, total in calls)
    assert [done for done, _total in calls] == sorted(done for done, _total in calls)
    assert 0 < calls[0][0] <= len(data)


def test_xlsx_export_with_a_cover_sheet_dates_and_numeric_codes():
    workbook = Workbook()
    workbook.active.title = "Cover"
    workbook.active["A1"] = "Procedures by carrier, 2025"
    sheet = workbook.create_sheet("Procedures")
    sheet.append(["Exported from the PMS"])
    sheet.append([])
    sheet.append(["Service Date", "Proc Code", "Carrier", "Chart #", "Patient"])
    for i in range(90):
        sheet.append([
            datetime(2025, 1 + i % 3, 5),
            1110 if i % 2 else "T0120",
            "Acme" if i % 3 else "Blue Tooth",
            PATNUMS[i % 3],
            PATIENTS[i % 3],
        ])  # fmt: skip
    sheet.append([datetime(2025, 1, 5), "XX", "Acme", PATNUMS[0], PATIENTS[0]])
    result = aggregate(xlsx_bytes(workbook), "export.xlsx")
    assert result.source == "xlsx"
    assert result.sheet == "Procedures"
    assert result.header_row == 2
    expected: dict = {}
    for i in range(90):
        key = ("Acme" if i % 3 else "Blue Tooth", "T1110" if i % 2 else "T0120",
               date(2025, 1 + i % 3, 1))  # fmt: skip
        expected[key] = expected.get(key, 0) + 1
    assert result.counts == expected
    assert [(r.where, r.reason) for r in result.rejected] == [
        ("row 94", "'XX' is not a procedure code")
    ]
    assert result.ignored_columns == ["Chart #", "Patient"]
    assert patient_values_in(result) == []


def test_the_json_summary_round_trips():
    text, _expected = procedure_export()
    result = aggregate(text + "x,y,02/03/2025,BAD,Acme,z,w\n")
    data = json.loads(json.dumps(result.as_json()))
    assert data["counts"][0] == ["Acme Dental PPO", "T0120", "2025-01-01", 5]
    assert VolumeAggregate.from_json(data) == result


# ---- files that cannot be read ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"", "empty.csv", "The file is empty"),
        (b"   \n\n", "blank.csv", "The file is empty"),
        (b"Date,Carrier,Patient\n2025-01-01,Acme,X\n", "nocode.csv", "No header row naming"),
        (b"Code,Carrier\x81\x8d\nT0120,\x90\x9d\n", "odd.csv", "encoding is not recognised"),
        (b"\x00\x01\x02\x03binary" * 50, "blob.csv", "not a text file"),
        (b"\xd0\xcf\x11\xe0old excel", "old.xls", "old Excel"),
        (b"Code,Carrier\nT0120," + b"A" * 2_000_000 + b"\n", "long.csv", "over 100,000 characters"),
        (b"PK\x03\x04not really a zip", "fake.xlsx", "damaged"),
    ],
)
def test_unreadable_files_get_a_clear_message(data, filename, message):
    with pytest.raises(UnreadableFile, match=message):
        aggregate_volumes(data, filename, prefix="T")


def test_an_unknown_encoding_after_the_first_chunk_is_refused_clearly():
    good = "Code,Carrier,Count\n" + "T0120,Acme,1\n" * 30_000
    with pytest.raises(UnreadableFile, match="encoding is not recognised"):
        aggregate(good.encode() + b"T0120,\x81\x8d,1\n")
    unseekable = io.BufferedReader(io.BytesIO(good.encode() + b"T0120,Caf\xe9,1\n"))
    unseekable.seekable = lambda: False  # an upload stream read once
    with pytest.raises(UnreadableFile, match="starts as UTF-8 text but is not UTF-8 further"):
        aggregate_volumes(unseekable, "once.csv", prefix="T")


def test_a_header_without_rows_gives_an_empty_aggregate_with_a_warning():
    result = aggregate("Date,Code,Carrier\n")
    assert result.counts == {}
    assert result.rows_read == 0
    assert "The file has a header but no rows below it." in result.warnings
