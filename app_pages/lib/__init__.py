"""The app's own helpers, which need a browser session or draw for one: session state and the
sidebar's dataset, this session's runs, the server's jobs, pretrained weights, share links, altair
charts, the background job queue, per-session upload folders.

Pages import these and ``explorer``; ``explorer`` never imports anything here.
"""
