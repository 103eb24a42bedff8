"""Writers of real test files: XLSX with openpyxl, PDF with reportlab, zip bombs with zipfile.

Every code is a fictional T-code (DOMAIN.md: no CDT content in the project).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence

from openpyxl import Workbook
from reportlab.lib import colors
from reportlab.lib.pagesizes import letter
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.pdfgen import canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

# (code, our own short label, allowed amount text) for schedule fixtures
LABELS = (
    "Recall exam",
    "Full x-ray set",
    "Four bite-wings",
    "Adult cleaning",
    "Child cleaning",
    "Fluoride",
    "Sealant",
    "Filling, 2 surfaces",
    "Ceramic crown",
    "Crown build-up",
    "Molar root canal",
    "Deep cleaning, quadrant",
    "Gum-maintenance cleaning",
    "Implant post",
    "Simple extraction",
    "Surgical extraction",
    "Night guard",
)


def schedule_rows(count: int, start: int = 100) -> list[tuple[str, str, str]]:
    """`count` rows of (T-code, label, "$amount") with distinct codes and amounts."""
    rows = []
    for index in range(count):
        code = f"T{start + index * 7:04d}"
        cents = 4500 + index * 1234
        rows.append((code, LABELS[index % len(LABELS)], f"${cents // 100:,}.{cents % 100:02d}"))
    return rows


def expected_cents(rows: Sequence[tuple[str, str, str]]) -> dict[str, int]:
    """{code: cents} for the rows (made by schedule_rows) whose amount is a dollar figure."""
    return {
        code: int(amount.strip("$").replace(",", "").replace(".", ""))
        for code, _, amount in rows
        if amount.startswith("$")
    }


def xlsx_bytes(workbook: Workbook) -> bytes:
    """A workbook saved to bytes."""
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def ruled_pdf(rows: Sequence[Sequence[str]], header: Sequence[str], title: str) -> bytes:
    """A PDF with a ruled table (GRID) over as many pages as needed; header row repeated."""
    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=letter)
    table = Table([list(header), *[list(row) for row in rows]], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
            ]
        )
    )
    styles = getSampleStyleSheet()
    document.build([Paragraph(title, styles["Title"]), Spacer(1, 12), table])
    return buffer.getvalue()


def borderless_pdf(
    rows: Sequence[Sequence[str]],
    header: Sequence[str],
    *,
    per_page: int,
    title: str = "Acme Dental Network - Provider fee schedule 2025",
    cover_letter_lines: int = 0,
) -> bytes:
    """A PDF of plain text columns (no lines), `per_page` rows a page, with the title, the
    column header, a confidentiality note and 'Page n of N' drawn on every page; optionally
    after a cover letter page of `cover_letter_lines` lines."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=letter)
    if cover_letter_lines:
        pdf.setFont("Helvetica", 10)
        for line in range(cover_letter_lines):
            pdf.drawString(50, 750 - line * 14, f"Line {line + 1} of our letter about your fees.")
        pdf.showPage()
    pages = [rows[i : i + per_page] for i in range(0, len(rows), per_page)]
    for number, page_rows in enumerate(pages, start=1):
        pdf.setFont("Helvetica-Bold", 12)
        pdf.drawString(50, 750, title)
        pdf.setFont("Helvetica", 10)
        pdf.drawString(50, 735, "Confidential - for contracted providers only")
        pdf.setFont("Helvetica-Bold", 10)
        pdf.drawString(50, 710, header[0])
        pdf.drawString(110, 710, header[1])
        pdf.drawRightString(540, 710, header[2])
        pdf.setFont("Helvetica", 10)
        y = 692
        for row in page_rows:
            pdf.drawString(50, y, row[0])
            pdf.drawString(110, y, row[1])
            pdf.drawRightString(540, y, row[2])
            y -= 16
        pdf.drawString(260, 40, f"Page {number} of {len(pages)}")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def scanned_pdf(tmp_image_path: str) -> bytes:
    """A PDF whose only content is a picture and some shapes: no text layer at all."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (400, 200), "white")
    drawing = ImageDraw.Draw(image)
    for y in range(20, 200, 20):
        drawing.line((10, y, 390, y), fill="black")
    image.save(tmp_image_path)
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=letter)
    pdf.drawImage(tmp_image_path, 50, 400, width=400, height=200)
    pdf.rect(50, 300, 200, 50)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def zip_bomb(member_mb: int, name: str = "xl/worksheets/sheet1.xml") -> bytes:
    """A zip whose one member inflates to `member_mb` MB of zeros (written in 1 MB chunks)."""
    buffer = io.BytesIO()
    chunk = b"\0" * (1 << 20)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open(name, "w", force_zip64=True) as member:
            for _ in range(member_mb):
                member.write(chunk)
    return buffer.getvalue()


def replace_member(data: bytes, name: str, content: bytes) -> bytes:
    """A copy of a zip file with one member's content replaced."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, content if info.filename == name else source.read(info))
    return buffer.getvalue()
