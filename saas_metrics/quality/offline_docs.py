"""GX Data Docs that work offline: CDN tags rewritten to copies shipped in the package.

Great Expectations 1.x renders every Data Docs page with ``<link>``/``<script>``
tags pointing at public CDNs (Bootstrap, jQuery, Popper, Font Awesome,
bootstrap-table, bootstrap-datepicker, Vega) and ships none of those files
itself. Offline, or from a page served on a local port, they fail: the pages
render unstyled and half-empty (bootstrap-table builds the tables).

:data:`CDN_ASSETS` maps each URL the GX templates use to a file in
``saas_metrics/quality/data_docs_static/`` (the packages' own distribution files,
licences in its NOTICE.md). :func:`localise_site` copies those files once into
``<docs_dir>/_assets/`` and rewrites every page under a table's site to load
them by relative path, so the pages work over HTTP and from ``file://`` alike. GX's
logo, loaded from its web bucket, is replaced by the copy in each site's
``static/images`` folder, and the favicon path GX gets wrong on validation pages
(one ``../`` short) is corrected.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
from pathlib import Path

from saas_metrics.atomic import write_text_atomically

#: Part of each table page's fingerprint: raise it when the rewrite changes, so pages built
#: before are rendered again.
OFFLINE_VERSION = 1
STATIC_DIR = Path(__file__).with_name("data_docs_static")
#: Where the assets go, inside the Data Docs root (shared by every table's site).
ASSETS_DIR_NAME = "_assets"

#: URL in GX 1.x's page templates -> file under :data:`STATIC_DIR`.
CDN_ASSETS: dict[str, str] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap-4.3.1/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap-4.3.1/bootstrap.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "bootstrap-dark-1.1.0/bootstrap-prefers-dark.min.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js-1.12.9/popper.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome-free-6.6.0/css/all.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table-1.19.1/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table-1.19.1/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table-1.19.1/extensions/filter-control/bootstrap-table-filter-control.min.js",
    # The templates name 1.19.0 for the filter-control CSS (twice, plain and minified); 1.19.1's is served.
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table-1.19.1/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table-1.19.1/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.js",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega-5.33.1/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite-5.23.0/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed-6.29.0/vega-embed.min.js",
}

# src="..." / href="..." of a tag; integrity and crossorigin only make sense for the CDN copies
# (a file:// page cannot make the CORS request that an integrity check needs).
_URL_ATTR = re.compile(r'(?P<attr>src|href)="(?P<url>https?://[^"]+)"')
_CDN_ONLY_ATTRS = re.compile(r'\s+(?:integrity="[^"]*"|crossorigin="[^"]*")')
_TAG = re.compile(r"<(?:script|link|img)\b[^>]*>", re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(['"]?(?P<url>https?://[^'")]+)['"]?\)""")
# GX's logo comes from its S3 bucket (a navbar <img> and a dark-mode CSS background); the site's
# own static/images folder has the same logo.
_GX_WEB_ASSETS = re.compile(r"https://great-expectations-web-assets\.s3\.[\w.-]+\.amazonaws\.com/(?P<name>[\w.-]+)(?:\?[^\"')\s]*)?")
GX_LOGO = "logo-long.png"
# References to the site's static folder: GX counts one '../' too few on validation pages (favicon).
_SITE_STATIC = re.compile(r'(?P<attr>src|href)="(?:\./|(?:\.\./)+)static/(?P<path>[^"]+)"')


def install_assets(docs_dir: Path | str) -> Path:
    """Copy the shipped assets to ``<docs_dir>/_assets`` (files that are already there and
    identical are left alone) and return that folder."""
    target = Path(docs_dir) / ASSETS_DIR_NAME
    for source in STATIC_DIR.rglob("*"):
        if source.is_dir() or source.name == "NOTICE.md":
            continue
        dest = target / source.relative_to(STATIC_DIR)
        if dest.is_file() and filecmp.cmp(source, dest, shallow=False):
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        shutil.copyfile(source, partial)
        partial.replace(dest)  # concurrent steps never see a half-copied file
    shutil.copyfile(STATIC_DIR / "NOTICE.md", target / "NOTICE.md")
    return target


def localise_html(page: str, assets_url: str, static_url: str = "static",
                  static_images: frozenset[str] = frozenset({GX_LOGO})) -> str:
    """``page`` with every known CDN URL of its ``<script>``/``<link>`` tags replaced by
    ``assets_url/<file>`` (integrity/crossorigin attributes of those tags dropped), GX's
    web-hosted logo replaced by the site's own (``static_url/images/``, one of
    ``static_images`` or the long logo) and references to the site's static folder
    pointed at ``static_url``. URLs are relative to the page."""

    def tag(match: re.Match[str]) -> str:
        text = match.group(0)
        found = _URL_ATTR.search(text)
        if found is None or found["url"] not in CDN_ASSETS:
            return text
        local = f"{assets_url}/{CDN_ASSETS[found['url']]}"
        text = text[: found.start()] + f'{found["attr"]}="{local}"' + text[found.end():]
        return _CDN_ONLY_ATTRS.sub("", text)

    def logo(match: re.Match[str]) -> str:
        name = match["name"] if match["name"] in static_images else GX_LOGO
        return f"{static_url}/images/{name}"

    page = _TAG.sub(tag, page)
    page = _SITE_STATIC.sub(lambda m: f'{m["attr"]}="{static_url}/{m["path"]}"', page)
    return _GX_WEB_ASSETS.sub(logo, page)


def external_urls(page: str) -> list[str]:
    """http(s) URLs a page loads (``<script>``, ``<link>``, ``<img>``, CSS ``url()``): what fails offline."""
    tags = [found["url"] for text in _TAG.findall(page) if (found := _URL_ATTR.search(text))]
    return tags + [m["url"] for m in _CSS_URL.finditer(page)]


def localise_site(site_dir: Path | str, docs_dir: Path | str) -> list[Path]:
    """Install the assets under ``docs_dir`` and rewrite every HTML page under ``site_dir``
    (a table's site inside ``docs_dir``) to use them. Returns the pages rewritten."""
    assets = install_assets(docs_dir)
    site_static = Path(site_dir) / "static"
    images = frozenset(p.name for p in (site_static / "images").glob("*")) or frozenset({GX_LOGO})
    rewritten = []
    for page in Path(site_dir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        local = localise_html(text, Path(os.path.relpath(assets, page.parent)).as_posix(),
                              Path(os.path.relpath(site_static, page.parent)).as_posix(), images)
        if local != text:
            write_text_atomically(page, local)
            rewritten.append(page)
    return rewritten
