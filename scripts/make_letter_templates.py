"""Write the three default letter templates (templates/letters/*.docx) with python-docx.

    .venv/bin/python scripts/make_letter_templates.py

The .docx files are committed; run this again after changing the wording here. Every
variable is one of build_letter_context()'s (campaigns/letters/context.py); the help page
lists them. Word may split a `{{ ... }}` tag across runs when a template is edited by hand;
here each tag is written in one run, so docxtpl always sees it whole.
"""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Cm, Pt

OUT = Path(__file__).resolve().parent.parent / "templates" / "letters"


def _document() -> Document:
    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = "Calibri"
    style.font.size = Pt(11)
    style.paragraph_format.space_after = Pt(6)
    for section in doc.sections:
        section.top_margin = section.bottom_margin = Pt(60)
        section.left_margin = section.right_margin = Pt(66)
    return doc


def _letterhead(doc: Document) -> None:
    head = doc.add_paragraph()
    run = head.add_run("{{ practice.name }}")
    run.bold = True
    run.font.size = Pt(14)
    doc.add_paragraph("{{ practice.address_line }}")
    doc.add_paragraph("{% if practice.phone %}Phone {{ practice.phone }}{% endif %}")
    # TIN and NPI are optional on the practice: an empty one leaves no dangling label
    doc.add_paragraph(
        "{% if practice.tin %}TIN {{ practice.tin }}{% endif %}"
        "{% if practice.tin and practice.npi %} · {% endif %}"
        "{% if practice.npi %}NPI {{ practice.npi }}{% endif %}"
    )
    doc.add_paragraph("{{ today }}")
    doc.add_paragraph("Provider Relations, {{ network.name }}")
    doc.add_paragraph("{{ provider_relations.address_line }}")
    doc.add_paragraph("{% if provider_relations.email %}{{ provider_relations.email }}{% endif %}")


def _subject(doc: Document, text: str) -> None:
    p = doc.add_paragraph()
    p.add_run(text).bold = True


def _signature(doc: Document) -> None:
    doc.add_paragraph("Sincerely,")
    doc.add_paragraph("")
    doc.add_paragraph("{{ signer.name }}")
    doc.add_paragraph("{{ signer.title }}, {{ practice.name }}")
    doc.add_paragraph("{% if signer.email %}{{ signer.email }}{% endif %}")


def schedule_request() -> Document:
    doc = _document()
    _letterhead(doc)
    _subject(doc, "Re: Request for our current fee schedule, {{ network.name }}")
    doc.add_paragraph("Dear Provider Relations team,")
    doc.add_paragraph(
        "{{ practice.name }} is a participating provider in the {{ network.name }} network "
        "under the identifiers below. We are reviewing our participation agreements and ask "
        "that you send us, in writing, the complete fee schedule that currently applies to "
        "our office."
    )
    table = doc.add_table(rows=5, cols=2)
    table.style = "Table Grid"
    rows = [
        ("Practice", "{{ practice.name }}"),
        ("Tax identification number (TIN)", "{{ practice.tin }}"),
        ("National provider identifier (NPI)", "{{ practice.npi }}"),
        ("Network", "{{ network.name }}"),
        ("Region / service location", "{{ region }}"),
    ]
    for (label, value), row in zip(rows, table.rows, strict=True):
        row.cells[0].text = label
        row.cells[1].text = value
    doc.add_paragraph("")
    doc.add_paragraph(
        "Please include every procedure code with its maximum allowable amount, the "
        "effective date of the schedule, and any regional or office-specific variation "
        "that applies to us. An electronic copy (spreadsheet or PDF) is ideal."
    )
    doc.add_paragraph(
        "Our agreement with you took effect on {{ contract.effective_date }}. If a newer "
        "schedule has been issued since then, please send that version together with the "
        "date it took effect."
    )
    doc.add_paragraph(
        "We would appreciate your reply by {{ campaign.reply_by }}. If the request should go "
        "to another department or through your provider portal, please tell us where, and we "
        "will resubmit it there."
    )
    doc.add_paragraph("Thank you for your help.")
    _signature(doc)
    return doc


def fee_increase() -> Document:
    doc = _document()
    _letterhead(doc)
    _subject(doc, "Re: Request for a fee schedule review, {{ network.name }}")
    doc.add_paragraph("Dear Provider Relations team,")
    doc.add_paragraph(
        "{{ practice.name }} has served {{ network.name }} members since "
        "{{ contract.effective_date }}. We value the partnership and want to keep offering "
        "your members timely, high-quality dental care. To continue doing so, we ask you to "
        "review the allowances for the procedures listed below."
    )
    doc.add_paragraph("{%p if facts %}")
    _subject(doc, "Why our office matters to your members")
    doc.add_paragraph("{%p for fact in facts %}")
    doc.add_paragraph("{{ fact.statement }}", style="List Bullet")
    doc.add_paragraph("{%p endfor %}")
    doc.add_paragraph("{%p endif %}")
    _subject(doc, "Our request")
    doc.add_paragraph(
        "The table shows each procedure's current allowance, the amount we request, the "
        "change, and how often we performed it for your members in a year."
    )
    headers = ["Code", "Description", "Current allowed", "Requested", "Change", "Annual volume"]
    table = doc.add_table(rows=5, cols=len(headers))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, text in zip(table.rows[0].cells, headers, strict=True):
        cell.text = ""
        cell.paragraphs[0].add_run(text).bold = True
    table.rows[1].cells[0].text = "{%tr for row in codes %}"
    values = [
        "{{ row.code }}",
        "{{ row.description }}",
        "{{ row.current }}",
        "{{ row.requested }}",
        "{{ row.change_pct }}",
        "{{ row.volume }}",
    ]
    for cell, text in zip(table.rows[2].cells, values, strict=True):
        cell.text = text
    table.rows[3].cells[0].text = "{%tr endfor %}"
    total = table.rows[4].cells
    total[0].text = ""
    total[0].paragraphs[0].add_run("Total").bold = True
    total[1].text = "{{ totals.codes }} codes, a year at this volume"
    total[2].text = "{{ totals.current_annual }}"
    total[3].text = "{{ totals.requested_annual }}"
    total[4].text = "{{ totals.change_pct }}"
    total[5].text = "{{ totals.volume }}"
    for row in table.rows[2:]:
        for cell in row.cells[2:]:
            cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    # the description gets the room (16.5 cm of text width in all); LibreOffice reads the
    # table grid's column widths, Word the cells' widths: set both
    table.autofit = False
    widths = [Cm(w) for w in (1.9, 4.1, 2.8, 3.0, 2.2, 2.5)]
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = width
    doc.add_paragraph("")
    doc.add_paragraph(
        "At our current volume the request amounts to {{ totals.increase_annual }} a year "
        "({{ totals.current_annual }} now, {{ totals.requested_annual }} requested)."
    )
    doc.add_paragraph(
        "For your records: our agreement with {{ network.name }} took effect on "
        "{{ contract.effective_date }}{% if practice.tin %}; our TIN is {{ practice.tin }}"
        "{% endif %}{% if practice.npi %}; our NPI is {{ practice.npi }}{% endif %}."
    )
    doc.add_paragraph(
        "We ask for your written response by {{ campaign.reply_by }}. We are glad to discuss "
        "the figures, provide supporting information, or consider a counter-proposal."
    )
    doc.add_paragraph("Thank you for considering our request.")
    _signature(doc)
    return doc


def follow_up() -> Document:
    doc = _document()
    _letterhead(doc)
    _subject(doc, "Re: Follow-up on our request of {{ request.date }}, {{ network.name }}")
    doc.add_paragraph("Dear Provider Relations team,")
    doc.add_paragraph(
        "On {{ request.date }} {{ practice.name }} asked {{ network.name }} to review the "
        "allowances for {{ request.codes }} procedure codes, an adjustment worth "
        "{{ request.increase_annual }} a year at our current volume"
        "{% if request.sent_how %}, sent by {{ request.sent_how }}{% endif %}. "
        "We have not yet received a reply."
    )
    doc.add_paragraph(
        "The request concerned these codes: {{ request.code_list }}."
        "{% if practice.tin %} For reference, our TIN is {{ practice.tin }}.{% endif %}"
        "{% if practice.npi %} Our NPI is {{ practice.npi }}.{% endif %}"
    )
    doc.add_paragraph(
        "We would appreciate a written answer, or the name of the person reviewing the "
        "request, by {{ campaign.reply_by }}. If anything is missing from our request, please "
        "tell us and we will send it promptly."
    )
    doc.add_paragraph("Thank you for your attention.")
    _signature(doc)
    return doc


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, build in (
        ("schedule_request", schedule_request),
        ("fee_increase", fee_increase),
        ("follow_up", follow_up),
    ):
        path = OUT / f"{name}.docx"
        build().save(path)
        print(path)


if __name__ == "__main__":
    main()
