"""What a phone downloads: compressed pages, fingerprinted static files cached as immutable,
Chart.js only on the pages that draw a chart."""
from __future__ import annotations

import gzip
import re
from pathlib import Path

import brotli
import pytest
from flask import Flask, url_for

from static_files import build, init_static_files

ASSET = re.compile(r'(?:href|src)="(/static/[^"]+)"')
STATIC = Path(__file__).resolve().parents[2] / "static"


def assets_of(client, path: str) -> list[str]:
    """The static URLs a page links to."""
    return ASSET.findall(client.get(path).get_data(as_text=True))


def test_pages_link_fingerprinted_static_files_cached_as_immutable(client, logged_in):
    assets = assets_of(client, "/")
    assert any(url.startswith("/static/vendor/bootstrap.min.") for url in assets)
    for url in assets:
        assert re.search(r"\.[0-9a-f]{12}\.\w+$", url), url
        response = client.get(url)
        assert response.status_code == 200
        assert "immutable" in response.headers["Cache-Control"]
        assert "max-age=315360000" in response.headers["Cache-Control"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(("encoding", "decompress"), [("gzip", gzip.decompress),
                                                      ("br", brotli.decompress)])
def test_static_files_come_compressed(client, logged_in, encoding, decompress):
    [css] = [url for url in assets_of(client, "/") if "bootstrap.min" in url and url.endswith(".css")]
    response = client.get(css, headers={"Accept-Encoding": encoding})
    assert response.headers["Content-Encoding"] == encoding
    original = (STATIC / "vendor" / "bootstrap.min.css").read_bytes()
    assert decompress(response.get_data()) == original
    assert len(response.get_data()) < len(original) / 4


def test_pages_come_compressed_and_are_still_never_stored(client, logged_in):
    plain = client.get("/logs").get_data()
    response = client.get("/logs", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Cache-Control"] == "no-store"
    assert gzip.decompress(response.get_data()).count(b"<tr") == plain.count(b"<tr")


@pytest.mark.parametrize("path", ["/", "/strategy", "/logs", "/tokens", "/backtests", "/account"])
def test_chart_js_is_loaded_only_where_a_chart_is(client, logged_in, path):
    assert not any("chart.umd" in url for url in assets_of(client, path))
    assert any("chart.umd" in url for url in assets_of(client, "/trading"))


def test_a_changed_file_gets_a_new_name_and_the_old_one_stays(tmp_path):
    source, target = tmp_path / "static", tmp_path / "built"
    source.mkdir()
    (source / "app.js").write_text("let a = 1;\n" * 100)
    first = build(source, target)["app.js"]
    (source / "app.js").write_text("let b = 2;\n" * 100)
    second = build(source, target)["app.js"]
    assert first != second
    assert (target / first).read_text().startswith("let a") and (target / second).exists()
    assert (target / f"{second}.gz").exists() and (target / f"{second}.br").exists()


def test_an_unwritable_build_folder_leaves_plain_static_files(tmp_path, caplog):
    (tmp_path / "a-file").write_text("")
    app = Flask(__name__, static_folder=str(STATIC))
    init_static_files(app, {}, build_dir=tmp_path / "a-file" / "static")
    with app.test_request_context():
        assert url_for("static", filename="app.js") == "/static/app.js"
    assert app.test_client().get("/static/app.js").status_code == 200
    assert "without fingerprints" in caplog.text
