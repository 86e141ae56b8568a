// A second listen: the same player as the task page, fed only the requested span.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const card = $("player-card");
  const player = window.EarmuffPlayer({
    audio: $("audio"), canvas: $("waveform"), play: $("play"), back: $("back"), fwd: $("fwd"),
    speed: $("speed"), status: $("audio-status"), clock: $("clock"),
    urlEndpoint: `/api/second-listens/${card.dataset.request}/audio-url`, urlBody: {},
  });
  const warning = $("content-warning");
  if (warning) {
    $("ready").addEventListener("click", () => { warning.hidden = true; card.hidden = false; player.load(); });
  } else {
    player.load();
  }
})();
