// Trace a leaked copy: the file goes as the request body, never through a form upload,
// and the answer names the stream its watermark belongs to.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  $("trace-button").addEventListener("click", async () => {
    const file = $("leak-file").files[0];
    const out = $("trace-result");
    if (!file) { out.textContent = "Choose a file first."; return; }
    out.textContent = "reading the mark…";
    const response = await fetch("/api/audit/trace", {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/octet-stream",
        "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content,
      },
      body: file,
    });
    const body = await response.json();
    if (!response.ok) { out.textContent = `Refused: ${body.error.message}`; return; }
    if (!body.found) { out.textContent = "No earmuff mark was found in this file."; return; }
    const what = body.lease ? `lease ${body.lease}` : body.second_listen
      ? `second listen ${body.second_listen}` : `safety case ${body.safety_case}`;
    const how = body.matched_by === "issued codes"
      ? ` Matched among the codes issued (score ${body.match_score.toFixed(1)}).`
      : " Decoded without the list of issued codes.";
    out.textContent = `Mark ${body.code}: streamed to ${body.streamed_to} (${body.role}) under ${what}, `
      + `item ${body.review_item}, at ${body.streamed_at}.${how}`;
  });
})();
