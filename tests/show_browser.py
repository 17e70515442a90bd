"""Drives `affinity-sync show` in a real browser (Debian's chromium through chromium-driver,
by Selenium's WebDriver) as a person would: reads each view, runs SQL in the Data view's box,
and takes a screenshot of every view.

usage: show_browser.py URL EXPECTED.json SCREENSHOT_DIR
EXPECTED.json: {"streams": {stream: records of the latest complete sync}, "syncs": n,
  "fell": [streams], "persons": rows, "stopped_sync": id}
Prints what it checked; exits 1 at the first check that fails."""

import json
import os
import sys
import urllib.parse

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

url, expected_path, shots = sys.argv[1:4]
expected = json.load(open(expected_path))
os.makedirs(shots, exist_ok=True)

options = webdriver.ChromeOptions()
options.binary_location = os.environ.get("AFFINITY_SYNC_CHROMIUM", "/usr/bin/chromium")
for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
          "--disable-gpu", "--hide-scrollbars"]:
    options.add_argument(a)
driver = webdriver.Chrome(
    service=Service(os.environ.get("AFFINITY_SYNC_CHROMEDRIVER", "/usr/bin/chromedriver")),
    options=options)
driver.set_page_load_timeout(60)


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what + (f": {detail}" if detail and not ok else ""))
    if not ok:
        driver.quit()
        sys.exit(1)


def go(path):
    driver.get(urllib.parse.urljoin(url, path))


def shot(name):
    """The whole page, as tall as it is (at most 3,000 pixels)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(height, 900), 3000))
    driver.save_screenshot(os.path.join(shots, f"{name}.png"))
    driver.set_window_size(1280, 900)


def table(id):
    """The rows of table `id` as lists of cell texts."""
    return [[td.text for td in tr.find_elements(By.XPATH, "./td")]
            for tr in driver.find_elements(By.CSS_SELECTOR, f"#{id} > tbody > tr")]


def run_sql(sql):
    """Types `sql` into the Data view's box and runs it, as a person does."""
    box = driver.find_element(By.ID, "sql")
    box.clear()
    box.send_keys(sql)
    run = driver.find_element(By.ID, "run")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", run)
    run.click()
    try:
        WebDriverWait(driver, 15).until(expected_conditions.staleness_of(box))
    except Exception:
        # A click headless Chrome dropped (seen once while writing this test): submit the form.
        print("note: the click on Run did not submit; submitting the form")
        driver.execute_script("arguments[0].form.submit()", box)
        WebDriverWait(driver, 30).until(expected_conditions.staleness_of(box))


try:
    # Overview: the stopped sync, its parked page and why; records per stream of the
    # latest complete sync, as its manifest says; the stream whose count fell.
    go("/")
    check("the page has a title", "Overview" in driver.title, driver.title)
    state = driver.find_element(By.ID, "latest-state").text
    check("the latest sync shows as stopped", state == "stopped", state)
    latest = driver.find_element(By.CSS_SELECTOR, "#latest-sync h2 code").text
    check("it is the stopped sync", latest == expected["stopped_sync"], latest)
    parked = table("parked")
    check("its parked page is listed with why", len(parked) >= 1 and any("403" in r[-1] for r in parked),
          parked)
    step = driver.find_element(By.ID, "next-step").text
    check("the command that finishes it is shown", "affinity-sync resume" in step, step)
    shown = {r[0]: int(r[1].replace(",", "")) for r in table("streams")}
    check("records per stream equal the latest complete sync's manifest",
          shown == expected["streams"], f"{shown} != {expected['streams']}")
    falls = [e.get_attribute("data-stream") for e in driver.find_elements(By.CSS_SELECTOR, ".fall")]
    check("the stream whose count fell is flagged", sorted(falls) == sorted(expected["fell"]), falls)
    quota = driver.find_element(By.ID, "quota").text
    check("the monthly quota left is shown", f"{expected['quota_left']:,}" in quota, quota)
    check("no secret is on the page", "test-key" not in driver.page_source)
    shot("overview")

    # History: one point per sync in each chart; the fall, named.
    go("/history")
    for chart in ["chart-duration", "chart-records", "chart-requests"]:
        points = driver.find_elements(By.CSS_SELECTOR, f"#{chart} circle.point")
        check(f"{chart} has one point per sync", len(points) == expected["syncs"], len(points))
    check("the stopped sync's point is marked",
          len(driver.find_elements(By.CSS_SELECTOR, "#chart-records circle.point.stopped")) == 1)
    falls = [e.get_attribute("data-stream") for e in driver.find_elements(By.CSS_SELECTOR, "#falls .fall")]
    check("the history warns of the fall", falls == expected["fell"], falls)
    check("the per-stream table marks it", len(driver.find_elements(By.CSS_SELECTOR, "#stream-history .fell")) >= 1)
    shot("history")

    # Tables: the catalog with row counts, and the wide views.
    go("/tables")
    rows = driver.find_element(By.CSS_SELECTOR, ".rows[data-table=persons]").text
    check("persons' row count is shown", rows == f"{expected['persons']:,}", rows)
    check("every table is listed", len(table("tables")) == expected["tables"], len(table("tables")))
    wide = [r[0] for r in table("wide-views")]
    check("the wide views are listed", "persons_wide" in wide and "companies_wide" in wide, wide)
    shot("tables")

    # Data: a query returns its rows; a write is refused and changes nothing.
    go("/data")
    run_sql("SELECT count(*) AS n FROM persons")
    result = table("result")
    check("a query returns the expected rows", result == [[str(expected["persons"])]], result)
    run_sql("DROP TABLE persons")
    error = driver.find_element(By.ID, "query-error").text
    check("DROP TABLE is refused with a clear message", "`DROP` is refused" in error, error)
    run_sql("SELECT * FROM read_csv('/etc/passwd')")
    error = driver.find_element(By.ID, "query-error").text
    check("reading a file is refused", "refused" in error, error)
    run_sql("SELECT count(*) AS n FROM persons")
    check("persons is still there", table("result") == [[str(expected["persons"])]])
    link = driver.find_element(By.LINK_TEXT, "Companies on a list")
    link.click()
    WebDriverWait(driver, 30).until(expected_conditions.staleness_of(link))
    rows = table("result")
    check("the example query runs", len(rows) > 0 and len(rows[0]) == 4, rows[:2])
    shot("data")

    # Fields: coverage per field of persons, companies and each list.
    go("/fields")
    persons = table("fields-persons")
    check("persons' fields have a coverage", len(persons) > 0 and all(r[3].endswith("%") for r in persons),
          persons[:2])
    check("each list has its coverage", len(driver.find_elements(By.CSS_SELECTOR, "[id^=fields-list-]")) >= 1)
    shot("fields")

    # Changes: the counts from the store, the events from the database.
    go("/changes")
    counts = driver.find_element(By.CSS_SELECTOR, "#change-counts .value").text
    check("the events since the latest sync are counted", counts == str(expected["events"]), counts)
    events = table("events")
    check("the events are listed", len(events) == expected["events"], len(events))
    shot("changes")
finally:
    driver.quit()
print("all checks passed")
