// rigkit label review: the page. Vanilla JavaScript, canvas 2D, no library, nothing fetched
// from outside the server that sent it. Every request carries the token of the page's URL.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const PERSON_COLOURS = ["#4cf", "#f9c", "#fd6", "#9f9"];
const CAMERA_COLOURS = ["#4cf", "#fa5", "#9e6", "#e7f", "#ff6", "#6fd", "#f77", "#aaf"];
const $ = (id) => document.getElementById(id);

const state = {
  meta: null, sample: 0, data: null, images: [], camera: 0, joint: -1, hover: null,
  list: [], listPos: -1, total: 0, summary: null, marks: null,
  yaw: 0.6, pitch: 0.5, zoom: 1, loadSeq: 0, follow: true, boxes: [],
};
// Read by the tests and the benchmark: paint timings and the last painted frameset.
window.rigkit = { state, timings: [], painted: null, firstPaintEpochMs: null };

function url(path, params = {}) {
  const u = new URL(path, location.origin);
  u.searchParams.set("token", TOKEN);
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) u.searchParams.set(k, v);
  return u.toString();
}

async function getJSON(path, params) {
  const r = await fetch(url(path, params));
  if (r.status === 202) return null;
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

async function getImage(sample, view) {
  if (!state.meta.has_frames) return null;
  const r = await fetch(url("/api/frame", { sample, view }));
  if (!r.ok) return null;
  const blob = await r.blob();
  try { return await createImageBitmap(blob); } catch (e) { return null; }
}

function status(text) { $("status").textContent = text; }

// ---------------------------------------------------------------- loading a frameset
// Framesets being fetched or fetched: sample -> Promise of {data, images}. After each paint the
// page asks for the frameset the user is most likely to want next (the next one in the
// direction of travel, or the next match of the filter), so stepping paints from memory.
const PREFETCHED = new Map();
const PREFETCH_KEEP = 6;

function fetchFrameset(sample) {
  let entry = PREFETCHED.get(sample);
  if (!entry) {
    const views = state.meta.camera_names.map((_, v) => getImage(sample, v));
    entry = Promise.all([getJSON("/api/frameset", { sample }), ...views])
      .then(([data, ...images]) => ({ data, images }));
    entry.catch(() => PREFETCHED.delete(sample));
    PREFETCHED.set(sample, entry);
    while (PREFETCHED.size > PREFETCH_KEEP) PREFETCHED.delete(PREFETCHED.keys().next().value);
  }
  return entry;
}

async function load(sample, { prefetch = true } = {}) {
  const n = state.meta.num_samples;
  sample = Math.max(0, Math.min(n - 1, sample | 0));
  const direction = sample >= state.sample ? 1 : -1;
  const seq = ++state.loadSeq;
  const t0 = performance.now();
  const { data, images } = await fetchFrameset(sample);
  if (seq !== state.loadSeq) return;  // a newer request won
  state.sample = sample; state.data = data; state.images = images;
  saveHash();
  drawAll();
  requestAnimationFrame(() => {
    const ms = performance.now() - t0;
    window.rigkit.timings.push({ sample, ms });
    window.rigkit.painted = { sample, ms, epochMs: Date.now() };
    if (window.rigkit.firstPaintEpochMs === null) window.rigkit.firstPaintEpochMs = Date.now();
    if (!prefetch) return;
    const pos = state.list.indexOf(sample);
    if (pos >= 0 && pos + 1 < state.list.length) fetchFrameset(state.list[pos + 1]);
    const next = sample + direction;
    if (next >= 0 && next < n) fetchFrameset(next);
  });
}
// For the benchmark: a cold load (nothing prefetched, nothing prefetched after it).
window.rigkit.loadCold = (sample) => { PREFETCHED.delete(sample); return load(sample, { prefetch: false }); };

function drawAll() {
  drawViews(); drawScene(); drawInfo(); drawSelection(); drawTimeline(); drawHealth();
  const d = state.data;
  $("position").textContent = `frameset #${state.sample} of ${state.meta.num_samples}` +
    `  (frame ${d.frame_index}${d.timestamp_s === null ? "" : `, ${d.timestamp_s.toFixed(2)} s`})`;
  for (const li of $("list").children) li.classList.toggle("current", +li.dataset.sample === state.sample);
}

// ---------------------------------------------------------------- the V views
function buildViews() {
  const box = $("views");
  box.innerHTML = "";
  state.meta.cameras.forEach((cam, v) => {
    const div = document.createElement("div");
    div.className = "view"; div.id = `view-${v}`;
    const canvas = document.createElement("canvas");
    canvas.width = cam.width; canvas.height = cam.height;
    canvas.addEventListener("mousemove", (e) => hoverAt(v, e));
    canvas.addEventListener("mouseleave", () => { state.hover = null; drawViews(); drawInfo(); });
    canvas.addEventListener("click", (e) => { const j = nearestJoint(v, e); if (j >= 0) selectJoint(j); state.camera = v; drawAll(); });
    const name = document.createElement("div");
    name.className = "name"; name.textContent = cam.name;
    div.append(canvas, name);
    box.append(div);
  });
}

// Mouse -> image pixels of view v (through the view's zoom box) and image pixels per CSS pixel.
function toPixels(v, e) {
  const canvas = $(`view-${v}`).firstChild;
  const r = canvas.getBoundingClientRect();
  const box = state.boxes[v] || { x0: 0, y0: 0, k: 1 };
  const cx = (e.clientX - r.left) * canvas.width / r.width, cy = (e.clientY - r.top) * canvas.height / r.height;
  return [cx / box.k + box.x0, cy / box.k + box.y0, canvas.width / r.width / box.k];
}

// With "follow" on (key z), each view is zoomed on the person: the box around its detections
// and reprojected labels, with a margin, at the view's aspect ratio.
function viewBox(v, cam) {
  const d = state.data;
  if (!state.follow || !d) return { x0: 0, y0: 0, k: 1 };
  let lo = [Infinity, Infinity], hi = [-Infinity, -Infinity];
  const J = state.meta.joint_names.length;
  for (let j = 0; j < J; j++) {
    for (const p of [d.keypoints_2d[v][j], d.valid[j] ? d.reprojected_2d[v][j] : null]) {
      if (!p || p[0] === null) continue;
      lo = [Math.min(lo[0], p[0]), Math.min(lo[1], p[1])]; hi = [Math.max(hi[0], p[0]), Math.max(hi[1], p[1])];
    }
  }
  if (!(hi[0] > lo[0])) return { x0: 0, y0: 0, k: 1 };
  const aspect = cam.width / cam.height;
  let h = Math.max((hi[1] - lo[1]) * 1.5, (hi[0] - lo[0]) * 1.5 / aspect, cam.height / 4);
  h = Math.min(h, cam.height);
  const w = h * aspect, cx = (lo[0] + hi[0]) / 2, cy = (lo[1] + hi[1]) / 2;
  return { x0: cx - w / 2, y0: cy - h / 2, k: cam.width / w };
}

function nearestJoint(v, e) {
  const d = state.data; if (!d) return -1;
  const [x, y, scale] = toPixels(v, e);
  let best = -1, bestDist = 14 * scale;
  const J = state.meta.joint_names.length;
  for (let j = 0; j < J; j++) {
    for (const p of [d.keypoints_2d[v][j], d.reprojected_2d[v][j]]) {
      if (!p || p[0] === null) continue;
      const dist = Math.hypot(p[0] - x, p[1] - y);
      if (dist < bestDist) { bestDist = dist; best = j; }
    }
  }
  return best;
}

function hoverAt(v, e) {
  const j = nearestJoint(v, e);
  const next = j >= 0 ? j : null;
  if (next !== state.hover) { state.hover = next; drawViews(); drawInfo(); }
}

function drawViews() {
  const d = state.data, meta = state.meta;
  if (!d) return;
  const J = meta.joint_names.length;
  meta.cameras.forEach((cam, v) => {
    const div = $(`view-${v}`);
    div.classList.toggle("current", v === state.camera);
    const ctx = div.firstChild.getContext("2d");
    const box = state.boxes[v] = viewBox(v, cam);
    const css = cam.width / Math.max(1, div.firstChild.clientWidth);  // canvas px per CSS px
    const s = css / box.k;  // marker sizes in CSS pixels whatever the frame size and zoom
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#222"; ctx.fillRect(0, 0, cam.width, cam.height);
    ctx.setTransform(box.k, 0, 0, box.k, -box.x0 * box.k, -box.y0 * box.k);
    const image = state.images[v];
    if (image) ctx.drawImage(image, 0, 0, cam.width, cam.height);
    else {
      ctx.strokeStyle = "#555"; ctx.lineWidth = 2 * s; ctx.strokeRect(0, 0, cam.width, cam.height);
      ctx.fillStyle = "#666"; ctx.font = `${14 * s}px sans-serif`; ctx.fillText("no frame", box.x0 + 10 * s, box.y0 + 40 * s);
    }
    const rep = d.reprojected_2d[v], det = d.keypoints_2d[v];
    // bones of the reprojected 3D label, per person (one subject per frameset in these shards)
    ctx.lineWidth = 2 * s; ctx.strokeStyle = PERSON_COLOURS[0];
    for (const [a, b] of meta.bones) {
      if (!d.valid[a] || !d.valid[b] || !rep[a] || !rep[b] || rep[a][0] === null || rep[b][0] === null) continue;
      ctx.globalAlpha = d.effective_valid[a] && d.effective_valid[b] ? 0.9 : 0.35;
      ctx.beginPath(); ctx.moveTo(rep[a][0], rep[a][1]); ctx.lineTo(rep[b][0], rep[b][1]); ctx.stroke();
    }
    ctx.globalAlpha = 1;
    for (let j = 0; j < J; j++) {
      const p = det[j], q = rep[j];
      const hasDet = p && p[0] !== null, hasRep = q && q[0] !== null && d.valid[j];
      if (hasDet && hasRep) {  // residual vector
        ctx.strokeStyle = "#fff8"; ctx.lineWidth = 1 * s;
        ctx.beginPath(); ctx.moveTo(p[0], p[1]); ctx.lineTo(q[0], q[1]); ctx.stroke();
      }
      if (hasDet) {
        const r = 4 * s;
        if (d.inliers[v][j]) {  // inlier: filled green dot
          ctx.fillStyle = "#3e6"; ctx.beginPath(); ctx.arc(p[0], p[1], r, 0, 2 * Math.PI); ctx.fill();
        } else {  // outlier or unused: red cross
          ctx.strokeStyle = "#f44"; ctx.lineWidth = 2 * s;
          ctx.beginPath(); ctx.moveTo(p[0] - r, p[1] - r); ctx.lineTo(p[0] + r, p[1] + r);
          ctx.moveTo(p[0] + r, p[1] - r); ctx.lineTo(p[0] - r, p[1] + r); ctx.stroke();
        }
      }
      if (hasRep) {  // reprojected 3D label: open diamond (magenta when the review rejected it)
        const r = 5 * s;
        ctx.strokeStyle = d.review_rejected[j] ? "#f0f" : "#4cf"; ctx.lineWidth = 1.5 * s;
        ctx.beginPath(); ctx.moveTo(q[0], q[1] - r); ctx.lineTo(q[0] + r, q[1]); ctx.lineTo(q[0], q[1] + r);
        ctx.lineTo(q[0] - r, q[1]); ctx.closePath(); ctx.stroke();
      }
      const mark = hasRep ? q : hasDet ? p : null;
      if (mark && (j === state.joint || j === state.hover)) {
        ctx.strokeStyle = j === state.joint ? "#fc3" : "#fff"; ctx.lineWidth = 2 * s;
        ctx.beginPath(); ctx.arc(mark[0], mark[1], 10 * s, 0, 2 * Math.PI); ctx.stroke();
        ctx.fillStyle = "#fff"; ctx.font = `${12 * s}px sans-serif`;
        ctx.fillText(meta.joint_names[j], mark[0] + 12 * s, mark[1] - 8 * s);
      }
    }
  });
}

// ---------------------------------------------------------------- 3D view
function sceneCentre() {
  const cams = state.meta.cameras;
  const c = [0, 0, 0];
  for (const cam of cams) for (let k = 0; k < 3; k++) c[k] += cam.centre_m[k] / cams.length;
  let radius = 0;
  for (const cam of cams) radius = Math.max(radius, Math.hypot(...cam.centre_m.map((x, k) => x - c[k])));
  return [c, radius || 1];
}

function drawScene() {
  const canvas = $("scene"), ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height;
  ctx.fillStyle = "#1b1e22"; ctx.fillRect(0, 0, W, H);
  const [c, radius] = sceneCentre();
  const cy = Math.cos(state.yaw), sy = Math.sin(state.yaw), cp = Math.cos(state.pitch), sp = Math.sin(state.pitch);
  const scale = state.zoom * 0.42 * Math.min(W, H) / radius;
  const project = (p) => {  // world (Z up) -> screen: turn about Z (yaw), tilt about X (pitch)
    const x = p[0] - c[0], y = p[1] - c[1], z = p[2] - c[2];
    const xr = cy * x - sy * y, yr = sy * x + cy * y;
    const depth = cp * yr + sp * z, up = -sp * yr + cp * z;
    const f = 3 * radius / (3 * radius + depth);
    return [W / 2 + xr * scale * f, H / 2 - up * scale * f];
  };
  // floor grid through the lowest camera height minus nothing: z = 0 plane
  ctx.strokeStyle = "#2c3138"; ctx.lineWidth = 1;
  const step = Math.pow(10, Math.floor(Math.log10(radius)));
  for (let k = -4; k <= 4; k++) {
    for (const [a, b] of [[[k * step + c[0], -4 * step + c[1], 0], [k * step + c[0], 4 * step + c[1], 0]],
                          [[-4 * step + c[0], k * step + c[1], 0], [4 * step + c[0], k * step + c[1], 0]]]) {
      const p = project(a), q = project(b);
      ctx.beginPath(); ctx.moveTo(...p); ctx.lineTo(...q); ctx.stroke();
    }
  }
  state.meta.cameras.forEach((cam, v) => {
    const o = project(cam.centre_m), corners = cam.frustum_m.map(project);
    ctx.strokeStyle = CAMERA_COLOURS[v % CAMERA_COLOURS.length]; ctx.lineWidth = v === state.camera ? 2.5 : 1;
    ctx.beginPath();
    for (const q of corners) { ctx.moveTo(...o); ctx.lineTo(...q); }
    ctx.moveTo(...corners[0]); for (const q of corners.slice(1)) ctx.lineTo(...q); ctx.lineTo(...corners[0]);
    ctx.stroke();
    ctx.fillStyle = ctx.strokeStyle; ctx.font = "11px sans-serif"; ctx.fillText(cam.name, o[0] + 4, o[1] - 4);
  });
  const d = state.data; if (!d) return;
  const pts = d.keypoints_3d.map((p, j) => (d.valid[j] && p[0] !== null ? project(p) : null));
  ctx.strokeStyle = PERSON_COLOURS[0]; ctx.lineWidth = 2;
  for (const [a, b] of state.meta.bones) {
    if (!pts[a] || !pts[b]) continue;
    ctx.beginPath(); ctx.moveTo(...pts[a]); ctx.lineTo(...pts[b]); ctx.stroke();
  }
  pts.forEach((p, j) => {
    if (!p) return;
    ctx.fillStyle = d.review_rejected[j] ? "#f0f" : j === state.joint ? "#fc3" : "#fff";
    ctx.beginPath(); ctx.arc(p[0], p[1], j === state.joint || j === state.hover ? 4 : 2.5, 0, 2 * Math.PI); ctx.fill();
  });
}

function setupScene() {
  const canvas = $("scene");
  let drag = null;
  canvas.addEventListener("mousedown", (e) => { drag = [e.clientX, e.clientY, state.yaw, state.pitch]; });
  window.addEventListener("mouseup", () => { drag = null; });
  window.addEventListener("mousemove", (e) => {
    if (!drag) return;
    state.yaw = drag[2] + (e.clientX - drag[0]) * 0.01;
    state.pitch = Math.max(-1.5, Math.min(1.5, drag[3] + (e.clientY - drag[1]) * 0.01));
    drawScene();
  });
  canvas.addEventListener("wheel", (e) => { e.preventDefault(); state.zoom *= e.deltaY < 0 ? 1.1 : 1 / 1.1; drawScene(); });
}

// ---------------------------------------------------------------- evidence of a joint
function fmt(x, digits = 1) { return x === null || x === undefined ? "–" : x.toFixed(digits); }

function drawInfo() {
  const d = state.data; if (!d) return;
  const j = state.hover !== null ? state.hover : state.joint;
  const box = $("joint-info");
  if (j === null || j < 0) { box.textContent = "hover a joint for its evidence; click to select it"; return; }
  const meta = state.meta;
  const verdict = d.review_rejected[j] ? '<span class="bad">rejected by review</span>' :
    d.valid[j] ? '<span class="good">valid</span>' : '<span class="bad">invalid</span>';
  const reasons = d.reasons[j].length ? d.reasons[j].join(", ") : "none";
  const inlierViews = meta.camera_names.filter((_, v) => d.inliers[v][j]);
  let rows = "";
  meta.camera_names.forEach((name, v) => {
    const res = d.residual_px[v][j];
    rows += `<tr><td>${name}</td><td>${fmt(d.scores[v][j], 2)}</td>` +
      `<td class="${res !== null && res > (meta.options.max_reprojection_error_px || 1e9) ? "bad" : ""}">${fmt(res, 2)}</td>` +
      `<td>${d.keypoints_2d[v][j][0] === null ? "not detected" : d.inliers[v][j] ? '<span class="good">inlier</span>' : '<span class="bad">outlier</span>'}</td></tr>`;
  });
  box.innerHTML = `<div><b>${meta.joint_names[j]}</b> (joint ${j}, person 0): ${verdict}; reject reason: ` +
    `<span class="${reasons === "none" ? "" : "warn"}">${reasons}</span>; inlier views ${d.num_inlier_views[j]}` +
    ` (${inlierViews.join(", ") || "none"})</div>` +
    `<table><tr><th>view</th><th>score</th><th>residual px</th><th></th></tr>${rows}</table>`;
}

// ---------------------------------------------------------------- selection and verdicts
function selectJoint(j) { state.joint = j; drawAll(); }

function selectionTarget() {
  return state.joint >= 0 ? { level: "joint", joint: state.meta.joint_names[state.joint] } : { level: "frameset", joint: null };
}

function drawSelection() {
  const d = state.data, t = selectionTarget();
  $("selection").textContent = t.level === "joint" ? `selected: joint ${t.joint} of frameset #${state.sample}` :
    `selected: frameset #${state.sample} (j: pick a joint)`;
  $("verdicts").innerHTML = d.verdicts.length ? d.verdicts.map((v) =>
    `${v.verdict} ${v.level}${v.joint ? " " + v.joint : ""} by ${v.who} at ${v.when}`).join("<br>") : "no verdict on this frameset";
}

async function verdict(decision, level) {
  const t = level ? { level, joint: null } : selectionTarget();
  const r = await fetch(url("/api/verdict"), {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ sample: state.sample, level: t.level, joint: t.joint, person: 0, verdict: decision }),
  });
  const body = await r.json();
  if (!r.ok) { status(`verdict not saved: ${body.error}`); return; }
  state.data = body;
  PREFETCHED.delete(state.sample);
  status(`${decision} ${t.level}${t.joint ? " " + t.joint : ""}: saved`);
  drawAll();
  refreshQuery(false);
}

// ---------------------------------------------------------------- filters, list, timeline
function fillFilters() {
  const meta = state.meta;
  const opt = (sel, items) => { for (const [value, text] of items) { const o = document.createElement("option"); o.value = value; o.textContent = text; sel.append(o); } };
  opt($("f-reason"), [["invalid", "any invalid label"], ["any", "any label"], ["valid", "valid labels"],
    ["reviewed", "labels with a verdict"], ...meta.reasons.map((r) => [r, r.replaceAll("_", " ")])]);
  opt($("f-joint"), [["-1", "any"], ...meta.joint_names.map((n, j) => [j, n])]);
  opt($("f-camera"), [["-1", "any"], ...meta.camera_names.map((n, v) => [v, n])]);
  opt($("f-person"), [["-1", "any"], ...meta.persons.map((p) => [p, `person ${p}`])]);
  // a changed filter gives the keyboard back to the page (n / p walk its matches at once)
  $("filters").addEventListener("change", (e) => { if (e.target.blur) e.target.blur(); refreshQuery(true); });
  $("filters").addEventListener("submit", (e) => e.preventDefault());
}

// The URL's hash keeps the frameset and the filter, so a reload comes back to the same place.
function saveHash() {
  const h = new URLSearchParams({ s: state.sample, ...filterParams() });
  history.replaceState(null, "", `#${h}`);
}

function restoreHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  for (const el of $("filters").elements) {
    if (!el.name || !h.has(el.name)) continue;
    if (el.type === "checkbox") el.checked = h.get(el.name) === el.value; else el.value = h.get(el.name);
  }
  return h.has("s") ? +h.get("s") : 0;
}

function filterParams() {
  const f = new FormData($("filters"));
  const params = {};
  for (const [k, v] of f.entries()) params[k] = v;
  return params;
}

function timelineBins() { return Math.max(50, Math.min(2000, Math.floor($("timeline").clientWidth))); }

async function refreshQuery(jump) {
  const params = { ...filterParams(), bins: timelineBins(), limit: 5000 };
  let out = null;
  try { out = await getJSON("/api/query", params); } catch (e) { status(`filter: ${e.message}`); return; }
  if (out === null) { $("matches").textContent = "indexing the shards…"; setTimeout(() => refreshQuery(jump), 300); return; }
  state.list = out.samples; state.total = out.total; state.marks = out.marks;
  saveHash();
  state.listPos = state.list.indexOf(state.sample);
  $("matches").textContent = `${out.total.toLocaleString()} matching framesets` + (out.total > out.samples.length ? ` (first ${out.samples.length} listed)` : "");
  const ol = $("list"); ol.innerHTML = "";
  for (const s of state.list.slice(0, 500)) {
    const li = document.createElement("li"); li.dataset.sample = s; li.textContent = `frameset #${s}`;
    li.addEventListener("click", () => { state.listPos = state.list.indexOf(s); load(s); });
    ol.append(li);
  }
  if (jump && state.list.length) { state.listPos = 0; await load(state.list[0]); } else drawAll();
  refreshSummary();
}

async function refreshSummary() {
  try {
    const out = await getJSON("/api/summary", { bins: timelineBins() });
    if (out === null) { setTimeout(refreshSummary, 300); return; }
    state.summary = out; drawTimeline(); drawHealth();
  } catch (e) { status(`summary: ${e.message}`); }
}

function sizeStrip(canvas) {
  const w = Math.floor(canvas.clientWidth);
  if (canvas.width !== w) canvas.width = w;
  return [canvas.width, canvas.height];
}

function cursorX(W) { return (state.sample + 0.5) / state.meta.num_samples * W; }

// The strips are drawn once per change of the summary / the filter's marks / the width into an
// offscreen layer; a new frameset only copies the layer and draws the cursor.
const LAYERS = {};

function layered(name, canvas, key, paint) {
  const [W, H] = sizeStrip(canvas);
  let layer = LAYERS[name];
  if (!layer || layer.key.some((k, i) => k !== key[i]) || layer.canvas.width !== W) {
    const off = document.createElement("canvas");
    off.width = W; off.height = H;
    paint(off.getContext("2d"), W, H);
    layer = LAYERS[name] = { key, canvas: off };
  }
  const ctx = canvas.getContext("2d");
  ctx.drawImage(layer.canvas, 0, 0);
  ctx.fillStyle = "#fff"; ctx.fillRect(cursorX(W) - 1, 0, 2, H);
}

function drawTimeline() {
  layered("timeline", $("timeline"), [state.summary, state.marks], paintTimeline);
}

function drawHealth() {
  layered("health", $("health"), [state.summary, state.camera], paintHealth);
}

function paintTimeline(ctx, W, H) {
  ctx.fillStyle = "#1b1e22"; ctx.fillRect(0, 0, W, H);
  const s = state.summary;
  if (s) {
    const n = s.bins, bw = W / n;
    ctx.fillStyle = "#2a5"; // acceptance
    s.acceptance.forEach((a, i) => { if (a !== null) ctx.fillRect(i * bw, H - 12 - a * (H - 16), Math.max(1, bw), a * (H - 16)); });
    const res = s.median_residual_px.filter((x) => x !== null).sort((a, b) => a - b);
    const top = res.length ? res[Math.floor(res.length * 0.98)] * 1.2 || 1 : 1;
    ctx.strokeStyle = "#f93"; ctx.lineWidth = 1.5; ctx.beginPath();
    let pen = false;
    s.median_residual_px.forEach((r, i) => {
      if (r === null) { pen = false; return; }
      const x = (i + 0.5) * bw, y = H - 12 - Math.min(1, r / top) * (H - 16);
      if (pen) ctx.lineTo(x, y); else ctx.moveTo(x, y); pen = true;
    });
    ctx.stroke();
    ctx.fillStyle = "#aaa"; ctx.font = "10px sans-serif"; ctx.fillText(`residual scale ${top.toFixed(1)} px`, 4, 10);
  } else { ctx.fillStyle = "#777"; ctx.fillText("indexing the shards…", 6, 14); }
  if (state.marks) {
    const n = state.marks.length, bw = W / n;
    ctx.fillStyle = "#f44";
    state.marks.forEach((m, i) => { if (m > 0) ctx.fillRect(i * bw, H - 10, Math.max(1, bw), 10); });
  }
}

function paintHealth(ctx, W, H) {
  ctx.fillStyle = "#1b1e22"; ctx.fillRect(0, 0, W, H);
  const s = state.summary; if (!s) return;
  const all = s.camera_health.flatMap((c) => c.p90).filter((x) => x !== null).sort((a, b) => a - b);
  const top = all.length ? all[Math.floor(all.length * 0.98)] * 1.1 || 1 : 1;
  const n = s.bins, bw = W / n, y = (r) => H - 4 - Math.min(1, r / top) * (H - 8);
  s.camera_health.forEach((c, v) => {
    const colour = CAMERA_COLOURS[v % CAMERA_COLOURS.length];
    ctx.fillStyle = colour; ctx.globalAlpha = 0.15;
    c.p90.forEach((hi, i) => { const lo = c.p50[i]; if (hi !== null && lo !== null) ctx.fillRect(i * bw, y(hi), Math.max(1, bw), y(lo) - y(hi)); });
    ctx.globalAlpha = 1; ctx.strokeStyle = colour; ctx.lineWidth = v === state.camera ? 2.5 : 1.2; ctx.beginPath();
    let pen = false;
    c.p50.forEach((r, i) => { if (r === null) { pen = false; return; } const x = (i + 0.5) * bw; if (pen) ctx.lineTo(x, y(r)); else ctx.moveTo(x, y(r)); pen = true; });
    ctx.stroke();
    ctx.fillStyle = colour; ctx.font = "10px sans-serif"; ctx.fillText(state.meta.camera_names[v], 4 + v * 60, 11);
  });
  ctx.fillStyle = "#aaa"; ctx.fillText(`0 .. ${top.toFixed(1)} px`, W - 70, 11);
}

function stripClick(e) {
  const r = e.target.getBoundingClientRect();
  load(Math.floor((e.clientX - r.left) / r.width * state.meta.num_samples));
}

// ---------------------------------------------------------------- keyboard
function step(delta) {
  if (!state.list.length) { status("no frameset matches the filter"); return; }
  let pos = state.list.indexOf(state.sample);
  if (pos < 0) {  // not on a match: go to the nearest match in the list's order
    pos = delta > 0 ? -1 : state.list.length;
  }
  pos = Math.max(0, Math.min(state.list.length - 1, pos + delta));
  state.listPos = pos;
  load(state.list[pos]);
}

function onKey(e) {
  if (e.target.closest && e.target.closest("input, select")) return;
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const J = state.meta.joint_names.length, V = state.meta.camera_names.length;
  const key = e.key;
  const actions = {
    ArrowRight: () => load(state.sample + 1), ArrowLeft: () => load(state.sample - 1),
    Home: () => load(0), End: () => load(state.meta.num_samples - 1),
    n: () => step(1), p: () => step(-1),
    c: () => { state.camera = (state.camera + 1) % V; drawAll(); },
    C: () => { state.camera = (state.camera + V - 1) % V; drawAll(); },
    j: () => selectJoint((state.joint + 1) % J), J: () => selectJoint(state.joint <= 0 ? J - 1 : state.joint - 1),
    Escape: () => { state.joint = -1; $("help").hidden = true; drawAll(); },
    a: () => verdict("accept"), r: () => verdict("reject"), x: () => verdict("clear"),
    P: () => verdict("reject", "person"),
    z: () => { state.follow = !state.follow; drawViews(); },
    "?": () => { $("help").hidden = !$("help").hidden; },
  };
  const action = actions[key];
  if (action) { e.preventDefault(); action(); }
}

// ---------------------------------------------------------------- start
async function start() {
  // the label set's metadata comes inline with the page (one round trip less before the first paint)
  const inline = $("meta-json");
  const meta = inline && inline.textContent.trim().startsWith("{") ? JSON.parse(inline.textContent)
    : await getJSON("/api/meta");
  state.meta = meta;
  $("where").textContent = `${meta.root}: ${meta.num_samples.toLocaleString()} framesets x ${meta.camera_names.length} views — ${meta.frames}`;
  buildViews(); fillFilters(); setupScene();
  const first = restoreHash();
  document.addEventListener("keydown", onKey);
  $("timeline").addEventListener("click", stripClick); $("health").addEventListener("click", stripClick);
  $("b-accept").addEventListener("click", () => verdict("accept"));
  $("b-reject").addEventListener("click", () => verdict("reject"));
  $("b-clear").addEventListener("click", () => verdict("clear"));
  $("b-person").addEventListener("click", () => verdict("reject", "person"));
  $("help-button").addEventListener("click", () => { $("help").hidden = !$("help").hidden; });
  window.addEventListener("resize", () => { drawTimeline(); drawHealth(); });
  await load(first);
  refreshQuery(false);
}

start().catch((e) => status(`error: ${e.message}`));
