// The workbench audio player: the audio is fetched once through a short-lived signed
// link, held in memory only, drawn as a waveform, and played with keyboard control.
// There is no download control; the stream itself carries the listener's watermark.
"use strict";
(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  async function postJson(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body || {}),
    });
    if (!response.ok) {
      let message = response.statusText;
      try { message = (await response.json()).error.message; } catch (e) { /* keep status text */ }
      throw new Error(message);
    }
    return response.json();
  }

  function drawWaveform(canvas, samples, position, span) {
    const ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height, mid = h / 2;
    ctx.clearRect(0, 0, w, h);
    if (span) {
      ctx.fillStyle = "rgba(36, 87, 197, 0.15)";
      ctx.fillRect(span[0] * w, 0, (span[1] - span[0]) * w, h);
    }
    ctx.fillStyle = "#5b6475";
    const step = Math.max(1, Math.floor(samples.length / w));
    for (let x = 0; x < w; x++) {
      let lo = 0, hi = 0;
      const start = x * step, end = Math.min(samples.length, start + step);
      for (let i = start; i < end; i++) {
        const v = samples[i];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      ctx.fillRect(x, mid - hi * mid, 1, Math.max(1, (hi - lo) * mid));
    }
    ctx.fillStyle = "#2457c5";
    ctx.fillRect(Math.floor(position * w), 0, 2, h);
  }

  function EarmuffPlayer(options) {
    const audio = options.audio, canvas = options.canvas;
    const playButton = options.play, status = options.status, clock = options.clock;
    let samples = new Float32Array(0), span = null, dragStart = null;

    const fraction = () => (audio.duration ? audio.currentTime / audio.duration : 0);
    const redraw = () => {
      drawWaveform(canvas, samples, fraction(), span);
      if (clock) clock.textContent = `${audio.currentTime.toFixed(1)} / ${(audio.duration || 0).toFixed(1)} s`;
    };

    async function load() {
      status.textContent = "loading…";
      try {
        const grant = await postJson(options.urlEndpoint, options.urlBody);
        const response = await fetch(grant.url, { credentials: "same-origin", cache: "no-store" });
        if (!response.ok) throw new Error(`the audio could not be fetched (${response.status})`);
        const bytes = await response.arrayBuffer();
        const context = new (window.AudioContext || window.webkitAudioContext)();
        const decoded = await context.decodeAudioData(bytes.slice(0));
        samples = decoded.getChannelData(0);
        context.close();
        audio.src = URL.createObjectURL(new Blob([bytes], { type: "audio/wav" }));
        audio.preservesPitch = true;
        audio.addEventListener("loadedmetadata", redraw, { once: true });
        playButton.disabled = false;
        status.textContent = "ready";
        redraw();
      } catch (error) {
        status.textContent = `Audio unavailable: ${error.message}`;
      }
    }

    function toggle() {
      if (audio.paused) audio.play(); else audio.pause();
    }
    function seek(delta) {
      if (!audio.duration) return;
      audio.currentTime = Math.min(audio.duration, Math.max(0, audio.currentTime + delta));
      redraw();
    }
    function setSpeed(rate) {
      audio.playbackRate = rate;
      if (options.speed) options.speed.value = String(rate);
    }

    playButton.addEventListener("click", toggle);
    audio.addEventListener("play", () => { playButton.textContent = "Pause"; tick(); });
    audio.addEventListener("pause", () => { playButton.textContent = "Play"; redraw(); });
    audio.addEventListener("ended", () => { playButton.textContent = "Play"; redraw(); });
    function tick() { redraw(); if (!audio.paused) requestAnimationFrame(tick); }

    if (options.back) options.back.addEventListener("click", () => seek(-2));
    if (options.fwd) options.fwd.addEventListener("click", () => seek(2));
    if (options.speed) options.speed.addEventListener("change", () => setSpeed(parseFloat(options.speed.value)));

    const at = (event) => {
      const box = canvas.getBoundingClientRect();
      return Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
    };
    canvas.addEventListener("mousedown", (event) => { if (event.shiftKey) dragStart = at(event); });
    canvas.addEventListener("mouseup", (event) => {
      const point = at(event);
      if (dragStart !== null && Math.abs(point - dragStart) > 0.005) {
        span = [Math.min(point, dragStart), Math.max(point, dragStart)];
        if (options.onSpan && audio.duration) options.onSpan(span[0] * audio.duration, span[1] * audio.duration);
      } else if (audio.duration) {
        audio.currentTime = point * audio.duration;
      }
      dragStart = null;
      redraw();
    });

    document.addEventListener("keydown", (event) => {
      const typing = ["TEXTAREA", "INPUT", "SELECT"].includes(document.activeElement.tagName);
      if (typing && !(event.ctrlKey || event.altKey)) return;
      const rates = [0.5, 0.75, 1, 1.25, 1.5, 2];
      const index = rates.indexOf(audio.playbackRate);
      if (event.key === " " && !typing) { event.preventDefault(); toggle(); }
      else if (event.key === "ArrowLeft") { event.preventDefault(); seek(-2); }
      else if (event.key === "ArrowRight") { event.preventDefault(); seek(2); }
      else if (event.key === "[") setSpeed(rates[Math.max(0, index - 1)]);
      else if (event.key === "]") setSpeed(rates[Math.min(rates.length - 1, index + 1)]);
    });

    return { load, postJson };
  }

  window.EarmuffPlayer = EarmuffPlayer;
  window.earmuffPostJson = postJson;
})();
