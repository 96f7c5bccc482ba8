// Accessio's web app: the little behaviour pages need, from this file only (the
// Content-Security-Policy allows no inline script). Every text shown is set through
// textContent, never parsed as HTML.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute("content") : "";
}

document.addEventListener("htmx:configRequest", (event) => {
  event.detail.headers["X-CSRF-Token"] = csrfToken();
});

// Dialogs: [data-open=ID] opens one, [data-close] closes its own.
document.addEventListener("click", (event) => {
  const opener = event.target.closest("[data-open]");
  if (opener) {
    const dialog = document.getElementById(opener.dataset.open);
    if (dialog && typeof dialog.showModal === "function") dialog.showModal();
    return;
  }
  const closer = event.target.closest("[data-close]");
  if (closer) {
    const dialog = closer.closest("dialog");
    if (dialog) dialog.close();
  }
});

// A spec file dropped on the upload zone goes into its file input.
document.addEventListener("dragover", (event) => {
  const zone = event.target.closest("[data-drop]");
  if (zone) { event.preventDefault(); zone.classList.add("dragging"); }
});
document.addEventListener("dragleave", (event) => {
  const zone = event.target.closest("[data-drop]");
  if (zone) zone.classList.remove("dragging");
});
document.addEventListener("drop", (event) => {
  const zone = event.target.closest("[data-drop]");
  if (!zone) return;
  event.preventDefault();
  zone.classList.remove("dragging");
  const input = zone.querySelector('input[type="file"]');
  if (input && event.dataTransfer && event.dataTransfer.files.length) {
    input.files = event.dataTransfer.files;
    zone.querySelector("span").textContent = event.dataTransfer.files[0].name;
  }
});
document.addEventListener("change", (event) => {
  const input = event.target;
  if (input.matches('[data-drop] input[type="file"]') && input.files.length) {
    input.closest("[data-drop]").querySelector("span").textContent = input.files[0].name;
  }
  if (input.matches("[data-select-all]")) {
    const form = input.closest("form");
    form.querySelectorAll(`input[type="checkbox"][name="${input.dataset.selectAll}"]`).forEach((box) => {
      box.checked = input.checked;
    });
  }
});

// After an import starts, the dialog closes and the bell opens on its progress.
document.addEventListener("jobs-changed", () => {
  const dialog = document.getElementById("upload-dialog");
  if (dialog && dialog.open) dialog.close();
  const bell = document.getElementById("bell");
  if (bell) bell.open = true;
});

// The embedding map: points from JSON drawn into the SVG; hover names, click opens.
const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d",
  "#ea580c", "#4f46e5", "#0d9488", "#9333ea"];

function drawMap(figure, data) {
  const svg = figure.querySelector("svg");
  const status = figure.querySelector("figcaption");
  const tip = figure.querySelector(".map-tip");
  const legend = figure.querySelector(".legend");
  const points = data.points || [];
  if (!points.length) { status.textContent = data.message || "No vectors to show."; return; }
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
  const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = (x) => 30 + (maxX === minX ? 0.5 : (x - minX) / (maxX - minX)) * 940;
  const sy = (y) => 670 - (maxY === minY ? 0.5 : (y - minY) / (maxY - minY)) * 640;
  const numeric = points.every((p) => p.color === null || typeof p.color === "number");
  const values = [...new Set(points.map((p) => p.color).filter((c) => c !== null))];
  const colours = new Map(values.slice(0, PALETTE.length).map((v, i) => [v, PALETTE[i]]));
  const lo = Math.min(...values), hi = Math.max(...values);
  const colourOf = (c) => {
    if (c === null) return "#9ca3af";
    if (numeric && values.length) { const t = hi === lo ? 0.5 : (c - lo) / (hi - lo); return `hsl(${240 - 240 * t}, 70%, 45%)`; }
    return colours.get(c) || "#6b7280";
  };
  const ns = "http://www.w3.org/2000/svg";
  const radius = points.length > 2000 ? 2.5 : 5;
  for (const p of points) {
    const dot = document.createElementNS(ns, "circle");
    dot.setAttribute("cx", sx(p.x)); dot.setAttribute("cy", sy(p.y)); dot.setAttribute("r", radius);
    dot.setAttribute("fill", colourOf(p.color)); dot.setAttribute("tabindex", "0");
    dot.dataset.item = p.item;
    const title = document.createElementNS(ns, "title");
    title.textContent = p.name;
    dot.appendChild(title);
    dot.addEventListener("mouseenter", () => {
      tip.hidden = false;
      tip.textContent = p.color === null ? p.name : `${p.name} (${p.color})`;
    });
    dot.addEventListener("mouseleave", () => { tip.hidden = true; });
    dot.addEventListener("click", () => { window.location.assign(`/items/${encodeURIComponent(p.item)}`); });
    svg.appendChild(dot);
  }
  if (!numeric) {
    for (const [value, colour] of colours) {
      const entry = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch"; swatch.style.background = colour;
      entry.appendChild(swatch);
      entry.appendChild(document.createTextNode(String(value)));
      legend.appendChild(entry);
    }
  }
  status.textContent = `${points.length} point${points.length === 1 ? "" : "s"} of ${data.total}` +
    (data.method ? ` (${data.method})` : "");
}

document.addEventListener("DOMContentLoaded", () => {
  const figure = document.getElementById("map");
  if (!figure) return;
  fetch(figure.dataset.points, { credentials: "same-origin" })
    .then((response) => response.json())
    .then((data) => drawMap(figure, data))
    .catch(() => { figure.querySelector("figcaption").textContent = "The map could not be loaded."; });
});
