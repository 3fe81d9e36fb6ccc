"""The documentation names only what exists: modules and their attributes, files, links and anchors.

README.md, docs/*.md and results/REPORT.md are read as text. Every dotted name ``mrisr.x[.y...]`` must be
a module under src/ or an attribute of one; every relative Markdown link must reach a file and, with
``#anchor``, a heading of that file (GitHub's slug rule); a section named in words (``REPORT, "Trust maps"``,
``METHOD.md §8``) must be a heading of that document; every file path quoted in backticks under one of the
repository's folders must exist (results/ outputs that .gitignore keeps out excepted). Each check is one
parametrised case named by the document and the reference, so a failure says what to fix where. No
network; nothing is written. Module names follow the code: when a module moves, these cases say where the
documents still name it.
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", ROOT / "results" / "REPORT.md", *(ROOT / "docs").glob("*.md")])

# Folders whose files the documents quote by path; results/ is checked too, except what .gitignore keeps out
# of the repository (run folders, data, volumes), which a reader makes by running the command quoted.
PATH_ROOTS = ("src/", "benchmarks/", "docs/", "scripts/", "tests/", "experiments/", "examples/", "results/")

MODULE_NAME = re.compile(r"(?<![\w./-])mrisr(?:\.[A-Za-z_]\w*)+")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"`([^`]+)`")  # inline code may run over a line break
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _prose_and_code(text: str) -> tuple[list[str], list[str]]:
    """The document's lines outside fenced code blocks, and those inside them."""
    prose: list[str] = []
    code: list[str] = []
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        (code if fenced else prose).append(line)
    return prose, code


# ---------------------------------------------------------------------------------------------- module names


def _module_names() -> list[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for doc in DOCS:
        for name in MODULE_NAME.findall(doc.read_text(encoding="utf-8")):
            found.add((_rel(doc), name))
    return sorted(found)


def resolve_dotted(name: str) -> bool:
    """Whether ``name`` is an importable module of src/, or an attribute (chain) of the longest one."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        module_name = ".".join(parts[:i])
        try:
            spec = importlib.util.find_spec(module_name)
        except (ImportError, AttributeError, ValueError):
            spec = None
        if spec is None:
            continue
        obj = importlib.import_module(module_name)
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_resolve_dotted_tells_real_from_made_up_names() -> None:
    assert resolve_dotted("mrisr")
    assert resolve_dotted("mrisr.config.Config")
    assert not resolve_dotted("mrisr.no_such_module")
    assert not resolve_dotted("mrisr.config.no_such_attribute")


@pytest.mark.parametrize(("doc", "name"), _module_names(), ids=lambda v: v)
def test_named_module_exists(doc: str, name: str) -> None:
    try:
        found = resolve_dotted(name)
    except Exception as error:  # a module that is there but does not import
        pytest.fail(f"{doc} names `{name}`, whose module does not import: {error!r}")
    assert found, f"{doc} names `{name}`, which is neither a module under src/ nor an attribute of one"


# ---------------------------------------------------------------------------------------------- links


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped except hyphens, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text).lower()
    kept = [c for c in text if c in "-_ " or unicodedata.category(c)[0] in "LNM"]
    return "".join(kept).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings, with GitHub's -1, -2 ... for repeated ones."""
    prose, _ = _prose_and_code(path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    out: set[str] = set()
    for line in prose:
        m = HEADING.match(line)
        if not m:
            continue
        slug = github_slug(m.group(2))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def test_github_slug_follows_githubs_rule() -> None:
    assert github_slug("1. Geometry") == "1-geometry"
    assert github_slug("Cohorts: BIDS datasets") == "cohorts-bids-datasets"
    assert github_slug("Trust maps: where to believe the SR") == "trust-maps-where-to-believe-the-sr"
    assert github_slug("How the geometry is read (`mrisr.acquisition.geometry`)") == (
        "how-the-geometry-is-read-mrisracquisitiongeometry"
    )


def _links() -> list[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for doc in DOCS:
        prose, _ = _prose_and_code(doc.read_text(encoding="utf-8"))
        for line in prose:
            for target in LINK.findall(line):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto: ...
                    continue
                found.add((_rel(doc), target))
    return sorted(found)


@pytest.mark.parametrize(("doc", "target"), _links(), ids=lambda v: v)
def test_relative_link_resolves(doc: str, target: str) -> None:
    path_part, _, anchor = target.partition("#")
    source = ROOT / doc
    dest = (source.parent / path_part).resolve() if path_part else source
    assert dest.exists(), f"{doc} links to `{target}`: {path_part} does not exist"
    if anchor:
        assert dest.suffix == ".md", f"{doc} links to `{target}`: an anchor into a file that is not Markdown"
        assert anchor in anchors(dest), (
            f"{doc} links to `{target}`: {_rel(dest)} has no heading whose anchor is #{anchor}"
        )


# ---------------------------------------------------------------------------------------------- named sections

# `results/REPORT.md, "Trust maps"`, `REPORT, "Cohorts"`, `README, "Performance"`, `docs/METHOD.md §8`: a
# section named in words, which a reader looks up by its heading.
DOC_NAME = r"(?:results/)?REPORT(?:\.md)?|README(?:\.md)?|(?:docs/)?[A-Z_]+\.md"
SECTION_BY_TITLE = re.compile(r"\b(" + DOC_NAME + r")\)?,?\s+\"([^\"]+)\"((?:\s*(?:,|and|or)\s+\"[^\"]+\")*)")
SECTION_BY_NUMBER = re.compile(r"\b(" + DOC_NAME + r")\s*§\s*(\d+)")


def _doc_path(name: str, source: Path) -> Path:
    if name.startswith(("REPORT", "results/")):
        return ROOT / "results" / "REPORT.md"
    if name.startswith("README"):
        return ROOT / "README.md"
    return ROOT / "docs" / Path(name).name


def headings(path: Path) -> list[str]:
    prose, _ = _prose_and_code(path.read_text(encoding="utf-8"))
    out = []
    for line in prose:
        m = HEADING.match(line)
        if m:
            out.append(m.group(2).replace("`", "").strip())
    return out


def _named_sections() -> list[tuple[str, str, str]]:
    found: set[tuple[str, str, str]] = set()
    for doc in DOCS:
        prose, _ = _prose_and_code(doc.read_text(encoding="utf-8"))
        text = " ".join(line.strip() for line in prose)
        for m in SECTION_BY_TITLE.finditer(text):
            target = _rel(_doc_path(m.group(1), doc))
            for title in [m.group(2), *re.findall(r'"([^"]+)"', m.group(3))]:
                found.add((_rel(doc), target, title))
        for m in SECTION_BY_NUMBER.finditer(text):
            found.add((_rel(doc), _rel(_doc_path(m.group(1), doc)), f"§{m.group(2)}"))
    return sorted(found)


@pytest.mark.parametrize(("doc", "target", "section"), _named_sections(), ids=lambda v: v)
def test_named_section_exists(doc: str, target: str, section: str) -> None:
    titles = headings(ROOT / target)
    if section.startswith("§"):
        number = section[1:]
        ok = any(re.match(rf"{number}\.(\s|$)", t) for t in titles)
    else:
        wanted = section.replace("`", "").strip().lower()
        ok = any(t.lower().startswith(wanted) for t in titles)
    assert ok, f"{doc} refers to {target}, {section!r}, but {target} has no such heading"


# ---------------------------------------------------------------------------------------------- quoted paths


def _ignored_patterns() -> list[str]:
    gitignore = ROOT / ".gitignore"
    if not gitignore.exists():
        return []
    lines = [s.strip() for s in gitignore.read_text().splitlines()]
    return [s for s in lines if s and not s.startswith("#")]


IGNORED = _ignored_patterns()


def is_gitignored(path: str) -> bool:
    """Whether a repository path falls under a .gitignore pattern: a pattern with a slash matches the path or
    one of its leading folders from the root (``**/`` for any folders), one without matches any name in it."""
    parts = path.rstrip("/").split("/")
    leading = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in IGNORED:
        pattern = pattern.rstrip("/")
        if "/" in pattern:
            variants = {pattern, pattern.replace("**/", ""), pattern.replace("**/", "*/")}
            if any(fnmatch.fnmatchcase(p, v) for p in leading for v in variants):
                return True
        elif any(fnmatch.fnmatchcase(name, pattern) for name in parts):
            return True
    return False


def _as_glob(token: str) -> list[str]:
    """A quoted path as glob patterns: placeholders (<panel>, [_flips4], …, N, S, K) and {a,b} choices."""
    token = token.split("|")[0]  # results/nominal-260|1000|2000: the first of the choices
    token = re.sub(r"<[^>]*>", "*", token)
    token = re.sub(r"\[[^\]]*\]", "*", token)
    token = re.sub(r"\*+", "*", token.replace("…", "*"))
    braces = re.search(r"\{([^{}]*)\}", token)
    if braces:
        out: list[str] = []
        for choice in braces.group(1).split(","):
            out += _as_glob(token[: braces.start()] + choice + token[braces.end() :])
        return out
    return [token]


def _exists(token: str) -> bool:
    for pattern in _as_glob(token):
        if any(c in pattern for c in "*?"):
            if next(iter(ROOT.glob(pattern.rstrip("/"))), None) is not None:
                return True
        elif (ROOT / pattern).exists():
            return True
    # a one-letter capital placeholder in a name: results/budget-N, metrics_flips4_sS.json, sr_fK.nii.gz
    loose = re.sub(r"(?<=[-_./a-z])[A-Z](?=[._/-]|$)", "*", token.split("|")[0])
    if loose != token:
        return any(next(iter(ROOT.glob(p.rstrip("/"))), None) is not None for p in _as_glob(loose))
    return False


PATH_TOKEN = re.compile(r"(?<![\w./-])((?:" + "|".join(map(re.escape, PATH_ROOTS)) + r")[\w./*<>\[\]{},|…+-]*)")


def _quoted_paths() -> list[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for doc in DOCS:
        prose, code = _prose_and_code(doc.read_text(encoding="utf-8"))
        paragraphs = "\n".join(prose).split("\n\n")
        spans = [span for para in paragraphs for span in INLINE_CODE.findall(para)] + code
        for span in spans:
            for token in PATH_TOKEN.findall(span):
                token = token.rstrip(".,;:)")
                if token.rstrip("/") in {r.rstrip("/") for r in PATH_ROOTS}:
                    continue
                if token.startswith("results/") and is_gitignored(token.split("|")[0]):
                    continue
                found.add((_rel(doc), token))
    return sorted(found)


def test_gitignore_reading_matches_the_run_outputs() -> None:
    assert is_gitignored("results/isotropic-30min/runs/x/model.pt")
    assert is_gitignored("results/long/data/colin27.nii.gz")
    assert not is_gitignored("results/REPORT.md")
    assert not is_gitignored("results/isotropic-30min/runs.csv")


@pytest.mark.parametrize(("doc", "path"), _quoted_paths(), ids=lambda v: v)
def test_quoted_path_exists(doc: str, path: str) -> None:
    assert _exists(path), f"{doc} quotes `{path}`, which is not in the repository"
