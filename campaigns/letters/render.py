"""Rendering a Word template with docxtpl in Jinja's sandbox, and the limited child process
that renders templates users upload.

This module imports nothing from the app (only docxtpl, jinja2 and the standard library):
run as a script it is the child, `python render.py`, which sets its own memory and CPU
limits before it reads a template and a context (JSON) from stdin, and writes the document or
a message to stdout. Only campaigns/letters/ touches docxtpl (DESIGN.md).
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from docxtpl import DocxTemplate
from jinja2 import TemplateError, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

MAX_TEMPLATE_BYTES = 2 * 1024 * 1024
MAX_MEMBERS = 300
MAX_UNPACKED_BYTES = 30 * 1024 * 1024
MAX_RATIO = 100  # compressed : unpacked, per member
CHILD_MEMORY_BYTES = 768 * 1024 * 1024
DOCX_MIMETYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


class LetterError(Exception):
    """A template that cannot be used or rendered, with a message for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def sandbox() -> SandboxedEnvironment:
    """The environment every letter renders in: no loader (no include/import), attributes
    starting with an underscore refused, ranges capped, values XML-escaped."""
    return SandboxedEnvironment(autoescape=True)


def check_package(data: bytes) -> None:
    """A real .docx within the limits, checked from the zip directory before anything is
    unpacked or parsed: size, member count, unpacked size and compression ratio."""
    if len(data) > MAX_TEMPLATE_BYTES:
        raise LetterError(f"The file is larger than {MAX_TEMPLATE_BYTES // (1024 * 1024)} MB.")
    if not data.startswith(b"PK"):
        raise LetterError("This is not a Word document (.docx); save it from Word as .docx.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise LetterError("This is not a Word document (.docx): the file is damaged.") from None
    if len(members) > MAX_MEMBERS:
        raise LetterError(f"The document has more than {MAX_MEMBERS} parts; it is refused.")
    unpacked = sum(m.file_size for m in members)
    if unpacked > MAX_UNPACKED_BYTES:
        raise LetterError(
            f"The document unpacks to more than {MAX_UNPACKED_BYTES // (1024 * 1024)} MB; "
            "it is refused (a zip bomb, or very large images)."
        )
    for m in members:
        if m.file_size > 1024 * 1024 and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            raise LetterError("The document is compressed suspiciously well; it is refused.")
    names = {m.filename for m in members}
    if "word/document.xml" not in names or "[Content_Types].xml" not in names:
        raise LetterError("This is not a Word document (.docx): it has no document part.")


def _template(data: bytes) -> DocxTemplate:
    try:
        return DocxTemplate(io.BytesIO(data))
    except Exception:
        raise LetterError("The Word document could not be read.") from None


def template_source(data: bytes) -> str:
    """The Jinja source docxtpl renders (body, headers and footers), after its XML patching."""
    from docx.oxml import parse_xml

    doc = _template(data)
    try:
        doc.init_docx()
        parts = [doc.patch_xml(doc.get_xml())]
        for rel in doc.docx.part.rels.values():
            if rel.reltype in (doc.HEADER_URI, doc.FOOTER_URI) and rel.target_part.blob:
                xml = doc.xml_to_string(parse_xml(rel.target_part.blob))
                parts.append(doc.patch_xml(xml))
    except Exception:
        raise LetterError("The Word document could not be read.") from None
    return "\n".join(parts)


@dataclass(frozen=True)
class Checked:
    variables: set[str]  # dotted names used: "practice.name", "codes", ...
    unknown: list[str]  # names the context does not have


FORBIDDEN_TAGS = {
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "import",
    nodes.Extends: "extends",
}


def check_source(source: str, known: dict[str, set[str] | None]) -> Checked:
    """Jinja syntax, no include/import/extends, and the variables used against `known`
    (top-level names and their keys)."""
    from jinja2 import meta

    env = sandbox()
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        raise LetterError(f"The template has a Jinja syntax error: {exc.message}.") from None
    for node_type, word in FORBIDDEN_TAGS.items():
        if any(True for _ in tree.find_all(node_type)):
            raise LetterError(
                f"The template uses {{% {word} %}}; letters cannot load other templates."
            )
    names = meta.find_undeclared_variables(tree)
    used = set(names)
    unknown = sorted(n for n in names if n not in known)
    for attr in tree.find_all(nodes.Getattr):
        if isinstance(attr.node, nodes.Name) and attr.node.name in known:
            dotted = f"{attr.node.name}.{attr.attr}"
            used.add(dotted)
            keys = known[attr.node.name]
            if keys is not None and attr.attr not in keys and attr.node.name in names:
                unknown.append(dotted)
    return Checked(used, sorted(set(unknown)))


def render_docx(data: bytes, context: dict) -> bytes:
    """Render the template with the context in the sandbox; the .docx bytes."""
    doc = _template(data)
    try:
        doc.render(context, jinja_env=sandbox())
    except SecurityError:
        raise LetterError(
            "The template tried something letters may not do (reading internal attributes)."
        ) from None
    except OverflowError as exc:
        raise LetterError(f"The template loops too far: {exc}") from None
    except UndefinedError as exc:
        raise LetterError(
            f"The template uses a value that does not exist: {exc.message}."
        ) from None
    except TemplateSyntaxError as exc:
        raise LetterError(f"The template has a Jinja syntax error: {exc.message}.") from None
    except TemplateError as exc:
        raise LetterError(f"The template could not be rendered: {exc.message}.") from None
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError) as exc:
        raise LetterError(f"The template could not be rendered: {exc}.") from None
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


# ---- the limited child process --------------------------------------------------------------


def render_in_child(data: bytes, context: dict, *, timeout: float, memory: int = 0) -> bytes:
    """Render in a separate Python process limited in memory and CPU time, killed after
    `timeout` seconds: what a template users uploaded is rendered with."""
    request = json.dumps(
        {
            "template": base64.b64encode(data).decode(),
            "context": context,
            "memory": memory or CHILD_MEMORY_BYTES,
            "cpu": max(1, int(timeout) + 1),
        }
    ).encode()
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter and script, no shell
            [sys.executable, "-I", str(Path(__file__).resolve())],
            input=request,
            capture_output=True,
            timeout=timeout,
            check=False,
            env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"},
        )
    except subprocess.TimeoutExpired:
        raise LetterError(
            f"The template took longer than {timeout:g} seconds to render (a runaway loop?); "
            "it was stopped."
        ) from None
    try:
        answer = json.loads(done.stdout or b"{}")
    except ValueError:
        answer = {}
    if "document" in answer:
        return base64.b64decode(answer["document"])
    if "error" in answer:
        raise LetterError(answer["error"])
    if done.returncode < 0 or b"MemoryError" in done.stderr:
        raise LetterError("The template needed too much time or memory to render; it was stopped.")
    raise LetterError("The template could not be rendered.")


def _child() -> None:
    import resource

    raw = sys.stdin.buffer.read()
    request = json.loads(raw)
    resource.setrlimit(resource.RLIMIT_AS, (request["memory"], request["memory"]))
    resource.setrlimit(resource.RLIMIT_CPU, (request["cpu"], request["cpu"]))
    try:
        document = render_docx(base64.b64decode(request["template"]), request["context"])
    except LetterError as exc:
        answer = {"error": exc.message}
    except MemoryError:
        answer = {"error": "The template needed too much memory to render; it was stopped."}
    except RecursionError:
        answer = {"error": "The template recursed too deeply; it was stopped."}
    else:
        answer = {"document": base64.b64encode(document).decode()}
    sys.stdout.write(json.dumps(answer))


if __name__ == "__main__":
    _child()
