// The task page: load the audio (after the content warning when there is one), keep the
// lease alive while the reviewer is active, and wire spans and shortcuts to the forms.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const leaseId = document.querySelector('input[name="lease_id"]').value;
  let lastActivity = Date.now();
  ["keydown", "mousedown", "input"].forEach((e) => document.addEventListener(e, () => { lastActivity = Date.now(); }));

  const player = window.EarmuffPlayer({
    audio: $("audio"), canvas: $("waveform"), play: $("play"), back: $("back"), fwd: $("fwd"),
    speed: $("speed"), status: $("audio-status"), clock: $("clock"),
    urlEndpoint: "/api/workbench/audio-url", urlBody: { lease_id: leaseId },
    onSpan: (start, end) => { $("span-start").value = start.toFixed(2); $("span-end").value = end.toFixed(2); },
  });

  // A task whose purpose serves no audio has nothing to load: the page says so instead.
  const silent = $("player-card").dataset.served === "no_audio";
  const warning = $("content-warning");
  if (warning) {
    $("ready").addEventListener("click", () => {
      warning.hidden = true;
      if (!silent) { $("player-card").hidden = false; player.load(); }
    });
  } else if (!silent) {
    player.load();
  }

  async function renew() {
    if (Date.now() - lastActivity > 5 * 60 * 1000) return;
    try {
      const lease = await window.earmuffPostJson("/api/workbench/renew", { lease_id: leaseId });
      const expiry = $("lease-expiry");
      expiry.dateTime = lease.expires_at;
      expiry.textContent = new Date(lease.expires_at).toISOString().slice(11, 19) + " UTC";
    } catch (error) {
      $("audio-status").textContent = `Lease lost: ${error.message}. Reload to take a new task.`;
    }
  }
  setInterval(renew, 60 * 1000);

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey && event.key === "Enter") { event.preventDefault(); $("annotation").requestSubmit(); }
  });
})();
