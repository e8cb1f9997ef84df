"""The web console in a real browser (headless Chromium through WebDriver, Python selenium).

Two phases, each against a console the Rust test started:
  live   URL                 a page shows a newly closed minute within seconds
  stored URL DATA_DIR SHOTS  the map equals the stored edges and rows; the first fault's
                             incident names its service first; a service chart has points;
                             no browser console errors; screenshots into SHOTS
Expected values are computed here from the files the job wrote, independently of the console.
Exit status 0 when every check holds; a failed check raises with what differed.
"""

import csv
import glob
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

SEPARATOR = "\x1f"
EXPIRY = 5


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("AIOPS_TEST_CHROMIUM", "/usr/bin/chromium")
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1500,1100"]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver_path = os.environ.get("AIOPS_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=options)


def wait(driver, css, timeout=30, at_least=1):
    WebDriverWait(driver, timeout).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, css)) >= at_least)
    return driver.find_elements(By.CSS_SELECTOR, css)


def no_console_errors(driver):
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, f"browser console errors: {errors}"


def live(url):
    driver = browser()
    try:
        driver.get(url + "/#/map")
        wait(driver, "#map g.node")
        status = driver.find_element(By.ID, "status")
        WebDriverWait(driver, 20).until(lambda d: "last minute" in status.text)
        first = status.text
        # The job closes a simulated minute every second or so: the page must show a new one.
        WebDriverWait(driver, 20).until(lambda d: status.text != first)
        at = driver.find_element(By.ID, "at").text
        assert "(live)" in at, at
        no_console_errors(driver)
        print(f"live: {first!r} became {status.text!r}")
    finally:
        driver.quit()


def label_of(keys):
    """How the console names service keys: plain names within the one environment."""
    environments = {k.split(SEPARATOR, 1)[1] if SEPARATOR in k else "" for k in keys}
    within = next(iter(environments)) if len(environments) == 1 else None

    def label(key):
        name, env = (key.split(SEPARATOR, 1) + [""])[:2]
        if within is not None and env == within:
            return name
        return f"{name}@{env}" if env else name
    return label


def key(name, environment):
    return name + (SEPARATOR + environment if environment else "")


def stored_edges(data_dir):
    """The edge lines, their ends as service keys (name and environment)."""
    edges = []
    for path in sorted(glob.glob(os.path.join(data_dir, "edges", "*.jsonl"))):
        with open(path) as lines:
            edges.extend(json.loads(line) for line in lines if line.strip())
    for e in edges:
        e["caller"] = key(e["caller"], e.get("environment", ""))
        e["callee"] = key(e["callee"], e.get("callee_environment", ""))
    return edges


def expected_map(data_dir, aiops, at_minute):
    edges = stored_edges(data_dir)
    live_edges = {(e["caller"], e["callee"]): e for e in edges
                  if e["pane"] <= at_minute < e["pane"] + 1 + EXPIRY}
    when = datetime.fromtimestamp(at_minute * 60, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    sql = f"SELECT service_name, environment FROM features WHERE time = TIMESTAMP '{when}'"
    out = subprocess.run([aiops, "query", "--data-dir", data_dir, "--format", "json", sql],
                         check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    row_keys = {key(r["service_name"], r.get("environment") or "") for r in rows}
    virtual = {c for (_, c), e in live_edges.items() if e.get("virtual_callee")}
    keys = {k for pair in live_edges for k in pair} | row_keys
    label = label_of(k for k in keys if k not in virtual)
    nodes = {label(k) for k in keys}
    pairs = {(label(a), label(b)) for a, b in live_edges}
    return nodes, pairs


def first_fault(data_dir):
    with open(os.path.join(data_dir, "ground_truth.csv")) as f:
        fault = next(csv.DictReader(f))
    parse = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))
    return fault["fault"], fault["service"], parse(fault["start"]), parse(fault["end"])


def stored(url, data_dir, shots):
    aiops = os.environ["AIOPS_TEST_BIN"]
    os.makedirs(shots, exist_ok=True)
    driver = browser()
    try:
        kind, service, start, end = first_fault(data_dir)
        # The incident of the first fault, and its page: the injected service ranks first.
        driver.get(f"{url}/#/incidents")
        rows = wait(driver, "#incidents tr[data-incident]")
        cells = lambda r: [td.text for td in r.find_elements(By.TAG_NAME, "td")]
        minute = lambda text: datetime.fromisoformat(text.replace(" UTC", "+00:00"))
        mine = [r for r in rows if start - timedelta(minutes=1) <= minute(cells(r)[1]) <= end]
        assert mine, f"no incident opened during the fault {start}..{end}"
        opened = minute(cells(mine[-1])[1])
        mine[-1].find_element(By.TAG_NAME, "a").click()
        first = wait(driver, "#candidates td.candidate")[0].text
        assert first == service, f"first candidate {first!r}, injected {service!r}"
        assert driver.find_element(By.ID, "root-cause").text == service
        wait(driver, "#timeline circle")
        # The root cause's operations when the incident opened: the latency fault shows.
        top = wait(driver, "table.operations tr[data-operation]")[0]
        cells = [td.text for td in top.find_elements(By.TAG_NAME, "td")]
        if kind == "latency":
            p95, usual = float(cells[5]), float(cells[6])
            assert p95 > 2 * usual, f"the most changed operation of {service}: {cells}"
        driver.set_window_size(1500, 1900)  # the whole page: candidates, map and timeline
        driver.save_screenshot(os.path.join(shots, "console-incident.png"))
        driver.set_window_size(1500, 1100)

        # The map in the incident's first minute: nodes and edges as the files say.
        at_minute = int(opened.timestamp()) // 60
        iso = opened.strftime("%Y-%m-%dT%H:%M:%SZ")
        driver.get(f"{url}/#/map?at={iso}")
        wait(driver, "#map g.node")
        nodes = {g.get_attribute("data-service")
                 for g in driver.find_elements(By.CSS_SELECTOR, "#map g.node")}
        edges = {(p.get_attribute("data-caller"), p.get_attribute("data-callee"))
                 for p in driver.find_elements(By.CSS_SELECTOR, "#map path.edge")}
        want_nodes, want_edges = expected_map(data_dir, aiops, at_minute)
        assert nodes == want_nodes, f"map nodes {sorted(nodes)} != {sorted(want_nodes)}"
        assert edges == want_edges, f"map edges {sorted(edges)} != {sorted(want_edges)}"
        marked = {g.get_attribute("data-service")
                  for g in driver.find_elements(By.CSS_SELECTOR, "#map g.node.anomalous")}
        assert service in marked, f"{service} is marked anomalous on the map: {marked}"
        driver.save_screenshot(os.path.join(shots, "console-map.png"))

        # The service page charts points.
        driver.get(f"{url}/#/service/{service}?to={iso}")
        points = wait(driver, "#charts circle", at_least=10)
        callers = driver.find_element(By.ID, "callers").text
        assert "Called by:" in callers and "none" not in callers, callers
        driver.save_screenshot(os.path.join(shots, "console-service.png"))
        no_console_errors(driver)
        print(f"stored: {len(nodes)} nodes, {len(edges)} edges, incident names {first}, "
              f"{len(points)} chart points")
    finally:
        driver.quit()


if __name__ == "__main__":
    if sys.argv[1] == "live":
        live(sys.argv[2])
    else:
        stored(sys.argv[2], sys.argv[3], sys.argv[4])
