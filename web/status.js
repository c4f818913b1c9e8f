// The live status page: subscribes, with an admin API key as the CONNECT passcode, to
// /topic/$sys.stats (one JSON snapshot of cumulative counters a second, readable by admins
// only) and draws the last 60 seconds. Every string from the server (transport names, ERROR
// messages) is shown with textContent, never parsed as HTML. The key lives in this tab's
// sessionStorage only.
import { PerigeeClient } from "./perigee.js";

const STATS = "/topic/$sys.stats";
const SAMPLES = 60; // points per chart: one a second
const KEY_STORAGE = "perigee.status.adminKey";
const MAX_ROWS = 100; // transports and error messages are small fixed sets; bound them anyway

const $ = (id) => document.getElementById(id);
const stateView = $("state");
const transportView = $("transport");
const updatedView = $("updated");
const notice = $("notice");
const keyInput = $("admin_key");

let client = null;
let previous = null; // the last snapshot, for rates
const history = new Map(); // chart name -> numbers, oldest first
const transportRows = new Map(); // transport name -> {row, cells}
const errorRows = new Map(); // ERROR message -> {row, cells}

// MARK: Numbers

/** A finite, non-negative number from untrusted JSON, else 0. */
function count(value) {
  const number = Number(value);
  return Number.isFinite(number) && number >= 0 ? number : 0;
}

/** The entries of a JSON object from the server, at most MAX_ROWS, sorted by name. */
function entries(object) {
  if (object === null || typeof object !== "object" || Array.isArray(object)) return [];
  return Object.keys(object).sort().slice(0, MAX_ROWS).map((name) => [name, object[name]]);
}

/** The sum of a counter over every transport. */
function total(snapshot, field) {
  return entries(snapshot.transports).reduce((sum, [, transport]) => sum + count(transport && transport[field]), 0);
}

/** Per second between two cumulative readings `seconds` apart (0 across a restart). */
function perSecond(now, before, seconds) {
  if (!(seconds > 0) || now < before) return 0;
  return (now - before) / seconds;
}

function formatted(value) {
  if (value >= 100 || Number.isInteger(value)) return Math.round(value).toLocaleString("en");
  return value.toFixed(1);
}

function record(name, value) {
  let points = history.get(name);
  if (!points) {
    points = [];
    history.set(name, points);
  }
  points.push(value);
  if (points.length > SAMPLES) points.shift();
  return points;
}

// MARK: Drawing

/** A sparkline of `points` on `canvas`, scaled to their maximum; the last point is marked. */
function drawSparkline(canvas, points) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  const height = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(width * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.clearRect(0, 0, width, height);
  if (points.length === 0) return;
  const max = Math.max(1, ...points);
  const step = width / (SAMPLES - 1);
  const x = (index) => width - (points.length - 1 - index) * step;
  const y = (value) => height - 2 - (value / max) * (height - 4);
  context.beginPath();
  points.forEach((value, index) => (index === 0 ? context.moveTo(x(index), y(value)) : context.lineTo(x(index), y(value))));
  context.strokeStyle = "#2962ff";
  context.lineWidth = 1.5;
  context.stroke();
  context.lineTo(x(points.length - 1), height);
  context.lineTo(x(0), height);
  context.closePath();
  context.fillStyle = "rgba(41, 98, 255, 0.12)";
  context.fill();
  context.fillStyle = "#2962ff";
  context.beginPath();
  context.arc(x(points.length - 1), y(points[points.length - 1]), 2, 0, 2 * Math.PI);
  context.fill();
}

/** A tile: its number and its chart (`<name>` and `<name>_chart` in status.html). */
function showTile(name, value) {
  $(name).textContent = formatted(value);
  drawSparkline($(name + "_chart"), record(name, value));
}

/** The row of `name` in `table` (a Map), created with `columns` cells and a chart. */
function rowFor(rows, tbody, name, columns) {
  let entry = rows.get(name);
  if (entry) return entry;
  const row = document.createElement("tr");
  row.dataset.name = name; // an attribute value, never markup
  const nameCell = document.createElement("td");
  nameCell.className = "name";
  nameCell.textContent = name;
  row.append(nameCell);
  const cells = {};
  for (const column of columns) {
    const cell = document.createElement("td");
    cell.className = column;
    row.append(cell);
    cells[column] = cell;
  }
  const chartCell = document.createElement("td");
  const canvas = document.createElement("canvas");
  canvas.width = 160;
  canvas.height = 36;
  chartCell.append(canvas);
  row.append(chartCell);
  entry = { row, cells, canvas };
  rows.set(name, entry);
  // Keep the rows sorted by name.
  const after = [...rows.keys()].sort().find((other) => other > name);
  tbody.insertBefore(row, after === undefined ? null : rows.get(after).row);
  return entry;
}

// MARK: Snapshots

function show(snapshot) {
  const seconds = previous ? (count(snapshot.t) - count(previous.t)) / 1000 : 0;
  const rate = (pick) => (previous ? perSecond(pick(snapshot), pick(previous), seconds) : 0);

  showTile("connections", entries(snapshot.transports).reduce((sum, [, t]) => sum + count(t && t.open), 0));
  showTile("messages_in_rate", rate((s) => total(s, "messages_in")));
  showTile("messages_out_rate", rate((s) => total(s, "messages_out")));
  showTile("subscriptions", count(snapshot.subscriptions));
  $("slow_consumer_drops").textContent = formatted(count(snapshot.slow_consumer_drops));
  drawSparkline($("slow_consumer_drops_chart"), record("slow_consumer_drops_rate", rate((s) => count(s.slow_consumer_drops))));
  const errorTotal = (s) => entries(s.errors).reduce((sum, [, n]) => sum + count(n), 0);
  showTile("errors_rate", rate(errorTotal));

  const transports = $("transports");
  for (const [name, transport] of entries(snapshot.transports)) {
    const entry = rowFor(transportRows, transports, name, ["open", "opened", "in", "out"]);
    const before = previous && entries(previous.transports).find(([other]) => other === name);
    const field = (t, key) => count(t && t[key]);
    entry.cells.open.textContent = formatted(field(transport, "open"));
    entry.cells.opened.textContent = formatted(field(transport, "opened"));
    entry.cells.in.textContent = formatted(before ? perSecond(field(transport, "messages_in"), field(before[1], "messages_in"), seconds) : 0);
    entry.cells.out.textContent = formatted(before ? perSecond(field(transport, "messages_out"), field(before[1], "messages_out"), seconds) : 0);
    drawSparkline(entry.canvas, record("open:" + name, field(transport, "open")));
  }

  const errors = $("errors");
  for (const [message, value] of entries(snapshot.errors)) {
    const entry = rowFor(errorRows, errors, message, ["count"]);
    const before = previous && entries(previous.errors).find(([other]) => other === message);
    entry.cells.count.textContent = formatted(count(value));
    drawSparkline(entry.canvas, record("error:" + message, before ? perSecond(count(value), count(before[1]), seconds) : 0));
  }
  $("no_errors").hidden = errorRows.size > 0;

  updatedView.textContent = new Date(count(snapshot.t)).toLocaleTimeString();
  previous = snapshot;
}

function onStats(message) {
  let snapshot;
  try {
    snapshot = JSON.parse(message.body);
  } catch (error) {
    notice.textContent = "A statistics message was not JSON: " + error.message;
    return;
  }
  if (snapshot === null || typeof snapshot !== "object") return;
  notice.textContent = "";
  show(snapshot);
}

// MARK: Connecting

function showState(state) {
  stateView.textContent = state;
  stateView.dataset.state = state;
  transportView.textContent = state === "connected" && client ? client.transport : "none";
}

/** Stops for good on a refusal: retrying with the same key would be refused again. */
function refuse(text) {
  notice.textContent = text;
  notice.dataset.refused = "true";
  sessionStorage.removeItem(KEY_STORAGE);
  if (client) {
    const stopped = client;
    client = null;
    stopped.disconnect().catch(() => {});
  }
  showState("disconnected");
}

function onError(error) {
  const message = error && error.frame ? error.frame.headers.message : null;
  if (message === "unauthorized") {
    refuse("The server refused this key (unauthorized): it is not a known API key.");
  } else if (message === "permission denied") {
    refuse("This key may not read the statistics (permission denied): it lacks the admin role.");
  } else if (error) {
    notice.textContent = String(error.message);
  }
}

function start(key) {
  if (client) {
    const old = client;
    client = null;
    old.disconnect().catch(() => {});
  }
  previous = null;
  notice.textContent = "";
  delete notice.dataset.refused;
  let created = null;
  // A replaced client's last state changes must not overwrite the current one's.
  const current = (handler) => (value) => {
    if (created !== null && client === created) handler(value);
  };
  created = new PerigeeClient({
    connectHeaders: { passcode: key },
    connectTimeout: 5000,
    heartbeat: { outgoing: 10000, incoming: 10000 },
    reconnect: { initialDelay: 500, maxDelay: 10000 },
    onStateChange: current(showState),
    onError: current(onError),
  });
  client = created;
  client.subscribe(STATS, current(onStats), {}, { onError: current(onError) });
  client.connect();
}

$("key_form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = keyInput.value.trim();
  if (key === "") {
    notice.textContent = "Enter an API key that has the admin role.";
    return;
  }
  keyInput.value = "";
  sessionStorage.setItem(KEY_STORAGE, key);
  start(key);
});

$("forget").addEventListener("click", () => {
  sessionStorage.removeItem(KEY_STORAGE);
  if (client) {
    const old = client;
    client = null;
    old.disconnect().catch(() => {});
  }
  showState("disconnected");
  notice.textContent = "The key is forgotten; enter it again to connect.";
});

const saved = sessionStorage.getItem(KEY_STORAGE);
if (saved) start(saved);
showState(client ? client.state : "disconnected");
