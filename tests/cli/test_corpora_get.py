"""`charlstm corpora` and `corpora get`: the list, single texts and collections of books, each
fetched from a local server (this machine cannot reach the real ones), checked, and written whole or
not at all."""

import hashlib
import http.server
import threading
from pathlib import Path

from conftest import VERSE
from typer.testing import CliRunner

from charlstm.cli import app


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


class _Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass


class _Server:
    """A local HTTP server on 127.0.0.1 running `handler` in a thread; `url` is its address."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def _files_server(files: dict[str, bytes]) -> _Server:
    class Handler(_Quiet):
        def do_GET(self):
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
    return _Server(Handler)


def test_corpora_list_and_get_from_a_local_server(tmp_path, monkeypatch):
    from charlstm.data import corpora as fetch
    body = (VERSE * 50).encode()
    srv = _files_server({"/good.txt": body})
    sources = {
        "good": fetch.Source("good", srv.url + "/good.txt", "test text", hashlib.sha256(body).hexdigest(), len(body)),
        "tampered": fetch.Source("tampered", srv.url + "/good.txt", "wrong checksum", "0" * 64),
        "missing": fetch.Source("missing", srv.url + "/nope.txt", "not there"),
    }
    monkeypatch.setattr(fetch, "SOURCES", sources)
    (tmp_path / "bundled.txt").write_text("hello\n")
    r = invoke("corpora", "--dir", tmp_path)
    assert r.exit_code == 0 and "bundled" in r.stdout and "charlstm corpora get good" in r.stdout

    r = invoke("corpora", "get", "good", "--dir", tmp_path)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "good.txt").read_bytes() == body and "checksum ok" in r.stdout
    r = invoke("corpora", "get", "good", "--dir", tmp_path)
    assert "already exists" in r.stdout

    for name, message in (("tampered", "checksum mismatch"), ("missing", "could not download"),
                          ("nosuch", "unknown corpus")):
        r = CliRunner().invoke(app, ["corpora", "get", name, "--dir", str(tmp_path)])
        assert r.exit_code == 1 and message in r.stderr, r.output
        assert not (tmp_path / f"{name}.txt").exists()
    assert not list(Path(tmp_path).glob(".*.part"))  # no half files left behind
    srv.httpd.shutdown()


def _broken_server(body: bytes) -> _Server:
    """/good sends the body; /short half of it under the full Content-Length; /chunked breaks off
    inside a chunk; /badlength sends an unreadable Content-Length."""
    class Handler(_Quiet):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            self.send_response(200)
            if self.path == "/chunked":
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(body[:100]), body[:100]))
                self.wfile.write(b"400\r\n" + body[:10])  # promises 1024 bytes, sends 10, hangs up
            elif self.path == "/badlength":
                self.send_header("Content-Length", "lots")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body if self.path == "/good" else body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
    return _Server(Handler)


def test_broken_downloads_are_one_line_and_leave_nothing(tmp_path, monkeypatch):
    import os

    from charlstm.data import corpora as fetch
    body = (VERSE * 50).encode()
    srv = _broken_server(body)
    sources = {name: fetch.Source(name, f"{srv.url}/{name}", "no pinned checksum")
               for name in ("short", "chunked", "badlength", "good")}
    monkeypatch.setattr(fetch, "SOURCES", sources)
    for name, message in (("short", "of"), ("chunked", "could not download"), ("badlength", "could not download")):
        r = CliRunner().invoke(app, ["corpora", "get", name, "--dir", str(tmp_path / "c")])
        assert r.exit_code == 1 and "Traceback" not in r.output, r.output
        assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.stderr
        assert not (tmp_path / "c").exists()  # not the file, no .part file, not even the folder made for it
    old = os.umask(0o027)
    try:
        r = invoke("corpora", "get", "good", "--dir", tmp_path / "c")
    finally:
        os.umask(old)
    saved = tmp_path / "c" / "good.txt"
    assert r.exit_code == 0 and saved.read_bytes() == body
    assert saved.stat().st_mode & 0o777 == 0o640  # 0644 less the umask, not the temp file's 0600
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["good.txt"]
    srv.httpd.shutdown()


def _gutenberg_file(title: str, body: str) -> bytes:
    """A book as Project Gutenberg serves it: a BOM, CRLF line ends, a header, START and END lines and
    the licence after."""
    text = (f"The Project Gutenberg eBook of {title.title()}\n\nTitle: {title.title()}\n\n"
            f"*** START OF THE PROJECT GUTENBERG EBOOK {title} ***\n\n\n{body}\n\n\n"
            f"*** END OF THE PROJECT GUTENBERG EBOOK {title} ***\n\nSection 1. General Terms of Use\n")
    return "\ufeff".encode() + text.replace("\n", "\r\n").encode()


def test_a_collection_is_its_books_texts_under_their_titles(tmp_path, monkeypatch):
    import importlib.util
    import re

    from charlstm.data import corpora as fetch
    books = (fetch.Book("FIRST BOOK", 11), fetch.Book("SECOND", 22), fetch.Book("THIRD", 33))
    bodies = [f"Chapter 1\n\nIt was the {n} book, and its people were {n}.\n" * (k + 2)
              for k, n in enumerate(("first", "second", "third"))]
    files = {f"/{b.gutenberg}/pg{b.gutenberg}.txt": _gutenberg_file(b.title, t) for b, t in zip(books, bodies)}
    srv = _files_server(files)
    coll = fetch.Collection("novels", "three test books", books, base=srv.url)
    monkeypatch.setattr(fetch, "SOURCES", {"novels": coll})
    r = invoke("corpora", "get", "novels", "--dir", tmp_path)
    assert r.exit_code == 0, r.output
    saved = (tmp_path / "novels.txt").read_bytes().decode("utf-8")
    assert saved == "\n\n\n".join(f"{b.title}\n\n{t}" for b, t in zip(books, bodies))  # no header, licence, BOM, CR
    digests = [hashlib.sha256(t.encode()).hexdigest() for t in bodies]
    assert re.findall(r"sha256 ([0-9a-f]{64})", r.stdout) == digests and "3 books" in r.stdout

    # tools/make_starter.py cuts the saved text back into its books, by their titles
    tool_file = Path(__file__).parents[2] / "tools" / "make_starter.py"
    spec = importlib.util.spec_from_file_location("make_starter", tool_file)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert [w.rstrip("\n") for w in tool.works(saved, tuple(b.title for b in books))] == \
        [f"{b.title}\n\n{t}".rstrip("\n") for b, t in zip(books, bodies)]

    # a pinned checksum is checked; a wrong one, a missing book or a page that is not a Gutenberg text
    # saves nothing, and an older file stays as it was
    pinned = (books[0], fetch.Book("SECOND", 22, digests[1]), books[2])
    monkeypatch.setattr(fetch, "SOURCES", {"novels": fetch.Collection("novels", "", pinned, base=srv.url)})
    r = invoke("corpora", "get", "novels", "--dir", tmp_path, "--force")
    assert r.exit_code == 0 and "Second (#22): " in r.stdout and "checksum ok" in r.stdout, r.output
    (tmp_path / "novels.txt").write_text("older\n", encoding="utf-8")
    files["/99/pg99.txt"] = b"<html>Not found, but said politely</html>"
    for broken, message in (((books[0], fetch.Book("SECOND", 22, "0" * 64)), "checksum mismatch"),
                            ((books[0], fetch.Book("GONE", 44)), "could not download"),
                            ((books[0], fetch.Book("PAGE", 99)), "not a Project Gutenberg text")):
        monkeypatch.setattr(fetch, "SOURCES", {"novels": fetch.Collection("novels", "", broken, base=srv.url)})
        r = CliRunner().invoke(app, ["corpora", "get", "novels", "--dir", str(tmp_path), "--force"])
        assert r.exit_code == 1 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.output
        assert (tmp_path / "novels.txt").read_text(encoding="utf-8") == "older\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["novels.txt"]
    srv.httpd.shutdown()


def test_austen_is_the_five_novels_the_starter_read():
    from charlstm.data.corpora import SOURCES
    austen = SOURCES["austen"]
    assert [(b.title, b.gutenberg) for b in austen.books] == [
        ("SENSE AND SENSIBILITY", 161), ("PRIDE AND PREJUDICE", 1342), ("MANSFIELD PARK", 141), ("EMMA", 158),
        ("NORTHANGER ABBEY", 121)]
    assert austen.url(austen.books[1]) == "https://www.gutenberg.org/cache/epub/1342/pg1342.txt"
