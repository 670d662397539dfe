#!/usr/bin/env python3
"""The web console in a real browser (Chromium from Debian, driven by Playwright for Python).

A Helpdesk person logs in, finds a review order in the queue by its reference, opens it,
downloads the original mail, approves the order with a note and sees it approved; an order
whose subject is a <script> shows that subject as text and runs nothing; axe-core checks every
page for serious or critical accessibility violations (WCAG 2.1 AA); screenshots of the queue
and of an order page are written for the README.

Run by tests/browser.rs, which starts the mail stack and `spdesk run` and sends the mails.
Environment:
  SPDESK_URL            the console, e.g. http://127.0.0.1:8480 (no trailing slash)
  SPDESK_USER           an operator's login name
  SPDESK_PASSWORD       their password
  SPDESK_REVIEW_REF     the reference of an order in state review
  SPDESK_REVIEW_SUBJECT the subject of the mail that made it
  SPDESK_XSS_REF        the reference of an order whose mail's subject is SPDESK_XSS_SUBJECT
  SPDESK_XSS_SUBJECT    e.g. "<script>alert(1)</script> XSS"
  SPDESK_NOTE           the note the person writes when approving
  SPDESK_OUT            where screenshots go (created), e.g. target/browser
Exit 0 when every check holds; 1 with the reasons otherwise; 2 when something to run it with
is missing (the message names the command that installs it).
"""

import email
import email.policy
import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
]
# Playwright's own timeout per step; a console page answers in well under a second.
STEP_MS = 20_000

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:
    print(
        "console.py: Python's playwright is missing; install it with: "
        "python3 -m pip install playwright==1.65.2 "
        "(Chromium comes from Debian: apt-get install -y chromium; no playwright install)",
        file=sys.stderr,
    )
    sys.exit(2)


class Failed(Exception):
    """A check that did not hold; the message says what the page showed instead."""


def env(name):
    value = os.environ.get(name)
    if not value:
        print(f"console.py: environment variable {name} is not set (see the file's doc)", file=sys.stderr)
        sys.exit(2)
    return value


def check(cond, message):
    if not cond:
        raise Failed(message)


def step(text):
    print(f"-- {text}", flush=True)


class Run:
    """One browser session against the console, and what the accessibility check found."""

    def __init__(self, page, base, out):
        self.page = page
        self.base = base
        self.out = out
        self.axe_source = AXE.read_text(encoding="utf-8")
        self.violations = []  # (page name, url, violation dict)
        self.dialogs = []
        page.on("dialog", self.on_dialog)

    def on_dialog(self, dialog):
        self.dialogs.append(f"{dialog.type}: {dialog.message} (on {self.page.url})")
        dialog.dismiss()

    def goto(self, path, status=200):
        response = self.page.goto(self.base + path)
        check(response is not None, f"GET {path}: no response")
        check(
            response.status == status,
            f"GET {path}: status {response.status}, wanted {status}; page:\n{self.text()[:2000]}",
        )
        return response

    def text(self):
        return self.page.locator("body").inner_text()

    def axe(self, name):
        """axe-core on the page as it is now. The CSP forbids inline script, so axe is not added
        as a <script> tag: evaluate() runs it through the DevTools protocol, which CSP does not
        govern."""
        self.page.evaluate(self.axe_source)
        result = self.page.evaluate(
            """async () => {
                const r = await axe.run(document);
                return r.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                    nodes: v.nodes.slice(0, 5).map(n => ({ target: n.target.join(' '), summary: n.failureSummary }))
                }));
            }"""
        )
        bad = [v for v in result if v["impact"] in ("serious", "critical")]
        minor = [v for v in result if v["impact"] not in ("serious", "critical")]
        for v in bad:
            self.violations.append((name, self.page.url, v))
        note = f" ({len(minor)} minor/moderate: {', '.join(v['id'] for v in minor)})" if minor else ""
        print(f"   axe {name}: {len(bad)} serious/critical{note}", flush=True)

    def shot(self, name):
        path = self.out / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        print(f"   screenshot {path}", flush=True)

    def report_violations(self):
        lines = []
        for name, url, v in self.violations:
            lines.append(f"[{name}] {url}: {v['impact']} {v['id']}: {v['help']} ({v['helpUrl']})")
            for n in v["nodes"]:
                lines.append(f"    at {n['target']}: {n['summary']}")
        return "\n".join(lines)


def log_in(run, user, password):
    step("the login page, then logging in")
    run.goto("/login")
    run.axe("login")
    page = run.page
    page.get_by_label("Brugernavn").fill(user)
    page.get_by_label("Adgangskode").fill(password)
    page.get_by_role("button", name="Log ind").click()
    page.wait_for_load_state()
    check("/login" not in page.url, f"still on the login page after logging in: {run.text()[:1000]}")
    nav = page.get_by_role("navigation")
    for label in ["Kø", "Kalender", "Post", "Fakturering"]:
        expect(nav.get_by_role("link", name=label, exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Log ud")).to_be_visible()


def find_in_queue(run, reference):
    step(f"the queue, searching for {reference}")
    run.goto("/")
    run.axe("queue")
    run.shot("queue")
    page = run.page
    search = page.locator("input[name='q']")
    check(search.count() == 1, "the queue has no search field named q")
    search.fill(reference)
    search.press("Enter")
    page.wait_for_load_state()
    check("q=" in page.url, f"the search did not submit q: {page.url}")
    link = page.get_by_role("link", name=reference, exact=True)
    expect(link).to_have_count(1)
    link.click()
    page.wait_for_load_state()
    check(
        page.url.endswith(f"/orders/{reference}"),
        f"the reference's link leads to {page.url}, not /orders/{reference}",
    )


def download_original(run, reference, subject):
    step("downloading the original mail")
    page = run.page
    expect(page.get_by_role("heading", level=1)).to_contain_text(reference)
    link = page.get_by_role("link", name="Hent original (.eml)")
    expect(link.first).to_be_visible()
    href = link.first.get_attribute("href") or ""
    check(
        href.endswith(f"/orders/{reference}/mails/1.eml"),
        f"'Hent original (.eml)' points at {href!r}, not /orders/{reference}/mails/1.eml",
    )
    with page.expect_download() as info:
        link.first.click()
    path = info.value.path()
    raw = Path(path).read_bytes()
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    check(
        mail["Subject"] == subject,
        f"the downloaded mail's Subject is {mail['Subject']!r}, not {subject!r} "
        f"(suggested name {info.value.suggested_filename!r}, {len(raw)} bytes)",
    )
    print(f"   {info.value.suggested_filename}: {len(raw)} bytes, Subject {mail['Subject']!r}")


def approve(run, reference, note):
    step("approving with a note")
    page = run.page
    button = page.get_by_role("button", name="Godkend", exact=True)
    expect(button).to_have_count(1)
    form = page.locator("form").filter(has=button)
    field = form.get_by_label(re.compile(r"^\s*(Note|Begrundelse)"))
    expect(field).to_have_count(1)
    field.fill(note)
    button.click()
    page.wait_for_load_state()
    run.goto(f"/orders/{reference}")
    body = run.text()
    check(
        re.search(r"\bgodkendt\b", body, re.IGNORECASE) is not None,
        f"after Godkend the order page does not show the state godkendt:\n{body[:3000]}",
    )
    check(note in body, f"the note {note!r} is not on the order page after approving")
    run.axe("order")
    run.shot("order")


def xss_shows_as_text(run, reference, subject):
    step(f"the order {reference} whose subject is {subject!r}")
    run.goto(f"/orders/{reference}")
    page = run.page
    expect(page.get_by_text(subject).first).to_be_visible()
    scripts = page.evaluate(
        "() => Array.from(document.querySelectorAll('script')).map(s => s.textContent + ' ' + s.src)"
    )
    check(
        not any("alert(1)" in s for s in scripts),
        f"the page holds a <script> element from the subject: {scripts}",
    )
    run.axe("order (subject with <script>)")


def other_pages(run):
    for path, name in [("/kalender", "kalender"), ("/post", "post"), ("/fakturering", "fakturering")]:
        step(f"{path}")
        run.goto(path)
        check(run.page.locator("h1").count() == 1, f"{path} has not exactly one <h1>")
        run.axe(name)
    step("an order that does not exist (404)")
    run.goto("/orders/SP-1999-99999", status=404)
    run.axe("404")


def main():
    base = env("SPDESK_URL").rstrip("/")
    user = env("SPDESK_USER")
    password = env("SPDESK_PASSWORD")
    review_ref = env("SPDESK_REVIEW_REF")
    review_subject = env("SPDESK_REVIEW_SUBJECT")
    xss_ref = env("SPDESK_XSS_REF")
    xss_subject = env("SPDESK_XSS_SUBJECT")
    note = env("SPDESK_NOTE")
    out = Path(env("SPDESK_OUT"))
    out.mkdir(parents=True, exist_ok=True)
    if not AXE.is_file():
        print(f"console.py: {AXE} is missing; install it with: npm ci --prefix tests/browser", file=sys.stderr)
        return 2
    if not os.access(CHROMIUM, os.X_OK):
        print(f"console.py: {CHROMIUM} is missing; install it with: apt-get install -y chromium", file=sys.stderr)
        return 2

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="da-DK", accept_downloads=True)
        context.set_default_timeout(STEP_MS)
        page = context.new_page()
        run = Run(page, base, out)
        try:
            log_in(run, user, password)
            find_in_queue(run, review_ref)
            download_original(run, review_ref, review_subject)
            approve(run, review_ref, note)
            xss_shows_as_text(run, xss_ref, xss_subject)
            other_pages(run)
        except Exception as e:  # a Playwright timeout names the locator it waited for
            shot = out / "failure.png"
            try:
                page.screenshot(path=str(shot), full_page=True)
            except Exception:
                shot = None
            print(f"FAILED at {page.url}: {e}", file=sys.stderr)
            if shot:
                print(f"(the page as it was: {shot})", file=sys.stderr)
            browser.close()
            return 1
        browser.close()

    failed = False
    if run.dialogs:
        print("a dialog fired (script ran from page content):\n  " + "\n  ".join(run.dialogs), file=sys.stderr)
        failed = True
    if run.violations:
        print("axe-core: serious or critical violations:\n" + run.report_violations(), file=sys.stderr)
        failed = True
    if failed:
        return 1
    print("all browser checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
