// The aiops console: a few views over the JSON API under /api, drawn as plain SVG and HTML.
// Routes (in the address's fragment): #/map?at=T, #/incidents, #/incident/ID,
// #/service/NAME?from=T&to=T. A token given as ?token=... is kept and sent as a bearer token.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const POLL_MS = 3000;
const params = new URLSearchParams(location.search);
if (params.get("token")) localStorage.setItem("aiopsToken", params.get("token"));
let lastMinute = null;

async function api(path) {
  const headers = {};
  const token = localStorage.getItem("aiopsToken");
  if (token) headers.Authorization = "Bearer " + token;
  const response = await fetch(path, { headers });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const child of children) node.append(child);
  return node;
}

function svgEl(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function route() {
  const hash = location.hash.replace(/^#\/?/, "") || "map";
  const [path, query] = hash.split("?");
  const [view, ...rest] = path.split("/");
  return { view, arg: decodeURIComponent(rest.join("/")), query: new URLSearchParams(query || "") };
}

function minuteText(iso) {
  return iso ? iso.replace("T", " ").replace(":00Z", " UTC") : "-";
}

function shift(iso, minutes) {
  return new Date(Date.parse(iso) + minutes * 60000).toISOString().replace(".000Z", "Z");
}

function scoreColor(score) {
  if (score === null || score === undefined) return "#eef2f7";
  const s = Math.max(0, Math.min(1, score));
  // Green below the detection threshold (0.5), through amber, to red at 1.
  const hue = s < 0.5 ? 130 - 90 * (s / 0.5) : 40 - 40 * ((s - 0.5) / 0.5);
  return `hsl(${hue}, 70%, ${s < 0.5 ? 88 : 75}%)`;
}

function edgeColor(rate) {
  return rate >= 0.05 ? "#c0392b" : rate >= 0.01 ? "#e67e22" : "#7f8c8d";
}

function show(...children) {
  const view = document.getElementById("view");
  view.replaceChildren(...children);
  for (const link of document.querySelectorAll("header nav a")) {
    link.classList.toggle("active", location.hash.startsWith(link.getAttribute("href")));
  }
}

function failure(error) {
  show(el("p", { class: "error" }, "Could not load: " + error.message));
}

// The map: boxes for services, ellipses for virtual nodes (databases, queues, unknown peers),
// curves for calls. `focus` (a set of names) dims everything else.
function drawMap(graph, focus) {
  const width = Math.max(graph.width, 200);
  const height = Math.max(graph.height, 80);
  const svg = svgEl("svg", { width, height, viewBox: `0 0 ${width} ${height}`, id: "map" });
  const defs = svgEl("defs");
  const marker = svgEl("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto" });
  marker.append(svgEl("path", { d: "M0,0 L10,5 L0,10 z", fill: "#7f8c8d" }));
  defs.append(marker);
  svg.append(defs);
  const at = {};
  for (const node of graph.nodes) at[node.name] = node;
  const boxWidth = 170, boxHeight = 30;
  for (const edge of graph.edges) {
    const a = at[edge.caller], b = at[edge.callee];
    if (!a || !b) continue;
    const x1 = a.x + boxWidth, y1 = a.y + boxHeight / 2, x2 = b.x, y2 = b.y + boxHeight / 2;
    const bend = Math.max(40, Math.abs(x2 - x1) / 2);
    const path = svgEl("path", {
      d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`,
      class: "edge", stroke: edgeColor(edge.error_rate), "marker-end": "url(#arrow)",
      "data-caller": edge.caller, "data-callee": edge.callee,
    });
    if (focus && !(focus.has(edge.caller) && focus.has(edge.callee))) path.classList.add("dim");
    const title = svgEl("title");
    const p95 = edge.p95_ms === null ? "-" : edge.p95_ms.toFixed(1) + " ms";
    title.textContent = `${edge.caller} → ${edge.callee}: ${edge.calls} calls, ` +
      `${(edge.error_rate * 100).toFixed(1)}% errors, p95 ${p95}`;
    path.append(title);
    svg.append(path);
  }
  for (const node of graph.nodes) {
    const group = svgEl("g", { class: "node", "data-service": node.name });
    if (node.virtual) {
      group.classList.add("virtual");
      group.append(svgEl("ellipse", { cx: node.x + boxWidth / 2, cy: node.y + boxHeight / 2,
        rx: boxWidth / 2, ry: boxHeight / 2 }));
    } else {
      group.append(svgEl("rect", { x: node.x, y: node.y, width: boxWidth, height: boxHeight,
        rx: 6, fill: scoreColor(node.anomaly_score) }));
      group.style.cursor = "pointer";
      group.addEventListener("click", () => {
        location.hash = "#/service/" + encodeURIComponent(node.name) + "?to=" + graph.at;
      });
    }
    if (node.anomalous) group.classList.add("anomalous");
    if (node.root_cause) group.classList.add("root");
    if (focus && !focus.has(node.name)) group.classList.add("dim");
    const label = svgEl("text", { x: node.x + 8, y: node.y + 19 });
    label.textContent = node.name;
    const title = svgEl("title");
    const score = node.anomaly_score === null ? "no score" : "score " + node.anomaly_score.toFixed(2);
    title.textContent = `${node.name}: ${score}`;
    group.append(label, title);
    svg.append(group);
  }
  return svg;
}

function legend() {
  const item = (color, text) => el("span", {}, el("span", { class: "swatch",
    style: `background:${color}` }), text);
  return el("div", { class: "legend" }, item(scoreColor(0.1), "normal"),
    item(scoreColor(0.6), "anomalous (score ≥ 0.5)"), item(scoreColor(null), "no score"),
    item("#fff", "ellipse: database, queue or unknown peer"),
    item("#c0392b", "edge ≥ 5% errors"), item("#e67e22", "edge ≥ 1% errors"));
}

async function mapView(query) {
  const atParam = query.get("at");
  const graph = await api("/api/graph" + (atParam ? "?at=" + encodeURIComponent(atParam) : ""));
  if (!graph.at) return show(el("p", { class: "muted" }, "No edges or incidents yet."));
  const controls = el("div", { class: "controls" });
  const go = (iso) => { location.hash = "#/map?at=" + iso; };
  const back = el("button", { id: "back" }, "◀ 1 min");
  back.onclick = () => go(shift(graph.at, -1));
  const forward = el("button", { id: "forward" }, "1 min ▶");
  forward.onclick = () => go(shift(graph.at, 1));
  const live = el("button", { id: "live" }, "Live");
  live.onclick = () => { location.hash = "#/map"; };
  const first = Date.parse(graph.first_minute) / 60000, last = Date.parse(graph.last_minute) / 60000;
  const slider = el("input", { type: "range", min: first, max: last, step: 1,
    value: Date.parse(graph.at) / 60000, id: "time" });
  slider.onchange = () => go(new Date(slider.value * 60000).toISOString().replace(".000Z", "Z"));
  const when = atParam ? "" : " (live)";
  controls.append(back, slider, forward, live,
    el("span", { id: "at" }, minuteText(graph.at) + when),
    el("span", { class: "muted" }, `${graph.nodes.length} services, ${graph.edges.length} edges`));
  const map = drawMap(graph, null);
  // Large fleets start fitted to the window (zoom in with "Actual size").
  const fit = el("button", { id: "fit" });
  const setFit = (on) => {
    map.style.width = on ? "100%" : "";
    map.style.height = on ? "auto" : "";
    fit.textContent = on ? "Actual size" : "Fit to window";
    fit.onclick = () => setFit(!on);
  };
  setFit(graph.nodes.length > 60);
  controls.append(fit);
  show(el("h2", {}, "Service map"), controls, legend(), el("div", { class: "map" }, map));
}

async function incidentsView() {
  const list = await api("/api/incidents");
  const rows = list.map((i) => el("tr", { "data-incident": i.incident_id },
    el("td", {}, el("a", { href: "#/incident/" + encodeURIComponent(i.incident_id) }, i.incident_id)),
    el("td", {}, minuteText(i.opened)), el("td", {}, minuteText(i.last_minute)),
    el("td", { class: "root-cause" }, i.root_cause || "-"),
    el("td", {}, i.anomalous_services.join(", ")), el("td", {}, String(i.updates))));
  const table = el("table", { id: "incidents" }, el("tr", {}, el("th", {}, "incident"),
    el("th", {}, "opened"), el("th", {}, "last minute"), el("th", {}, "root cause"),
    el("th", {}, "anomalous services"), el("th", {}, "updates")), ...rows);
  show(el("h2", {}, "Incidents"), list.length ? table : el("p", { class: "muted" }, "None yet."));
}

async function incidentView(id) {
  const incident = await api("/api/incidents/" + encodeURIComponent(id));
  const latest = incident.latest;
  const candidates = el("table", { id: "candidates" }, el("tr", {}, el("th", {}, "#"),
    el("th", {}, "service"), el("th", {}, "score"), el("th", {}, "evidence")),
    ...latest.candidates.map((c, i) => el("tr", {}, el("td", {}, String(i + 1)),
      el("td", { class: "candidate" }, el("a", {
        href: "#/service/" + encodeURIComponent(c.service) + "?to=" + incident.last_minute,
      }, c.service)), el("td", {}, c.score.toFixed(3)),
      el("td", {}, el("ul", { class: "evidence" }, ...c.evidence.map((e) => el("li", {}, e)))))));
  const rankings = el("table", { id: "rankings" }, el("tr", {}, el("th", {}, "method"),
    el("th", {}, "top services")), ...Object.entries(latest.rankings).map(([method, top]) =>
    el("tr", {}, el("td", {}, method), el("td", {}, top.join(", ")))));
  const graph = await api("/api/graph?at=" + incident.last_minute);
  const focus = new Set(incident.anomalous_services);
  if (latest.root_cause) focus.add(latest.root_cause);
  const charts = el("div", { class: "charts", id: "timeline" });
  const from = shift(incident.opened, -15), to = shift(incident.last_minute, 5);
  // Each affected service's most anomalous feature (its first "feature z=..." evidence), and
  // its anomaly score.
  const evidence = {};
  for (const c of latest.candidates) {
    const z = c.evidence.find((e) => / z=/.test(e) && !e.startsWith("log"));
    if (z) evidence[c.service] = z.split(" ")[0];
  }
  for (const service of [...focus].slice(0, 6)) {
    const columns = [evidence[service], "anomaly_score"].filter(Boolean);
    try {
      const data = await api(`/api/services/${encodeURIComponent(service)}?from=${from}&to=${to}` +
        `&columns=${columns.join(",")}`);
      for (const column of columns) {
        charts.append(chart(`${service}: ${column}`, data.times, data.series[column]));
      }
    } catch (error) {
      charts.append(el("p", { class: "muted" }, `${service}: ${error.message}`));
    }
  }
  const cause = latest.root_cause;
  let operations = el("p", { class: "muted" }, "No root cause.");
  if (cause) {
    try { operations = await operationsTable(cause, incident.opened); } catch (error) {
      operations = el("p", { class: "muted" }, error.message);
    }
  }
  show(el("h2", {}, incident.incident_id),
    el("p", {}, `Opened ${minuteText(incident.opened)}, last anomalous minute `,
      `${minuteText(incident.last_minute)}. Root cause: `,
      el("strong", { id: "root-cause" }, latest.root_cause || "unknown"),
      latest.environment ? ` (environment ${latest.environment})` : ""),
    el("h3", {}, "Ranked candidates"), candidates,
    el("h3", {}, "Every method's top services"), rankings,
    el("h3", {}, `${cause || "Root cause"}'s operations when it opened (usual: median of the 15 minutes before)`),
    operations,
    el("h3", {}, "Affected services on the map"), el("div", { class: "map" }, drawMap(graph, focus)),
    el("h3", {}, "The most anomalous feature and the anomaly score of each affected service"),
    charts);
}

// A service's operations at a minute beside their baseline, the most changed first.
async function operationsTable(service, at) {
  const data = await api(`/api/services/${encodeURIComponent(service)}/operations?at=${at}`);
  const number = (v, digits) => (v === null || v === undefined ? "-" : Number(v).toFixed(digits));
  const rows = data.operations.map((o) => el("tr", { "data-operation": o.operation },
    el("td", {}, o.operation), el("td", {}, number(o.calls, 0)), el("td", {}, number(o.baseline_calls, 0)),
    el("td", {}, number(o.error_rate * 100, 1) + "%"), el("td", {}, number(o.baseline_error_rate * 100, 1) + "%"),
    el("td", {}, number(o.p95_ms, 1)), el("td", {}, number(o.baseline_p95_ms, 1)),
    el("td", {}, number(o.change, 2))));
  return el("table", { class: "operations" }, el("tr", {}, el("th", {}, "operation"),
    el("th", {}, "calls"), el("th", {}, "usual calls"), el("th", {}, "errors"),
    el("th", {}, "usual errors"), el("th", {}, "p95 ms"), el("th", {}, "usual p95 ms"),
    el("th", {}, "change")), ...rows);
}

// A line chart with a point per minute; gaps where a value is missing.
function chart(title, times, values) {
  const width = 360, height = 140, pad = 28;
  const svg = svgEl("svg", { width: "100%", viewBox: `0 0 ${width} ${height}`, class: "series" });
  const finite = values.filter((v) => v !== null);
  const box = el("div", { class: "chart" }, el("h4", {}, title), svg);
  if (!finite.length) { box.append(el("p", { class: "muted" }, "no values")); return box; }
  const lo = Math.min(...finite), hi = Math.max(...finite), span = hi - lo || 1;
  const x = (i) => pad + (i * (width - 2 * pad)) / Math.max(1, times.length - 1);
  const y = (v) => height - pad - ((v - lo) * (height - 2 * pad)) / span;
  let points = [];
  const flush = () => { if (points.length > 1) svg.append(svgEl("polyline", { points: points.join(" ") })); points = []; };
  values.forEach((v, i) => {
    if (v === null) return flush();
    points.push(`${x(i)},${y(v)}`);
    const dot = svgEl("circle", { cx: x(i), cy: y(v), r: 2.2, "data-time": times[i] });
    const tip = svgEl("title");
    tip.textContent = `${minuteText(times[i])}: ${v.toPrecision(4)}`;
    dot.append(tip);
    svg.append(dot);
  });
  flush();
  const text = (tx, ty, s) => { const t = svgEl("text", { x: tx, y: ty, "font-size": 10 }); t.textContent = s; svg.append(t); };
  text(2, pad - 6, hi.toPrecision(3));
  text(2, height - pad + 12, lo.toPrecision(3));
  text(pad, height - 4, minuteText(times[0]));
  return box;
}

async function serviceView(name, query) {
  const range = ["from", "to"].filter((k) => query.get(k)).map((k) => `${k}=${query.get(k)}`);
  const data = await api("/api/services/" + encodeURIComponent(name) + (range.length ? "?" + range.join("&") : ""));
  const titles = { request_rate_1m: "requests/s", error_rate_1m: "error rate",
    p95_latency_1m: "p95 latency (ms)", p99_latency_1m: "p99 latency (ms)",
    cpu_usage: "CPU (%)", memory_usage: "memory (%)", anomaly_score: "anomaly score" };
  const charts = el("div", { class: "charts", id: "charts" });
  for (const column of Object.keys(titles)) {
    if (data.series[column]) charts.append(chart(titles[column], data.times, data.series[column]));
  }
  const link = (s) => el("a", { href: "#/service/" + encodeURIComponent(s) + "?to=" + data.to }, s);
  const list = (names) => names.length ? names.flatMap((s, i) => i ? [", ", link(s)] : [link(s)]) : ["none"];
  let operations;
  try { operations = await operationsTable(name, data.to); } catch (error) {
    operations = el("p", { class: "muted" }, error.message);
  }
  show(el("h2", {}, name),
    el("p", { class: "muted" }, `${minuteText(data.from)} to ${minuteText(data.to)}, ${data.times.length} minutes`),
    el("p", { id: "callers" }, "Called by: ", ...list(data.callers)),
    el("p", { id: "callees" }, "Calls: ", ...list(data.callees)), charts,
    el("h3", {}, `Operations at ${minuteText(data.to)} (usual: median of the 15 minutes before)`),
    operations);
}

async function render() {
  const { view, arg, query } = route();
  try {
    if (view === "incidents") await incidentsView();
    else if (view === "incident") await incidentView(arg);
    else if (view === "service") await serviceView(arg, query);
    else await mapView(query);
  } catch (error) {
    failure(error);
  }
}

// Live: when a new minute reaches the store, views that follow the present redraw.
async function poll() {
  try {
    const summary = await api("/api/summary");
    document.getElementById("status").textContent =
      `${summary.source} · last minute ${minuteText(summary.last_minute)} · ${summary.incidents} incidents`;
    if (lastMinute !== null && summary.last_minute !== lastMinute) {
      const { view, query } = route();
      if ((view === "map" && !query.get("at")) || view === "incidents") render();
    }
    lastMinute = summary.last_minute;
  } catch (error) {
    document.getElementById("status").textContent = "store unreachable: " + error.message;
  }
}

window.addEventListener("hashchange", render);
render();
poll();
setInterval(poll, POLL_MS);
