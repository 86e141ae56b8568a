// The safety officer hears the escalated item's anonymized audio with the usual player.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  window.EarmuffPlayer({
    audio: $("audio"), canvas: $("waveform"), play: $("play"), back: $("back"), fwd: $("fwd"),
    speed: $("speed"), status: $("audio-status"), clock: $("clock"),
    urlEndpoint: `/api/safety/cases/${$("player-card").dataset.case}/audio-url`, urlBody: {},
  }).load();
})();
