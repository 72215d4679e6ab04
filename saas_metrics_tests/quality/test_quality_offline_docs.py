"""GX Data Docs without the network: every CDN tag of GX's templates has a local copy, and
the pages a validation builds load only files that exist next to them."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import great_expectations
from quality_frames import canonical, context, payment

from saas_metrics.config import QualityPolicy
from saas_metrics.quality import validate_table
from saas_metrics.quality.offline_docs import (
    ASSETS_DIR_NAME,
    CDN_ASSETS,
    STATIC_DIR,
    external_urls,
    localise_html,
)

TEMPLATES = Path(great_expectations.__file__).parent / "render" / "view" / "templates"
_TAG = re.compile(r"<(?:script|link|img)\b[^>]*>")
_ATTR = re.compile(r'(?:src|href)="([^"]+)"')


def template_tags() -> list[str]:
    return [tag for template in TEMPLATES.glob("*.j2") for tag in _TAG.findall(template.read_text())]


def test_every_cdn_url_of_the_gx_templates_has_a_shipped_file() -> None:
    urls = {m.group(1) for tag in template_tags() if (m := _ATTR.search(tag)) and m.group(1).startswith("http")}
    assert urls, "GX's templates moved: update saas_metrics/quality/offline_docs.py"
    assert urls <= set(CDN_ASSETS), f"new CDN URLs in GX's templates: {sorted(urls - set(CDN_ASSETS))}"
    assert all((STATIC_DIR / path).is_file() for path in CDN_ASSETS.values())
    # Font Awesome's CSS finds its woff2 fonts next to it.
    fonts = re.findall(r"url\(\.\./webfonts/([\w-]+\.woff2)\)", (STATIC_DIR / CDN_ASSETS[next(
        u for u in CDN_ASSETS if "font-awesome" in u)]).read_text())
    assert fonts and all((STATIC_DIR / "fontawesome-free-6.6.0" / "webfonts" / f).is_file() for f in fonts)
    assert (STATIC_DIR / "NOTICE.md").is_file()


def test_shipped_files_are_the_ones_the_templates_pin() -> None:
    pinned = [(m.group(1), i.group(1)) for tag in template_tags()
              if (m := _ATTR.search(tag)) and (i := re.search(r'integrity="sha384-([^"]+)"', tag))]
    assert len(pinned) == 2  # popper.js and bootstrap.js
    for url, digest in pinned:
        shipped = (STATIC_DIR / CDN_ASSETS[url]).read_bytes()
        assert base64.b64encode(hashlib.sha384(shipped).digest()).decode() == digest, url


def test_localise_rewrites_known_urls_and_drops_cdn_only_attributes() -> None:
    page = ('<script src="https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js" '
            'integrity="sha384-x" crossorigin="anonymous"></script>'
            '<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>'
            '<a href="https://greatexpectations.io">GX</a><script src="https://example.com/other.js"></script>')
    local = localise_html(page, "../_assets")
    assert local.startswith('<script src="../_assets/popper.js-1.12.9/popper.min.js"></script>')
    assert '<link rel="stylesheet" href="../_assets/bootstrap-4.3.1/bootstrap.min.css"/>' in local
    assert '<a href="https://greatexpectations.io">' in local  # a link to follow, not a resource to load
    assert external_urls(local) == ["https://example.com/other.js"]  # unknown: left, and reported


def test_localise_uses_the_sites_own_logo_and_fixes_the_favicon_path() -> None:
    bucket = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com"
    page = (f'<style>.navbar-brand a {{ background: url(\'{bucket}/full_logo_dark.png\') 0 0; }}</style>'
            '<link rel="shortcut icon" href="../../../static/images/favicon.ico" type="image/x-icon"/>'
            f'<img class="NO-CACHE" src="{bucket}/logo-long.png?d=20261206T002527Z" alt="Great Expectations"/>')
    assert external_urls(page) == [f"{bucket}/logo-long.png?d=20261206T002527Z", f"{bucket}/full_logo_dark.png"]
    local = localise_html(page, "../../../../../_assets", "../../../../static")
    assert external_urls(local) == []
    assert "url('../../../../static/images/logo-long.png')" in local  # no dark logo in the site: the long one
    assert 'href="../../../../static/images/favicon.ico"' in local
    assert 'src="../../../../static/images/logo-long.png"' in local


def test_built_pages_load_only_local_files(tmp_path: Path) -> None:
    docs = tmp_path / "gx_docs"
    frame = canonical("billing_payments", [payment("py_1"), payment("py_2", amount=-1.0)])
    validate_table(frame, context(policy=QualityPolicy(data_docs=True), data_docs_dir=docs))
    pages = sorted((docs / "billing_payments").rglob("*.html"))
    assert len(pages) == 2  # the site's index and the validation page
    for page in pages:
        text = page.read_text()
        assert external_urls(text) == [], page
        local = [m.group(1) for tag in _TAG.findall(text) if (m := _ATTR.search(tag))]
        assert any(ASSETS_DIR_NAME in url for url in local)
        for url in local:
            assert (page.parent / url).resolve().is_file(), f"{page.name}: {url}"
    assert (docs / ASSETS_DIR_NAME / "NOTICE.md").is_file()


def test_pages_built_before_the_offline_rewrite_are_rendered_again(tmp_path: Path) -> None:
    docs = tmp_path / "gx_docs"
    frame = canonical("billing_payments", [payment("py_1")])
    validate_table(frame, context(policy=QualityPolicy(data_docs=True), data_docs_dir=docs))
    site = docs / "billing_payments"
    # A site as an older version left it: CDN links, its fingerprint without the offline version.
    index = site / "index.html"
    index.write_text(index.read_text().replace("../_assets/jquery-3.7.1/jquery.min.js", "https://code.jquery.com/jquery-3.7.1.min.js"))
    marker = site / ".fingerprint"
    marker.write_text(marker.read_text().split("|")[0])
    assert external_urls(index.read_text()) == ["https://code.jquery.com/jquery-3.7.1.min.js"]
    validate_table(frame, context(policy=QualityPolicy(data_docs=True), data_docs_dir=docs))
    assert external_urls(index.read_text()) == []
    assert marker.read_text().endswith("|offline-1")
