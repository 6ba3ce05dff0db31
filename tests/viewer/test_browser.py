"""`synthkit view` driven in a real headless Chromium (Debian's package, through Playwright).

The server is the real CLI in a subprocess over a real pipeline run (conftest).
Each test clicks through the pages a user would, asserts on what the page shows,
and saves a screenshot of each view under the ``artifacts`` folder
($SYNTHKIT_TEST_ARTIFACTS/viewer when set). Skipped only when /usr/bin/chromium
is absent (CI installs it with apt-get).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)")]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, timeout=60_000)
        yield b
        b.close()


@pytest.fixture
def page(browser, viewer_url):
    """A page that records dialogs; a request outside the viewer, or anything of the viewer's own
    that its Content-Security-Policy blocks (an inline script or style), fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    pg.dialogs, pg.offsite, pg.blocked = [], [], []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.on("console", lambda m: pg.blocked.append(m.text) if "Content Security Policy" in m.text else None)
    pg.on("request", lambda r: None if r.url.startswith(viewer_url) or r.url.startswith("data:")
          else pg.offsite.append(r.url))
    yield pg
    assert not pg.offsite, f"the page reached outside the viewer: {pg.offsite}"
    assert not pg.blocked, f"the policy blocked something of the viewer's own: {pg.blocked}"
    context.close()


def shot(pg, artifacts: Path, name: str, full: bool = True) -> None:
    """A screenshot of the page (``full``: all of it, else the 1280x900 viewport)."""
    pg.screenshot(path=str(artifacts / f"{name}.png"), full_page=full)


def column(pg, header: str) -> list[str]:
    """The text of one column of the rows table, found by its header."""
    heads = [h.strip(" ▲▼") for h in pg.locator("table.rows thead th").all_inner_texts()]
    i = heads.index(header) + 1
    return pg.locator(f"table.rows tbody tr td:nth-child({i})").all_inner_texts()


def test_funnel_and_a_drop_reason(page, viewer_url, artifacts):
    page.goto(viewer_url + "/")
    funnel = page.locator("table.funnel")
    for stage in ("load_seeds", "synthesize", "verify_tests", "judge", "dedup_minhash", "decontaminate", "save"):
        assert funnel.get_by_text(stage, exact=True).count() == 1
    dedup_row = funnel.locator("tr", has_text="dedup_minhash")
    assert "exact_duplicate" in dedup_row.inner_text() and "27" in dedup_row.inner_text()
    assert page.locator("table.report").get_by_text("scoder").count() == 1
    assert page.locator("img.plot").count() >= 1          # the card's plots, served by the viewer
    shot(page, artifacts, "funnel")

    dedup_row.get_by_role("link", name="exact_duplicate").click()
    page.wait_for_url(re.compile(r"/rows\?"))
    assert parse_qs(urlparse(page.url).query) == {"stage": ["04_dedup_minhash"], "reason": ["exact_duplicate"]}
    assert "rows 1–27 of 27" in page.locator("p.count").inner_text()
    assert set(column(page, "dropped by")) and all(c.startswith("dedup_minhash:exact_duplicate")
                                                   for c in column(page, "dropped by"))
    shot(page, artifacts, "rows_drop_reason", full=False)


def test_verify_drop_shows_the_sandbox_result(page, viewer_url, artifacts):
    page.goto(viewer_url + "/rows?stage=02_verify_tests&reason=failed")
    assert "of 12" in page.locator("p.count").inner_text()
    page.locator("table.rows tbody tr").first.locator("td").first.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/row/"))
    assert "dropped by verify_tests:failed" in page.locator("p.status").inner_text()
    sandbox = page.locator("div.sandbox").inner_text()
    assert "failed" in sandbox and "tests_total" in sandbox and "AssertionError" in sandbox
    shot(page, artifacts, "row_failed_in_sandbox", full=False)


def test_filter_by_score_then_sort(page, viewer_url, artifacts):
    page.goto(viewer_url + "/rows?stage=03_judge")
    everything = int(re.search(r"of (\d+)", page.locator("p.count").inner_text()).group(1))
    page.select_option("#f-score", "judge")
    page.fill("#f-min", "7")
    page.click("form.filters button")
    page.wait_for_url(re.compile(r"min=7"))
    scores = [float(s) for s in column(page, "judge")]
    assert scores and all(s >= 7 for s in scores) and len(scores) < everything
    page.get_by_role("link", name=re.compile(r"^judge")).first.click()      # sort by the judge score
    page.wait_for_url(re.compile(r"sort=judge"))
    ranked = [float(s) for s in column(page, "judge")]
    assert ranked == sorted(ranked, reverse=True) and min(ranked) >= 7
    shot(page, artifacts, "rows_filtered_by_score")
    page.get_by_role("link", name=re.compile(r"^judge")).first.click()      # again: worst first
    page.wait_for_url(re.compile(r"order=asc"))
    assert [float(s) for s in column(page, "judge")] == sorted(ranked)


def test_search_then_open_a_row(page, viewer_url, artifacts):
    page.goto(viewer_url + "/rows?stage=03_judge")
    page.fill("#f-q", "SQUARE(x)")
    page.click("form.filters button")
    page.wait_for_url(re.compile(r"q=SQUARE"))
    found = column(page, "instruction")
    assert found and all("square(x)" in t.lower() for t in found)
    page.locator("table.rows tbody tr").first.locator("td").first.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/row/"))
    main = page.locator("main").inner_text()
    for heading in ("Instruction", "Response", "Code", "Tests", "Scores", "Sandbox", "Provenance", "Seed"):
        assert page.get_by_role("heading", name=heading, exact=True).count() == 1, heading
    assert "def square(x)" in main and "assert square(3) == 9" in main
    assert "kept by 03_judge" in main and ("ckA" in main or "ckB" in main)    # checkpoint in the provenance
    # the bundled Prism highlighted the code: its token spans exist, and the text is unchanged
    page.wait_for_selector("pre code.language-python span.token.keyword")
    assert page.locator("pre code.language-python").first.inner_text().startswith("def square(x):")
    shot(page, artifacts, "row", full=False)


def test_duplicate_cluster_beside_the_kept_row(page, viewer_url, artifacts):
    page.goto(viewer_url + "/rows?stage=04_dedup_minhash&reason=exact_duplicate")
    page.locator("table.rows a.cluster").first.click()
    page.wait_for_url(re.compile(r"/cluster\?"))
    kept = page.locator("div.kept-side").inner_text()
    dups = page.locator("div.dup-side .card")
    assert dups.count() >= 1
    first_line = kept.split("kept row", 1)[1].strip().splitlines()[0]
    for i in range(dups.count()):
        assert first_line in dups.nth(i).inner_text()     # each duplicate shows the same exercise
        assert "dedup_minhash:exact_duplicate" in dups.nth(i).inner_text()
    shot(page, artifacts, "duplicate_cluster", full=False)


def test_contamination_hit_beside_the_benchmark_item(page, viewer_url, artifacts):
    page.goto(viewer_url + "/")
    page.locator("table.funnel tr", has_text="decontaminate").get_by_role("link", name="contaminated").click()
    page.locator("table.rows a.match").first.click()
    page.wait_for_url(re.compile(r"/match/"))
    assert page.get_by_role("heading", name="humaneval HumanEval/0").count() == 1
    marks = page.locator("mark").all_inner_texts()
    assert any("closer to each other than given threshold" in m.lower() for m in marks)
    shot(page, artifacts, "contamination_match")
    assert any("for idx, elem in enumerate(numbers)" in m for m in marks)     # the solution, marked on both sides
    assert sum("enumerate(numbers)" in m for m in marks) >= 2


def test_planted_markup_and_script_never_run(page, viewer_url, artifacts):
    """Model text with <img onerror>, <script> and javascript: links is shown as text; nothing runs."""
    page.goto(viewer_url + "/rows?q=onerror")
    assert page.locator("table.rows tbody tr").count() >= 1
    assert "onerror" in page.locator("table.rows").inner_text()
    page.locator("table.rows tbody tr").first.locator("td").first.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/row/"))
    text = page.locator("main").inner_text()
    assert "<script>window.__xss='script'</script>" in text and "<img src=x onerror=" in text
    assert "</code></pre><script>window.__xss='code'</script>" in text
    assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0
    assert page.locator("a[href^='javascript:']").count() == 0
    shot(page, artifacts, "escaped_row", full=False)
    page.get_by_text("click me").first.click()                 # it is text, not a link
    for path in ("/rows?stage=03_judge&q=triple", "/rows?q=javascript", "/card"):
        page.goto(viewer_url + path)
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.dialogs == []


def test_every_page_carries_the_content_security_policy(viewer_url):
    import httpx

    for path in ("/", "/rows", "/rows?stage=nope", "/row/nope", "/static/viewer.css"):
        r = httpx.get(viewer_url + path, timeout=10)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp, path
    assert httpx.get(viewer_url + "/rows?stage=nope", timeout=10).status_code == 400
    assert httpx.get(viewer_url + "/row/nope", timeout=10).status_code == 404
    assert httpx.post(viewer_url + "/rows", timeout=10).status_code == 405      # read-only
