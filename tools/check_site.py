"""Read the built site in a real browser: tools/check_site.py.

Serves build/site (tools/build_site.py) on 127.0.0.1 and opens every page in headless
Chromium, Debian's /usr/bin/chromium driven by Playwright (no browser download), and checks
what a reader would see:

- each page loads with no console error, no uncaught exception and no failed request;
- every image decodes (naturalWidth > 0), and every formula is drawn (a MathML box);
- the home page's sidebar links to every page, and following "next" from the home page
  goes through every page of the site in the order of the navigation (site/toc.md), and
  "previous" comes back;
- notebook 1's page shows the book's 30 log lines, and notebook 2's the exercise
  checker's line for each blank exercise and its count;
- the code is highlighted.

It saves screenshots of the home page, notebook 1 and the walkthrough (whole pages) to
build/site-screenshots, or the folder given with --screenshots, and prints their paths.
Exits 1 naming every problem, 0 when there is none.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin, urlsplit

from scripts.cli import Parser, about

REPO = Path(__file__).resolve().parent.parent
SITE = REPO / "build" / "site"
SCREENSHOTS = REPO / "build" / "site-screenshots"
BOOK_LOG = REPO / "parity_tests" / "reference" / "book_ch9_seed1.log"
SPHINX_PAGES = {"genindex.html", "search.html"}
"""Pages Sphinx adds: loaded and checked, but not in the reading order."""


def html_of(source: str) -> str:
    """The page the site makes of a file of the repository; the README is the home page."""
    return "index.html" if source == "README.md" else str(PurePosixPath(source).with_suffix(
        ".html"))


def reading_order() -> list[str]:
    """The pages in the order of the navigation: the home page, then site/toc.md's entries."""
    entries = re.findall(r"<([^>]+)>$", (REPO / "site" / "toc.md").read_text(encoding="utf-8"),
                         re.M)
    return [html_of("README.md"), *map(html_of, entries)]


NOTEBOOK_1 = html_of("notebooks/1_the_listing.ipynb")
NOTEBOOK_2 = html_of("notebooks/2_backprop_by_hand.ipynb")  # the backprop track's exercises
NOTEBOOKS = {html_of(f"notebooks/{p.name}") for p in (REPO / "notebooks").glob("*.ipynb")}
SHOTS = {"home": html_of("README.md"), "notebook-1": NOTEBOOK_1,
         "walkthrough": html_of("docs/walkthrough.md")}
"""The pages photographed, by the name of their screenshot."""


def chromium() -> str:
    """The system's Chromium: $CHROMIUM, else Debian's /usr/bin/chromium, else on PATH."""
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium",
                      shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise SystemExit("tools/check_site.py: error: no Chromium (apt-get install chromium)")


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """An HTTP server of `folder` on a free port of 127.0.0.1, in a thread; its base URL."""
    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def checker_lines() -> list[str]:
    """What notebook 2's last cell prints for the blank exercises: the checker's own lines."""
    sys.path.insert(0, str(REPO))
    from exercises import TRACKS, backprop, check

    results = [check(getattr(backprop, name)) for name in TRACKS["backprop"]]
    return [*map(str, results), f"{sum(r.passed for r in results)} of {len(results)} passed"]


IMAGES = """async () => {
    const images = Array.from(document.images);
    await Promise.all(images.map(i => { i.loading = "eager"; return i.decode().catch(() => 0); }));
    return images.map(i => [i.getAttribute("src"), i.naturalWidth]);
}"""
FORMULAS = """() => Array.from(document.querySelectorAll("math")).map(
    m => [m.textContent, m.getBoundingClientRect().width, m.getBoundingClientRect().height])"""
HIGHLIGHTED = """() => Array.from(document.querySelectorAll(
    "div[class^='highlight-python'] pre span, div[class^='highlight-ipython'] pre span"
)).filter(s => s.className && s.className !== "w").length"""
"""Python's tokens that Pygments marked (names, operators, comments...), white space aside."""


def site_path(url: str) -> str:
    """The page a URL of the served site names (index.html for the site's root)."""
    return urlsplit(url).path.lstrip("/") or "index.html"


def content(name: str, page: object, book_log: list[str], exercises: list[str]) -> list[str]:
    """What is missing from the page `name`, open in `page`: the highlighting of its Python,
    the sidebar's links (the home page), the book's log (notebook 1), the checker's lines
    (notebook 2)."""
    problems = []
    outputs = "\n".join(page.locator("div.cell_output").all_inner_texts())
    if (name == SHOTS["home"] or name in NOTEBOOKS) and not page.evaluate(HIGHLIGHTED):
        problems.append("its Python is not highlighted")
    if name == SHOTS["home"]:
        sidebar = {site_path(urljoin(page.url, a.get_attribute("href") or ""))
                   for a in page.query_selector_all(".sidebar-tree a")}
        if missing := sorted(set(reading_order()[1:]) - sidebar):
            problems.append(f"the sidebar misses {missing}")
    if name == NOTEBOOK_1 and (len(book_log) != 30 or "\n".join(book_log) not in outputs):
        problems.append("the book's 30 log lines are not shown")
    if name == NOTEBOOK_2 and (missing := [line for line in exercises if line not in outputs]):
        problems.append(f"the checker's lines missing: {missing}")
    return problems


class Check:
    """Every page of the site in one browser; `problems` gathers what is wrong."""

    def __init__(self, browser: object, base: str) -> None:
        self.browser, self.base = browser, base
        self.problems: list[str] = []
        self.images = self.formulas = 0

    def page(self, name: str, screenshot: Path | None = None) -> object:
        """Open page `name` (a path under the site) and check it; the open page, which the
        caller closes."""
        page = self.browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"uncaught exception: {e}"))
        page.on("requestfailed", lambda r: errors.append(f"failed request: {r.url} "
                                                         f"({r.failure})"))
        page.on("response", lambda r: errors.append(f"HTTP {r.status}: {r.url}")
                if r.status >= 400 else None)
        page.goto(urljoin(self.base, name), wait_until="load")
        page.wait_for_load_state("networkidle")
        for src, width in page.evaluate(IMAGES):
            self.images += 1
            if not width:
                errors.append(f"image does not decode: {src}")
        for text, width, height in page.evaluate(FORMULAS):
            self.formulas += 1
            if not (width > 0 and height > 0):
                errors.append(f"formula not drawn: {text}")
        if screenshot:
            page.screenshot(path=str(screenshot), full_page=True)
        self.problems += [f"{name}: {e}" for e in errors]
        return page

    def walk(self, start: str, rel: str) -> list[str]:
        """The pages met following the links `rel` ("next" or "prev") from `start`."""
        order = [start]
        while True:
            page = self.browser.new_page()
            page.goto(urljoin(self.base, order[-1]), wait_until="load")
            link = page.query_selector(f"a.{rel}-page")
            target = link and urljoin(page.url, link.get_attribute("href") or "")
            page.close()
            if not target:
                return order
            name = site_path(target)
            if name in order:
                self.problems.append(f"{order[-1]}: {rel} leads back to {name}")
                return order
            order.append(name)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="tools/check_site.py", description=about(__doc__))
    parser.add_argument("--site", type=Path, default=SITE,
                        help="the built site (default: build/site)")
    parser.add_argument("--screenshots", type=Path, default=SCREENSHOTS,
                        help="folder for the screenshots (default: build/site-screenshots)")
    args = parser.parse_args(argv)
    site = args.site.resolve()
    if not (site / "index.html").is_file():
        print(f"tools/check_site.py: error: no site in {site}: run tools/build_site.py",
              file=sys.stderr)
        return 2
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    start = time.perf_counter()
    pages = sorted(str(p.relative_to(site)) for p in site.rglob("*.html")
                   if not p.relative_to(site).parts[0].startswith("_"))
    args.screenshots.mkdir(parents=True, exist_ok=True)
    shots = {page: args.screenshots.resolve() / f"{name}.png" for name, page in SHOTS.items()}
    book_log = BOOK_LOG.read_text(encoding="utf-8").splitlines()
    exercises = checker_lines()
    server, base = serve(site)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium(), headless=True)
            check = Check(browser, base)
            for name in pages:
                page = check.page(name, shots.get(name))
                check.problems += [f"{name}: {p}" for p in content(name, page, book_log,
                                                                    exercises)]
                page.close()
                print(f"{name}: loaded", file=sys.stderr)
            reading = reading_order()
            if sorted(reading) != sorted(set(pages) - SPHINX_PAGES):
                check.problems.append(f"pages outside the navigation: "
                                      f"{sorted(set(pages) - SPHINX_PAGES - set(reading))}")
            forward = check.walk(reading[0], "next")
            if forward != reading:
                check.problems.append(f"next from the home page goes through {forward}, "
                                      f"not the navigation's order {reading}")
            backward = check.walk(forward[-1], "prev")
            if backward != forward[::-1]:
                check.problems.append(f"previous does not retrace next: {backward}")
            browser.close()
    finally:
        server.shutdown()
    seconds = time.perf_counter() - start
    for problem in check.problems:
        print(f"tools/check_site.py: {problem}")
    for path in shots.values():
        print(f"screenshot: {path}")
    print(f"{len(pages)} pages, {check.images} images, {check.formulas} formulas; next goes "
          f"through {len(forward)} pages: {len(check.problems)} problems, in {seconds:.0f} s")
    return 1 if check.problems else 0


if __name__ == "__main__":
    sys.exit(main())
