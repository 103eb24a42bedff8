"""Speed of letter rendering (issue 6): the app's letter service against bare docxtpl.

    .venv/bin/python bench/letters.py [--rows 60] [--runs 20]

Renders the built-in fee increase letter with a code table of --rows rows, --runs times,
through `campaigns.letters.services.render_letter` (the built-in template, the sandboxed
environment, the document written out), and, alternating in the same run, with a bare
`DocxTemplate(...).render(context)` + save of the same template and context. Prints the
medians; the last line is `BENCH letters service_ms=... bare_ms=... ratio=... target=1.2x
ok=true|false`.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from docxtpl import DocxTemplate  # noqa: E402

from campaigns.letters import services  # noqa: E402
from campaigns.letters.context import LetterKind, demo_context  # noqa: E402

TARGET = 1.2


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=60)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    kind = LetterKind.FEE_INCREASE
    context = demo_context(kind, rows=args.rows)
    template = services.builtin_template(kind)
    assert len(context["codes"]) == args.rows

    def service() -> bytes:
        return services.render_letter(kind, context)

    def bare() -> bytes:
        doc = DocxTemplate(io.BytesIO(template))
        doc.render(context)
        out = io.BytesIO()
        doc.save(out)
        return out.getvalue()

    service()
    bare()  # warm both (imports, the template cache)
    timings: dict[str, list[float]] = {"service": [], "bare": []}
    for _ in range(args.runs):
        for name, fn in (("service", service), ("bare", bare)):
            start = time.perf_counter()
            fn()
            timings[name].append((time.perf_counter() - start) * 1000)
    service_ms = statistics.median(timings["service"])
    bare_ms = statistics.median(timings["bare"])
    ratio = service_ms / bare_ms
    print(f"rows={args.rows} runs={args.runs}")
    print(f"service median {service_ms:.1f} ms, bare docxtpl median {bare_ms:.1f} ms")
    print(
        f"BENCH letters service_ms={service_ms:.1f} bare_ms={bare_ms:.1f} ratio={ratio:.2f} "
        f"target={TARGET}x ok={'true' if ratio <= TARGET else 'false'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
