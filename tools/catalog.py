"""Keep the translation catalogs in step with the templates (``make catalog``).

Extracts every message from reports/templates and the terminal's tables (servqual/terminal.py), adds new ones to each catalog with an empty
translation, marks vanished ones obsolete, and lists what still needs translating. The test
suite fails while any message lacks a translation, so a new sentence cannot ship untranslated.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "reports" / "templates"
LOCALES = ROOT / "reports" / "locale"
# silent: false — a template with a syntax error stops the tool; Jinja's extractor would
# otherwise return no message for it, and its translations would be dropped as obsolete.
OPTIONS = {"extensions": "jinja2.ext.i18n", "trim_blocks": "True", "lstrip_blocks": "True",
           "newstyle_gettext": "True", "silent": "false"}


def template_messages() -> Catalog:
    """Every message used by the templates, as a catalog template."""
    template = Catalog(project="servqual", fuzzy=False)
    # the report's templates, and the e-mail's (email/*.html and *.txt)
    found = extract_from_dir(str(TEMPLATES), method_map=[("**.html", "jinja2"),
                                                         ("**.txt", "jinja2")],
                             options_map={"**.html": OPTIONS, "**.txt": OPTIONS})
    # The terminal's tables (servqual trend) share the catalog: one translation per word.
    spoken = extract_from_dir(str(ROOT / "servqual"), method_map=[("terminal.py", "python")])
    for filename, lineno, message, comments, context in [*found, *spoken]:
        template.add(message, locations=[(filename, lineno)], auto_comments=comments,
                     context=context)
    return template


def update(locale: str) -> list[str]:
    path = LOCALES / locale / "LC_MESSAGES" / "messages.po"
    if path.exists():
        with path.open("rb") as fh:
            catalog = read_po(fh, locale=locale)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        catalog = Catalog(locale=locale, project="servqual")
    catalog.update(template_messages(), no_fuzzy_matching=True)
    catalog.fuzzy = False
    catalog.msgid_bugs_address = "https://github.com/servqual/servqual/issues"
    catalog.copyright_holder = "servqual developers"
    catalog.language_team = f"{locale} servqual translators"
    with path.open("wb") as fh:
        write_po(fh, catalog, omit_header=False, no_location=True, sort_output=False,
                 ignore_obsolete=True, width=100)
    return [m.id for m in catalog if m.id and not m.string]


def main() -> int:
    missing_any = False
    for locale_dir in sorted(p for p in LOCALES.iterdir() if p.is_dir()):
        missing = update(locale_dir.name)
        for message in missing:
            print(f"{locale_dir.name}: untranslated: {message!r}")
        missing_any |= bool(missing)
    return 1 if missing_any else 0


if __name__ == "__main__":
    sys.exit(main())
