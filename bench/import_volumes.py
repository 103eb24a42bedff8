"""Speed of the code-volume import (issue 3, "Speed"): streaming aggregation against the floor.

    .venv/bin/python bench/import_volumes.py [--rows 1000000] [--runs 3] [--keep]

Generates a procedure-level CSV (ProcDate, ProcCode, Carrier, PatNum: 45 fictional T-codes,
8 carriers, 12 months, a patient number per row) in a temporary folder, then measures in the
same run, alternating, best of --runs:

* floor: a bare `csv.reader` loop counting (carrier, code, date[:7]) into a Counter;
* aggregate: `campaigns.fees.importers.volumes.aggregate_volumes` on the same file (header
  detection, code normalisation, month parsing, rejected-row checks, progress calls).

Both results are compared key by key. The peak RSS is that of a child process that runs only
the aggregation (resource.getrusage(RUSAGE_CHILDREN).ru_maxrss). For the issue's other
figures it also times the preview of a 2,000-row XLSX schedule and a 20-page PDF schedule
(no target). Targets: aggregate <= 1.3x the floor, peak RSS < 150 MB. The last line is
`BENCH import_volumes ... ok=true|false`.
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from campaigns.fees.importers.volumes import aggregate_volumes  # noqa: E402

TARGET_RATIO = 1.3
TARGET_RSS_MB = 150
CODES = [f"T{number:04d}" for number in range(120, 120 + 45 * 211, 211)]  # 45 fictional codes
CARRIERS = [
    "Acme Dental PPO",
    "Blue Tooth Mutual",
    "Canyon Dental Network",
    "Delta Smiles Alliance",
    "Evergreen Benefits",
    "Fairway Dental Plan",
    "Granite Mutual Dental",
    "Harbor Dental Trust",
]


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """A procedure-level export: one row per procedure over the 12 months of 2025."""
    rng = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(CODES))]  # a few codes carry most volume
    days = [date(2025, 1, 1) + timedelta(days=i) for i in range(365)]
    day_texts = [day.isoformat() for day in days]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ProcDate", "ProcCode", "Carrier", "PatNum"])
        batch = 100_000
        for start in range(0, rows, batch):
            size = min(batch, rows - start)
            codes = rng.choices(CODES, weights, k=size)
            carriers = rng.choices(CARRIERS, k=size)
            dates = rng.choices(day_texts, k=size)
            patients = [rng.randrange(10_000, 99_999) for _ in range(size)]
            writer.writerows(zip(dates, codes, carriers, patients, strict=True))


def floor(path: Path) -> Counter:
    """The least any import must do: read the CSV and count (carrier, code, month)."""
    counts: Counter = Counter()
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row in reader:
            counts[(row[2], row[1], row[0][:7])] += 1
    return counts


def aggregate(path: Path):
    return aggregate_volumes(path, path.name, prefix="T", progress=lambda done, total: None)


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def child_peak_rss_mb(path: Path) -> float:
    """Run only the aggregation in a child process; its peak resident memory in MB."""
    subprocess.run([sys.executable, __file__, "--child", str(path)], check=True)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KB on Linux


def preview_timings(folder: Path) -> tuple[float, float]:
    """Seconds to preview a 2,000-row XLSX schedule and a 20-page PDF schedule."""
    sys.path.insert(0, str(ROOT / "tests" / "unit" / "importers"))
    from builders import borderless_pdf, schedule_rows, xlsx_bytes  # noqa: PLC0415
    from openpyxl import Workbook

    from campaigns.fees.importers import preview_file

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Code", "Description", "Maximum plan allowance"])
    for row in schedule_rows(2000):
        sheet.append(list(row))
    xlsx = xlsx_bytes(workbook)
    pdf = borderless_pdf(schedule_rows(20 * 40), ("Code", "Description", "Allowance"), per_page=40)
    xlsx_s = min(timed(preview_file, "schedule.xlsx", xlsx)[0] for _ in range(3))
    pdf_s = min(timed(preview_file, "schedule.pdf", pdf)[0] for _ in range(3))
    (folder / "schedule.xlsx").write_bytes(xlsx)
    return xlsx_s, pdf_s


def _list(times: list[float]) -> str:
    return ", ".join(f"{seconds:.3f}" for seconds in times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result = aggregate(Path(args.child))
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"child: {result.procedures:,} procedures in {len(result.counts):,} counts; peak RSS "
            f"{before:.0f} MB after the imports (the app package), {after:.0f} MB after the "
            f"aggregation (+{after - before:.0f} MB)"
        )
        return 0

    folder = Path(tempfile.mkdtemp(prefix="bench-volumes-"))
    path = folder / "procedures.csv"
    generate(path, args.rows)
    size_mb = path.stat().st_size / 1024 / 1024
    print(f"{args.rows:,} rows, {size_mb:.1f} MB: {path}")

    floor_times, aggregate_times = [], []
    for _ in range(args.runs):
        seconds, expected = timed(floor, path)
        floor_times.append(seconds)
        seconds, result = timed(aggregate, path)
        aggregate_times.append(seconds)
    got = {(c, code, month.isoformat()[:7]): n for (c, code, month), n in result.counts.items()}
    if got != dict(expected) or result.rows_read != args.rows or result.rejected_count:
        print("MISMATCH between the floor and the aggregate", file=sys.stderr)
        return 1
    floor_s, aggregate_s = min(floor_times), min(aggregate_times)
    ratio = aggregate_s / floor_s
    peak_mb = child_peak_rss_mb(path)
    xlsx_s, pdf_s = preview_timings(folder)
    print(f"floor      {floor_s:.3f} s  (runs: {', '.join(f'{t:.3f}' for t in floor_times)})")
    print(
        f"aggregate  {aggregate_s:.3f} s  (runs: {', '.join(f'{t:.3f}' for t in aggregate_times)})"
    )
    print(f"ratio      {ratio:.2f}x  (target <= {TARGET_RATIO}x)")
    print(f"peak RSS   {peak_mb:.0f} MB in the aggregating child (target < {TARGET_RSS_MB} MB)")
    print(f"preview    2,000-row XLSX {xlsx_s:.3f} s, 20-page PDF {pdf_s:.3f} s")
    if not args.keep:
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()
    ok = ratio <= TARGET_RATIO and peak_mb < TARGET_RSS_MB
    print(
        f"BENCH import_volumes floor_s={floor_s:.3f} aggregate_s={aggregate_s:.3f} "
        f"ratio={ratio:.2f} peak_rss_mb={peak_mb:.0f} target={TARGET_RATIO}x,{TARGET_RSS_MB}MB "
        f"ok={'true' if ok else 'false'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
