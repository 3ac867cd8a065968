"""Hotline's built-in media engine and its pure, I/O-free building blocks.

The building blocks open no sockets and read no clock: time and packets are
passed in by the caller.  Only :mod:`hotline.media.builtin` (the asyncio engine),
:mod:`hotline.media.softphone` (a test/diagnostic RTP phone), :mod:`hotline.media.tts`
(espeak-ng subprocess, prompt cache) and :class:`hotline.media.diskwatch.DiskWatch` do I/O.

Modules:

* :mod:`hotline.media.g711`     -- G.711 mu-law / A-law codecs (numpy, bit-exact).
* :mod:`hotline.media.rtp`      -- RTP packet parse/build (RFC 3550).
* :mod:`hotline.media.rtcp`     -- RTCP SR/RR/SDES/BYE and receiver statistics.
* :mod:`hotline.media.sender`   -- outbound stream state (:class:`RtpSender`).
* :mod:`hotline.media.jitter`   -- playout (jitter) buffer: re-framing of any packet time by
  RTP timestamp into 20 ms frames, concealment.
* :mod:`hotline.media.latching` -- symmetric RTP latching decision logic.
* :mod:`hotline.media.dtmf`     -- RFC 4733 events and in-band Goertzel detection.
* :mod:`hotline.media.wav`      -- WAV reading/resampling, crash-safe streaming writer.
* :mod:`hotline.media.mixer`    -- saturating mixing, mixing matrices, supervisor modes.
* :mod:`hotline.media.tones`    -- tone generation and an echo-path helper.
* :mod:`hotline.media.engine`   -- the abstract :class:`MediaEngine` interface.
* :mod:`hotline.media.dtmfsend` -- tick-driven RFC 4733 transmitter.
* :mod:`hotline.media.builtin`  -- :class:`BuiltinMediaEngine` (asyncio UDP, one 20 ms clock).
* :mod:`hotline.media.softphone` -- minimal asyncio RTP phone for tests, benchmarks, diagnostics.
* :mod:`hotline.media.tts`      -- espeak-ng prompts rendered once into a file cache (does I/O).
* :mod:`hotline.media.diskwatch` -- free-disk alarm for the recordings directory (pure policy
  :func:`classify` + a periodic watcher; the engine refuses new recordings when critical).
"""
