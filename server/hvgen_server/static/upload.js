// The viewer's upload page: files or a folder chosen or dropped are sent in
// batches, each one a STOW-RS body (multipart/related of DICOM files) with
// upload progress; the server answers one result a file (uploading.py).
"use strict";

(() => {
  const form = document.getElementById("upload");
  if (!form) return;
  const max = Number(form.dataset.max);
  const batchFiles = Number(form.dataset.batchFiles);
  const batchBytes = Number(form.dataset.batchBytes);
  const start = document.getElementById("upload-start");
  const chosenText = document.getElementById("upload-chosen");
  const progress = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const zone = document.getElementById("drop-zone");
  let chosen = []; // [{file, name}]

  const mib = (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`;

  function choose(entries) {
    chosen = entries;
    const bytes = chosen.reduce((sum, c) => sum + c.file.size, 0);
    chosenText.textContent = chosen.length
      ? `${chosen.length} file${chosen.length === 1 ? "" : "s"} chosen (${mib(bytes)}).`
      : "No files chosen.";
    start.disabled = chosen.length === 0;
  }

  for (const id of ["upload-files", "upload-folder"]) {
    document.getElementById(id).addEventListener("change", (event) => {
      choose(Array.from(event.target.files, (file) => ({ file, name: file.webkitRelativePath || file.name })));
    });
  }

  // A dropped folder is read entry by entry (its files keep their paths).
  function readEntry(entry, into) {
    if (entry.isFile) {
      return new Promise((resolve) => entry.file((file) => { into.push({ file, name: entry.fullPath.replace(/^\//, "") }); resolve(); }, () => resolve()));
    }
    if (!entry.isDirectory) return Promise.resolve();
    const reader = entry.createReader();
    return new Promise((resolve) => {
      const more = () => reader.readEntries(async (entries) => {
        if (!entries.length) return resolve();
        for (const child of entries) await readEntry(child, into);
        more();
      }, () => resolve());
      more();
    });
  }

  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", async (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const found = [];
    const items = Array.from(event.dataTransfer.items || []);
    const entries = items.map((item) => item.webkitGetAsEntry && item.webkitGetAsEntry()).filter(Boolean);
    if (entries.length) {
      for (const entry of entries) await readEntry(entry, found);
    } else {
      for (const file of event.dataTransfer.files) found.push({ file, name: file.name });
    }
    choose(found);
  });

  function batches(files) {
    const out = [];
    let current = [];
    let bytes = 0;
    for (const entry of files) {
      if (current.length && (current.length >= batchFiles || bytes + entry.file.size > batchBytes)) {
        out.push(current);
        current = [];
        bytes = 0;
      }
      current.push(entry);
      bytes += entry.file.size;
    }
    if (current.length) out.push(current);
    return out;
  }

  function body(batch, boundary) {
    const pieces = [];
    for (const entry of batch) {
      pieces.push(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`, entry.file, "\r\n");
    }
    pieces.push(`--${boundary}--\r\n`);
    return new Blob(pieces);
  }

  function send(blob, boundary, onProgress) {
    return new Promise((resolve) => {
      const request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.setRequestHeader("Content-Type", `multipart/related; type="application/dicom"; boundary=${boundary}`);
      request.setRequestHeader("X-HVGen-CSRF", form.dataset.csrf);
      request.responseType = "json";
      request.upload.addEventListener("progress", (event) => onProgress(event.loaded));
      request.addEventListener("load", () => {
        const answer = request.response || {};
        if (request.status === 200 && Array.isArray(answer.files)) resolve({ files: answer.files, studies: answer.studies || [] });
        else resolve({ error: answer.error || `The server answered ${request.status}.` });
      });
      request.addEventListener("error", () => resolve({ error: "The server could not be reached." }));
      request.send(blob);
    });
  }

  function row(name, text, link, kind) {
    const tr = document.createElement("tr");
    tr.className = kind;
    const file = document.createElement("td");
    file.textContent = name;
    const result = document.createElement("td");
    if (link) {
      const a = document.createElement("a");
      a.href = link;
      a.textContent = text;
      result.append(a);
    } else {
      result.textContent = text;
    }
    tr.append(file, result);
    document.getElementById("upload-results").append(tr);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!chosen.length) return;
    start.disabled = true;
    document.getElementById("upload-results").replaceChildren();
    const studyList = document.getElementById("upload-studies");
    studyList.replaceChildren();
    const total = chosen.reduce((sum, c) => sum + c.file.size, 0) || 1;
    let done = 0;
    let stored = 0;
    let failed = 0;
    const studies = new Map();
    progress.hidden = false;
    progress.max = total;
    progress.value = 0;
    const all = batches(chosen);
    for (const [number, batch] of all.entries()) {
      status.textContent = `Sending batch ${number + 1} of ${all.length}…`;
      const boundary = `hvgen-${crypto.getRandomValues(new Uint32Array(4)).join("-")}`;
      const blob = body(batch, boundary);
      const size = batch.reduce((sum, c) => sum + c.file.size, 0);
      let answer;
      if (blob.size > max) {
        answer = { error: `Larger than the ${mib(max)} an upload may be.` };
      } else {
        answer = await send(blob, boundary, (loaded) => { progress.value = done + Math.min(size, loaded * size / blob.size); });
      }
      done += size;
      progress.value = done;
      if (answer.error) {
        for (const entry of batch) row(entry.name, `Not stored: ${answer.error}`, "", "failed");
        failed += batch.length;
        continue;
      }
      for (const study of answer.studies) studies.set(study.uid, study);
      batch.forEach((entry, index) => {
        const result = answer.files[index] || { status: "failed", message: "no answer for this file" };
        if (result.status === "stored") {
          stored += 1;
          row(entry.name, "Stored: open the study", result.link, "stored");
        } else {
          failed += 1;
          row(entry.name, `Not stored: ${result.message}`, "", result.status);
        }
      });
    }
    for (const study of studies.values()) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = study.link;
      a.textContent = `${study.patient || "Unknown patient"} (${study.uid})`;
      li.append(a);
      studyList.append(li);
    }
    document.getElementById("upload-summary").hidden = false;
    status.textContent = `Done: ${stored} file${stored === 1 ? "" : "s"} stored, ${failed} not stored.`;
    form.dataset.done = "true";
    start.disabled = false;
  });
})();
