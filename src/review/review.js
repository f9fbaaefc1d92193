// dedupd review page: plain JavaScript, no build step. The live feed listens to the server's events
// and adds a row per new copy. Text is only ever set with textContent, never parsed as HTML.
"use strict";

function cell(row, text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.textContent = text;
  row.appendChild(td);
  return td;
}

function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

function startFeed(table) {
  const body = table.tBodies[0];
  const status = document.getElementById("feed-status");
  const url = table.dataset.events;
  if (!url || !window.EventSource) return;
  const source = new EventSource(url);
  source.addEventListener("open", () => { if (status) status.textContent = "Live: new copies appear at the top."; });
  source.addEventListener("error", () => { if (status) status.textContent = "Reconnecting…"; });
  source.addEventListener("copy", (event) => {
    const copy = JSON.parse(event.data);
    const row = document.createElement("tr");
    row.className = "fresh";
    row.dataset.id = copy.id;
    cell(row, copy.found, "");
    const title = cell(row, "", "");
    title.appendChild(link(copy.compare, copy.title));
    title.appendChild(document.createElement("br"));
    const id = document.createElement("code");
    id.className = "id";
    id.textContent = copy.id;
    title.appendChild(id);
    cell(row, copy.source, "");
    const canonical = cell(row, "", "");
    canonical.appendChild(link(copy.cluster, copy.canonical));
    cell(row, copy.similarity, "number");
    cell(row, copy.rule, "");
    body.insertBefore(row, body.firstChild);
    const empty = document.getElementById("feed-empty");
    if (empty) empty.remove();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const feed = document.getElementById("feed");
  if (feed) startFeed(feed);
});
