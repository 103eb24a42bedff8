"""Word -> PDF with LibreOffice (`soffice --headless`), when it is installed."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from .render import LetterError

INSTALL_HINT = (
    "PDF needs LibreOffice on the server: install it (Debian/Ubuntu: "
    "`apt install libreoffice-writer`) so that `soffice` is on the PATH, then reload."
)


def soffice() -> str | None:
    return shutil.which("soffice")


def docx_to_pdf(data: bytes, *, timeout: float = 60.0) -> bytes:
    """Convert a .docx to PDF in a temporary folder, with a LibreOffice profile of its own
    (two conversions at once must not share one) and a timeout."""
    program = soffice()
    if program is None:
        raise LetterError(INSTALL_HINT)
    with tempfile.TemporaryDirectory(prefix="letter-pdf-") as tmp:
        folder = Path(tmp)
        source = folder / "letter.docx"
        source.write_bytes(data)
        command = [
            program,
            f"-env:UserInstallation={(folder / 'profile').as_uri()}",
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            str(folder),
            str(source),
        ]
        try:
            subprocess.run(command, capture_output=True, timeout=timeout, check=False)  # noqa: S603
        except subprocess.TimeoutExpired:
            raise LetterError("LibreOffice took too long to make the PDF; try again.") from None
        target = folder / "letter.pdf"
        if not target.exists():
            raise LetterError("LibreOffice could not make a PDF of this letter.")
        return target.read_bytes()
