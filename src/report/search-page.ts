/**
 * The page `simclr serve` answers with at "/": search by dropping or picking an image, click a
 * result to search from it, browse near-duplicates, and a 2-D map of the collection (the
 * report's UMAP projection, computed by the server). One HTML document with inline CSS and
 * script, talking only to the server's /api routes and /ort/ (onnxruntime-web, served from the
 * package's own files): it works offline, with no CDN. Text from the index (paths) is set with
 * textContent, never parsed as HTML.
 *
 * A dropped image is embedded in the browser when it can be: the page loads the encoder as
 * ONNX (/api/model.onnx) into onnxruntime-web (WebGPU where present, else WebAssembly),
 * decodes and crops the image on a canvas as the server's loader does (shorter side scaled to
 * the input side, centre crop, pixels / 255), and sends only the embedding to /api/search.
 * The image never leaves the machine. Without the runtime, or with the box unticked, the image
 * is uploaded and embedded by the server. A canvas does not resample as sharp's Lanczos-3
 * does: an image already at the input side embeds exactly as on the server; others differ
 * slightly (docs/search.md).
 */

const STYLE = `
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 0; color: #222; background: #fafafa; }
header { background: #263238; color: #fff; padding: 0.8rem 1.5rem; display: flex; align-items: baseline; gap: 1.5rem; flex-wrap: wrap; }
header h1 { font-size: 1.2rem; margin: 0; }
header .meta { color: #b0bec5; font-size: 0.85rem; }
nav { display: flex; gap: 0.5rem; padding: 0.6rem 1.5rem; border-bottom: 1px solid #ddd; background: #fff; }
nav button { border: 1px solid #ccc; background: #fff; padding: 0.35rem 0.9rem; border-radius: 4px; cursor: pointer; }
nav button.active { background: #263238; color: #fff; border-color: #263238; }
main { padding: 1rem 1.5rem; }
#drop { border: 2px dashed #90a4ae; border-radius: 8px; padding: 1.2rem; text-align: center; background: #fff; color: #555; }
#drop.over { background: #e3f2fd; border-color: #1e88e5; }
#query { display: flex; align-items: center; gap: 1rem; margin: 1rem 0; min-height: 2rem; }
#query img { width: 96px; height: 96px; object-fit: cover; border: 3px solid #263238; image-rendering: pixelated; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(120px, 1fr)); gap: 0.7rem; }
.card { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 0.4rem; cursor: pointer; font-size: 0.75rem; }
.card:hover { border-color: #1e88e5; }
.card img { width: 100%; aspect-ratio: 1; object-fit: cover; display: block; image-rendering: pixelated; }
.card .score { font-weight: bold; }
.card .path { color: #666; overflow-wrap: anywhere; }
.group { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 0.5rem; margin-bottom: 0.7rem; }
.group .thumbs { display: flex; gap: 0.4rem; flex-wrap: wrap; }
.group img { width: 72px; height: 72px; object-fit: cover; cursor: pointer; image-rendering: pixelated; }
#status { color: #b00020; min-height: 1.2rem; }
.where { color: #555; font-size: 0.8rem; margin-top: 0.5rem; }
#map svg { background: #fff; border: 1px solid #ddd; }
#map circle { cursor: pointer; }
.hidden { display: none; }
`;

const SCRIPT = `
const $ = (id) => document.getElementById(id);
const status = (text) => { $("status").textContent = text || ""; };
async function api(url, init) {
  const response = await fetch(url, init);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}
function card(hit, onClick) {
  const div = document.createElement("div");
  div.className = "card";
  div.dataset.id = String(hit.id);
  const img = document.createElement("img");
  img.src = "/api/image/" + hit.id;
  img.alt = hit.path;
  img.loading = "lazy";
  const score = document.createElement("div");
  score.className = "score";
  score.textContent = hit.rank + ". " + hit.score.toFixed(3);
  const path = document.createElement("div");
  path.className = "path";
  path.textContent = hit.path;
  div.append(img, score, path);
  div.addEventListener("click", () => onClick(hit));
  return div;
}
function showResults(querySrc, queryText, results) {
  const q = $("query");
  q.replaceChildren();
  const img = document.createElement("img");
  img.src = querySrc;
  img.alt = "query";
  const label = document.createElement("div");
  label.id = "query-label";
  label.textContent = queryText + " - " + results.length + " nearest by cosine similarity";
  q.append(img, label);
  $("results").replaceChildren(...results.map((h) => card(h, fromId)));
}
async function fromId(hit) {
  status("");
  try {
    const body = await api("/api/neighbors?id=" + hit.id + "&k=" + $("k").value);
    showTab("search");
    showResults("/api/image/" + hit.id, hit.path, body.results);
  } catch (e) { status(e.message); }
}
let inBrowser = null; // { ort, session, provider, side, channels }
async function loadBrowserModel(info) {
  const ort = await import(info.runtime);
  ort.env.wasm.wasmPaths = "/ort/";
  ort.env.wasm.numThreads = 1; // threads need cross-origin isolation; one is enough for one image
  let last = null;
  for (const provider of navigator.gpu ? ["webgpu", "wasm"] : ["wasm"]) {
    try {
      const session = await ort.InferenceSession.create(info.model, { executionProviders: [provider] });
      inBrowser = { ort, session, provider, side: info.side, channels: info.channels };
      $("in-browser").disabled = false;
      $("in-browser").checked = true;
      $("where").textContent = "Queries are embedded in this browser (onnxruntime-web, " + provider + "): only the embedding is sent.";
      return;
    } catch (e) { last = e; }
  }
  throw last;
}
/** The image as the server's loader reads it: shorter side to the input side, centre crop, (1, C, S, S) in [0, 1]. */
async function pixelsOf(file, side, channels) {
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  const canvas = document.createElement("canvas");
  canvas.width = side; canvas.height = side;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  const scale = side / Math.min(bitmap.width, bitmap.height);
  const w = bitmap.width * scale, h = bitmap.height * scale;
  ctx.drawImage(bitmap, (side - w) / 2, (side - h) / 2, w, h);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, side, side).data;
  const plane = side * side, x = new Float32Array(channels * plane);
  for (let i = 0; i < plane; i++) {
    if (channels === 1) x[i] = (rgba[4 * i] + rgba[4 * i + 1] + rgba[4 * i + 2]) / 3 / 255; // exact for gray images
    else for (let c = 0; c < 3; c++) x[c * plane + i] = rgba[4 * i + c] / 255;
  }
  return x;
}
async function embedHere(file) {
  const { ort, session, side, channels, provider } = inBrowser;
  const x = await pixelsOf(file, side, channels);
  const t0 = performance.now();
  const out = await session.run({ input: new ort.Tensor("float32", x, [1, channels, side, side]) });
  const ms = performance.now() - t0;
  const h = Array.from(out.h.data);
  const norm = Math.sqrt(h.reduce((s, v) => s + v * v, 0)) || 1;
  window.simclrLastQuery = { where: "browser", provider, ms, embedding: h.map((v) => v / norm) };
  return { h, ms, provider };
}
async function fromFile(file) {
  status("");
  try {
    let body, where;
    if (inBrowser !== null && $("in-browser").checked) {
      const { h, ms, provider } = await embedHere(file);
      body = await api("/api/search", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ embedding: h, k: Number($("k").value) }) });
      where = "embedded in this browser (" + provider + ", " + ms.toFixed(1) + " ms)";
    } else {
      const form = new FormData();
      form.append("image", file);
      body = await api("/api/search?k=" + $("k").value, { method: "POST", body: form });
      window.simclrLastQuery = { where: "server" };
      where = "uploaded and embedded by the server";
    }
    showResults(URL.createObjectURL(file), file.name + " (" + where + ")", body.results);
  } catch (e) { status(e.message); }
}
async function loadDuplicates() {
  status("");
  try {
    const body = await api("/api/duplicates?threshold=" + $("threshold").value);
    $("dup-count").textContent = body.total + " group(s) at cosine >= " + body.threshold;
    $("groups").replaceChildren(...body.groups.map((g) => {
      const div = document.createElement("div");
      div.className = "group";
      const head = document.createElement("div");
      head.textContent = g.images.length + " images, up to " + g.score.toFixed(4);
      const thumbs = document.createElement("div");
      thumbs.className = "thumbs";
      for (const im of g.images) {
        const img = document.createElement("img");
        img.src = "/api/image/" + im.id;
        img.alt = im.path;
        img.title = im.path;
        img.addEventListener("click", () => fromId({ id: im.id, path: im.path }));
        thumbs.append(img);
      }
      div.append(head, thumbs);
      return div;
    }));
  } catch (e) { status(e.message); }
}
const PALETTE = ["#4e79a7","#f28e2b","#e15759","#76b7b2","#59a14f","#edc948","#b07aa1","#ff9da7","#9c755f","#bab0ac"];
async function loadMap() {
  status("");
  try {
    const { points } = await api("/api/map");
    const size = 560, pad = 12, ns = "http://www.w3.org/2000/svg";
    const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const sx = (x) => pad + ((x - x0) / (x1 - x0 || 1)) * (size - 2 * pad);
    const sy = (y) => pad + ((y - y0) / (y1 - y0 || 1)) * (size - 2 * pad);
    const labels = [...new Set(points.map((p) => p.label))];
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("width", size); svg.setAttribute("height", size);
    for (const p of points) {
      const c = document.createElementNS(ns, "circle");
      c.setAttribute("cx", sx(p.x)); c.setAttribute("cy", sy(p.y)); c.setAttribute("r", 3);
      c.setAttribute("fill", PALETTE[labels.indexOf(p.label) % PALETTE.length]);
      const title = document.createElementNS(ns, "title");
      title.textContent = p.label ? p.label + " (" + p.id + ")" : String(p.id);
      c.append(title);
      c.addEventListener("click", () => fromId({ id: p.id, path: title.textContent }));
      svg.append(c);
    }
    $("map-svg").replaceChildren(svg);
    $("map-legend").replaceChildren(...labels.map((l, i) => {
      const span = document.createElement("span");
      span.style.color = PALETTE[i % PALETTE.length];
      span.textContent = "\\u25CF " + (l || "(top folder)") + "  ";
      return span;
    }));
  } catch (e) { status(e.message); }
}
function showTab(name) {
  for (const t of ["search", "duplicates", "map"]) {
    $("tab-" + t).classList.toggle("active", t === name);
    $(t).classList.toggle("hidden", t !== name);
  }
  if (name === "duplicates" && !$("groups").childElementCount) loadDuplicates();
  if (name === "map" && !$("map-svg").childElementCount) loadMap();
}
for (const t of ["search", "duplicates", "map"]) $("tab-" + t).addEventListener("click", () => showTab(t));
$("file").addEventListener("change", (e) => e.target.files[0] && fromFile(e.target.files[0]));
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); const f = e.dataTransfer.files[0]; if (f) fromFile(f); });
$("dup-go").addEventListener("click", loadDuplicates);
api("/api/health").then((h) => {
  if (h.browser) loadBrowserModel(h.browser).catch((e) => { $("where").textContent = "Queries are uploaded: the browser runtime did not load (" + e.message + ")."; });
  else $("where").textContent = "Queries are uploaded and embedded by the server (onnxruntime-web is not installed there).";
  $("meta").textContent = h.images + " images in " + h.folder + " - " + h.model.arch + (h.model.arch.startsWith("resnet") ? " width " + h.model.width : h.model.width === 1 ? "" : " x" + h.model.width) + (h.approximate ? " - HNSW" : " - exact search");
}).catch((e) => status(e.message));
`;

export function searchPage(): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>simclr search</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>simclr search</h1><span class="meta" id="meta"></span></header>
<nav>
<button id="tab-search" class="active">Search</button>
<button id="tab-duplicates">Duplicates</button>
<button id="tab-map">Map</button>
</nav>
<main>
<div id="status" role="alert"></div>
<section id="search">
<div id="drop">Drop an image here, or <label><input type="file" id="file" accept="image/jpeg,image/png,image/webp"></label>
&nbsp; results: <input type="number" id="k" value="12" min="1" max="100" style="width:4rem">
<div class="where"><label><input type="checkbox" id="in-browser" disabled> embed in this browser</label> <span id="where"></span></div></div>
<div id="query"></div>
<div id="results" class="grid"></div>
</section>
<section id="duplicates" class="hidden">
<p>Images whose representations have a cosine similarity of at least
<input type="number" id="threshold" value="0.95" min="-1" max="1" step="0.01" style="width:5rem">
<button id="dup-go">find</button> <span id="dup-count"></span></p>
<div id="groups"></div>
</section>
<section id="map" class="hidden">
<p>The collection in 2-D (UMAP of the embeddings; colours are top-level folders). Click a point to search from it.</p>
<div id="map-svg"></div>
<div id="map-legend"></div>
</section>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
