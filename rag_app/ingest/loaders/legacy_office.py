"""Legacy Word and PowerPoint files (.doc, .ppt): converted by LibreOffice when it is installed.

``soffice --headless --convert-to docx|pptx`` runs on a private copy in a temporary folder, with
its own user profile (no clash with a LibreOffice the person has open) and a time limit; the
result is read by the .docx or .pptx loader. Without LibreOffice the file is reported with the
package to install, never skipped in silence. (Legacy Excel .xls is read directly: see
`spreadsheet.load_xls`.)
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from rag_app.ingest.document import LoadError
from rag_app.ingest.loaders.common import Loaded
from rag_app.ingest.loaders.docx import load_docx
from rag_app.ingest.loaders.pptx import load_pptx

DOC_EXTENSIONS = frozenset({".doc"})
PPT_EXTENSIONS = frozenset({".ppt"})
CONVERSION_SECONDS = 120
NO_LIBREOFFICE = ("a legacy {kind} file: install LibreOffice to read it (on Debian or Ubuntu: `sudo apt install "
                  "libreoffice-{package}-nogui`), or save it as {modern} and ingest again")


def soffice() -> str | None:
    """The LibreOffice command on this machine, if any."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def load_doc(data: bytes) -> Loaded:
    """A Word 97-2003 document, through LibreOffice and the .docx loader."""
    return load_docx(_convert(data, ".doc", "docx", "Word .doc", "writer"))


def load_ppt(data: bytes) -> Loaded:
    """A PowerPoint 97-2003 deck, through LibreOffice and the .pptx loader."""
    return load_pptx(_convert(data, ".ppt", "pptx", "PowerPoint .ppt", "impress"))


def _convert(data: bytes, suffix: str, target: str, kind: str, package: str) -> bytes:
    command = soffice()
    if command is None:
        raise LoadError(NO_LIBREOFFICE.format(kind=kind, package=package, modern=f".{target}"))
    with tempfile.TemporaryDirectory(prefix="rag_app-convert-") as tmp:
        folder = Path(tmp)
        source = folder / f"document{suffix}"
        source.write_bytes(data)
        try:
            subprocess.run(
                [command, f"-env:UserInstallation={(folder / 'profile').as_uri()}", "--headless",
                 "--convert-to", target, "--outdir", str(folder / "out"), str(source)],
                capture_output=True, timeout=CONVERSION_SECONDS, check=True)
        except subprocess.TimeoutExpired as exc:
            raise LoadError(f"LibreOffice took over {CONVERSION_SECONDS} s to convert the {kind} file") from exc
        except (subprocess.CalledProcessError, OSError) as exc:
            raise LoadError(f"LibreOffice could not convert the {kind} file ({exc})") from exc
        converted = folder / "out" / f"document.{target}"
        if not converted.is_file():
            raise LoadError(f"LibreOffice could not convert the {kind} file (damaged or password-protected?)")
        return converted.read_bytes()
