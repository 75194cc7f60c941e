// The study viewer: the arrow keys follow the page's previous and next links.
"use strict";

document.addEventListener("keydown", (event) => {
  if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
  if (event.target instanceof Element && event.target.closest("input, textarea, select, [contenteditable]")) return;
  const which = { ArrowLeft: "prev", ArrowRight: "next" }[event.key];
  if (!which) return;
  const link = document.querySelector(`a[data-key="${which}"]`);
  if (link) {
    event.preventDefault();
    window.location.assign(link.href);
  }
});
