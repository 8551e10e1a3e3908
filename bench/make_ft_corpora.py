"""Build small fine-tuning corpora that the starter model never saw, from files on disk and one PyPI sdist.

    python bench/make_ft_corpora.py [OUT_DIR]      # default /tmp/ftcorpora

The starter model was trained on Python standard-library docstrings (corpora/pydocs.txt) and Tiny
Shakespeare. Each corpus below is UTF-8 text of at most --max-bytes bytes (default 130,000), cut
at a whole paragraph, file or message, and is built deterministically: files and entries are
visited in sorted order and nothing random is used. The text is written to OUT_DIR and is not
committed to the repository; only this script is.

novel.txt: a 19th-century English novel, Lewis Carroll's Alice's Adventures in Wonderland (1865; public
    domain), whole: the file alice29.txt of the Canterbury corpus (the "Millennium Fulcrum Edition 2.9"
    of Project Gutenberg), taken from the sdist of Brotli 1.1.0 on PyPI (tests/testdata/alice29.txt),
    which the script downloads with `pip download` (PyPI is reachable where Project Gutenberg is
    not); its DOS line ends become "\\n" and its end-of-file byte is dropped: 148,480 characters. The
    starter never read it: it is by neither Austen nor Shakespeare.
prose.txt: English prose, from the Vim user manual ("VIM USER MANUAL - by Bram Moolenaar", the
    files usr_NN.txt under /usr/share/vim/vim9*/doc, Debian package vim-runtime). Chapters are
    read in order and only running-text paragraphs are kept: code examples (indented lines),
    figures, headings, tables of contents and help-link markup (|tag|, *tag*, the " >" example
    marker) are dropped. Licence: the Vim licence (charityware; GPL-compatible, free to copy and
    redistribute), see `:help license` or /usr/share/doc/vim-runtime/copyright.
code.txt: Python source code, the complete .py files of a fixed list of standard-library modules
    (CODE_MODULES) of the Python running this script, taken whole in sorted order until the size
    limit. Licence: PSF License Agreement. Overlap: the docstrings inside these files are part of
    pydocs.txt, the code and comments are not.
newchars.txt: Vietnamese (--lang vi, the default) or Russian (--lang ru) running text: the
    translated messages (msgstr) of the GNU gettext catalogs of git and then coreutils, read from
    /usr/share/locale/LANG/LC_MESSAGES/DOMAIN.mo with Python's gettext module, NFC-normalised,
    in sorted order of their English msgid, keeping only messages that are sentence-like (three
    words or more, mostly letters). Licences: git's translations GPL-2.0, coreutils' GPL-3.0-or-later.
    The script prints the characters of this corpus that are missing from the starter's vocabulary
    (read from the packaged starter model: the characters of corpora/pydocs.txt and Tiny Shakespeare)
    and the share of the text they make up.

With --tuning, other texts of the same kinds are written instead (tune_prose.txt: the Vim
manual's running text after the part prose.txt takes; tune_code.txt: the modules of TUNE_MODULES;
tune_de.txt: the German catalogs; tune_lecture.txt: the first --max-bytes of the Canterbury corpus's
lcet10.txt, from the same Brotli sdist, the Library of Congress's 1992 workshop on electronic texts,
a work of the US government), for choosing settings (bench/dynamic.py) on text that is not the
text the results are then reported on.

The sources are those of the machine that runs the script: a different Debian release (vim90 vs
vim91, another git version) or Python version gives different text, so the script prints a sha256
of each corpus for comparing runs.
"""

from __future__ import annotations

import argparse
import gettext
import glob
import hashlib
import re
import sys
import sysconfig
import unicodedata
from pathlib import Path

CODE_MODULES = ("bisect", "calendar", "colorsys", "contextlib", "copy", "csv", "fnmatch", "fractions", "glob",
                "graphlib", "heapq", "queue", "reprlib", "sched", "shlex", "string", "textwrap")
TUNE_MODULES = ("abc", "base64", "bdb", "cmd", "code", "codeop", "dis", "enum", "filecmp", "fileinput", "getopt",
                "gettext", "hmac", "imaplib", "ipaddress", "keyword", "linecache")
MO_DOMAINS = ("git", "coreutils")
MIN_BYTES = 30_000


def take(chunks, max_bytes: int, sep: str, skip_bytes: int = 0) -> str:
    """Join chunks in order, stopping before the one that would pass max_bytes; with skip_bytes, first
    pass over the chunks that a take of skip_bytes would have joined."""
    chunks = iter(chunks)
    if skip_bytes:
        take(chunks, skip_bytes, sep)
    out, size, step = [], 0, len(sep.encode("utf-8"))
    for chunk in chunks:
        n = len(chunk.encode("utf-8")) + step
        if size + n > max_bytes:
            break
        out.append(chunk)
        size += n
    return sep.join(out) + "\n"


# ---------------------------------------------------------------- prose: the Vim user manual

def vim_manual_files() -> list[Path]:
    docs = sorted(glob.glob("/usr/share/vim/vim[0-9]*/doc"))
    if not docs:
        sys.exit("no Vim runtime found under /usr/share/vim (Debian package vim-runtime)")
    return sorted(Path(docs[-1]).glob("usr_[0-9][0-9].txt"))


def clean_vim_line(line: str) -> str:
    line = re.sub(r"\s+>$", "", line.rstrip())            # " >" marks a following example
    line = re.sub(r"\|([^|\s]+)\|", r"\1", line)          # |tag| help links
    line = re.sub(r"\*([^*\s]+)\*", r"\1", line)          # *tag* anchors
    return line.replace("\t", " ")


def is_prose(paragraph: list[str]) -> bool:
    text = " ".join(paragraph)
    if len(text) < 80 or paragraph[0].startswith(("=", "*", "|", "vim:")):
        return False
    if any(line.startswith("\t") or line.startswith("    ") for line in paragraph):
        return False                                        # examples and figures are indented
    if text.upper() == text:                                # headings
        return False
    letters = sum(c.isalpha() or c == " " for c in text)
    return letters / len(text) >= 0.85 and text.count(" ") >= 10


def prose_paragraphs():
    for path in vim_manual_files():
        paragraph: list[str] = []
        for raw in path.read_text(encoding="utf-8", errors="replace").splitlines() + [""]:
            if raw.strip():
                paragraph.append(raw.rstrip())
                continue
            if paragraph and is_prose(paragraph):
                yield "\n".join(clean_vim_line(line).strip() for line in paragraph)
            paragraph = []


# ---------------------------------------------------------------- novel: the Canterbury corpus

BROTLI = "brotli==1.1.0"  # its sdist carries the Canterbury corpus's texts as test data


def canterbury(name: str, cache: Path) -> str:
    """The Canterbury corpus's text `name` (alice29.txt, lcet10.txt), read from Brotli's sdist, which
    `pip download` fetches into `cache` once."""
    import subprocess
    import tarfile
    sdists = sorted(cache.glob("[Bb]rotli-1.1.0.tar.gz"))
    if not sdists:
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", BROTLI,
                        "-d", str(cache)], check=True, stdout=subprocess.DEVNULL)
        sdists = sorted(cache.glob("[Bb]rotli-1.1.0.tar.gz"))
    with tarfile.open(sdists[0]) as tar:
        data = tar.extractfile(f"Brotli-1.1.0/tests/testdata/{name}").read()
    return data.decode("latin-1").rstrip("\x1a").replace("\r\n", "\n")  # DOS line ends made "\\n"


# ---------------------------------------------------------------- code: Python standard library

def code_files(modules=CODE_MODULES):
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for name in sorted(modules):
        path = stdlib / f"{name}.py"
        if path.is_file():
            yield path.read_text(encoding="utf-8").rstrip() + "\n"


# ---------------------------------------------------------------- newchars: message catalogs

def sentence_like(text: str) -> bool:
    words = re.findall(r"[^\W\d_]{2,}", text)
    visible = [c for c in text if not c.isspace()]
    return len(words) >= 3 and sum(c.isalpha() for c in visible) >= 0.7 * len(visible)


def catalog_messages(lang: str):
    seen: set[str] = set()
    for domain in MO_DOMAINS:
        path = Path(f"/usr/share/locale/{lang}/LC_MESSAGES/{domain}.mo")
        if not path.is_file():
            print(f"skipped missing {path}", file=sys.stderr)
            continue
        with path.open("rb") as f:
            catalog = gettext.GNUTranslations(f)._catalog
        # Keys are msgid strings, or (msgid, n) for plural forms: keep the first form of each.
        entries = sorted((k if isinstance(k, str) else k[0], v) for k, v in catalog.items()
                         if k and (isinstance(k, str) or k[1] == 0))
        for _, message in entries:
            message = unicodedata.normalize("NFC", message).strip()
            if message and message not in seen and sentence_like(message):
                seen.add(message)
                yield message


def starter_chars() -> set[str] | None:
    """The packaged starter model's characters (None where charlstm cannot be imported)."""
    try:
        from charlstm import api
    except ImportError:
        return None
    _, tok = api.load("starter")
    return set(tok.chars)


# ---------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="/tmp/ftcorpora", help="output folder (default /tmp/ftcorpora)")
    ap.add_argument("--max-bytes", type=int, default=130_000, help="size limit of each corpus in UTF-8 bytes")
    ap.add_argument("--lang", default="vi", choices=("vi", "ru"), help="language of newchars.txt")
    ap.add_argument("--tuning", action="store_true", help="write the three tuning texts instead (see above)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    if args.tuning:
        corpora = {
            "tune_prose.txt": take(prose_paragraphs(), args.max_bytes, "\n\n", skip_bytes=args.max_bytes),
            "tune_code.txt": take(code_files(TUNE_MODULES), args.max_bytes, "\n\n"),
            "tune_de.txt": take(catalog_messages("de"), args.max_bytes, "\n"),
            "tune_lecture.txt": take(canterbury("lcet10.txt", out / ".sources").split("\n\n"), args.max_bytes, "\n\n"),
        }
    else:
        corpora = {
            "novel.txt": canterbury("alice29.txt", out / ".sources"),
            "prose.txt": take(prose_paragraphs(), args.max_bytes, "\n\n"),
            "code.txt": take(code_files(), args.max_bytes, "\n\n"),
            "newchars.txt": take(catalog_messages(args.lang), args.max_bytes, "\n"),
        }
    for name, text in corpora.items():
        data = text.encode("utf-8")
        (out / name).write_bytes(data)
        print(f"{out / name}: {len(text):,} characters, {len(data):,} bytes, "
              f"sha256 {hashlib.sha256(data).hexdigest()[:16]}")
        if len(data) < MIN_BYTES:
            sys.exit(f"{name} has only {len(data):,} bytes (< {MIN_BYTES:,}): its source is missing or changed")

    known = starter_chars()
    if known is None:
        print("charlstm not importable: the starter's vocabulary, and so new characters, not computed",
              file=sys.stderr)
        return
    for name, text in corpora.items():
        new = sorted(set(text) - known)
        share = sum(text.count(c) for c in new) / len(text)
        print(f"{name}: {len(new)} characters not in the starter's vocabulary, {share:.1%} of the text"
              + (f": {''.join(new)}" if new else ""))


if __name__ == "__main__":
    main()
