// Page behaviour kept out of the HTML so the CSP can forbid inline scripts.
"use strict";

// A form marked .js-once disables its buttons on submit: a double tap sends one request.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.classList.contains("js-once")) return;
  if (form.dataset.sent) { event.preventDefault(); return; }
  form.dataset.sent = "1";
  setTimeout(() => form.querySelectorAll("button").forEach((b) => { b.disabled = true; }), 0);
});
